// The demo authorization server of the MCP example: panva's oidc-provider (a certified OpenID
// and OAuth server) on 127.0.0.1, with the client credentials grant, resource indicators
// (RFC 8707) and JWT access tokens (RFC 9068), its clients and tokens in memory. A stand-in for
// Keycloak, Auth0 or your own server: the MCP server only knows it by its issuer URL.
import { generateKeyPair, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import type { Configuration, JWK, KoaContextWithOIDC } from 'oidc-provider'
import { withoutExpectedWarnings } from './provider-warnings.js'

const { default: Provider, errors } = await withoutExpectedWarnings(async () => await import('oidc-provider'))

/** The scope that lets a client call the MCP server's tools. */
export const TOOLS_SCOPE = 'mcp:tools'
/** Every scope the demo resources grant; the example's MCP server requires only {@link TOOLS_SCOPE}. */
export const SCOPES = [TOOLS_SCOPE, 'mcp:resources'] as const
/** The algorithm of the access tokens' signatures. */
export const SIGNING_ALGORITHM = 'ES256'
/** Access-token lifetime in seconds. */
export const TOKEN_LIFETIME = 300

/** A confidential client, authenticated with client_secret_basic (RFC 6749 §2.3.1). */
export interface DemoClient {
  readonly id: string
  readonly secret: string
  /** The scopes it may ask for, space-separated. */
  readonly scope: string
}

/** Options of {@link startAuthorizationServer}. */
export interface AuthorizationServerOptions {
  /** The RFC 8707 resource indicators it issues access tokens for, such as the MCP server's URL; any other is `invalid_target`. */
  readonly resources: readonly string[]
  /** Its port on 127.0.0.1 (an http: issuer is for a loopback host only). @default 0 (a free port) */
  readonly port?: number | undefined
}

/** A running authorization server: its issuer, its clients, and how to stop it. */
export interface AuthorizationServer {
  /** Its issuer identifier, `http://127.0.0.1:<port>`: the MCP server discovers the rest from it. */
  readonly issuer: string
  /** `mcp-client` may call the tools; `mcp-reader` may not (it is allowed mcp:resources only). */
  readonly clients: { readonly tools: DemoClient, readonly reader: DemoClient }
  /** Stops listening and closes every connection. */
  close: () => Promise<void>
}

/** A new secret for each start: the demo's clients live as long as the process. */
function secret (): string {
  return randomBytes(24).toString('base64url')
}

/** The signing key, generated at each start: only the JWKS the server publishes knows it. */
async function signingJwk (): Promise<JWK> {
  const { privateKey } = await promisify(generateKeyPair)('ec', { namedCurve: 'P-256' })
  return { ...privateKey.export({ format: 'jwk' }), kid: 'mcp-example-1', alg: SIGNING_ALGORITHM, use: 'sig' } as JWK
}

function configuration (clients: readonly DemoClient[], resources: readonly string[], key: JWK): Configuration {
  return {
    clients: clients.map((client) => ({
      client_id: client.id,
      client_secret: client.secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: client.scope,
      // Checked against the keystore when the client is loaded, though no ID token is ever
      // issued here: the default (RS256) would make the client invalid without an RSA key.
      id_token_signed_response_alg: SIGNING_ALGORITHM
    })),
    jwks: { keys: [key] },
    scopes: [...SCOPES],
    cookies: { keys: [secret()] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No defaultResource: the client names the resource (RFC 8707 §2), or the token is for none of them.
        getResourceServerInfo: (_ctx: KoaContextWithOIDC, resource: string) => {
          if (!resources.includes(resource)) throw new errors.InvalidTarget()
          // RFC 9068: a JWT (typ at+jwt) whose aud is the resource and whose client_id is the client.
          return { scope: SCOPES.join(' '), audience: resource, accessTokenTTL: TOKEN_LIFETIME, accessTokenFormat: 'jwt', jwt: { sign: { alg: SIGNING_ALGORITHM } } }
        }
      }
    },
    ttl: { ClientCredentials: TOKEN_LIFETIME }
  }
}

/**
 * Starts the demo authorization server with two clients whose secrets are new at each start.
 *
 * @example
 * const as = await startAuthorizationServer({ resources: ['http://127.0.0.1:3001/mcp'], port: 9000 })
 * console.log(as.issuer, as.clients.tools.id, as.clients.tools.secret)
 */
export async function startAuthorizationServer (options: AuthorizationServerOptions): Promise<AuthorizationServer> {
  // The port first, so that the issuer (which every token and the metadata name) is known.
  const server = createServer()
  server.listen(options.port ?? 0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const issuer = `http://127.0.0.1:${port}`

  const clients = {
    tools: { id: 'mcp-client', secret: secret(), scope: TOOLS_SCOPE },
    reader: { id: 'mcp-reader', secret: secret(), scope: 'mcp:resources' }
  }
  const config = configuration(Object.values(clients), options.resources, await signingJwk())
  const provider = await withoutExpectedWarnings(() => new Provider(issuer, config))
  server.on('request', provider.callback())

  return {
    issuer,
    clients,
    async close () {
      const closed = once(server, 'close')
      server.close()
      server.closeAllConnections()
      await closed
    }
  }
}
