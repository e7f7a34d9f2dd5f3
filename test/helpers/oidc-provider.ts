// A real authorization server per test: panva's oidc-provider (certified OpenID/OAuth server) on
// 127.0.0.1, started from the test and closed in teardown. Tokens come from it through
// oauth4webapi (the certified client), never built by hand.
import { generateKeyPair, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import * as oauth from 'oauth4webapi'
import type { Adapter, AdapterPayload, Configuration, JWK, KoaContextWithOIDC } from 'oidc-provider'
import type { DpopKey } from './dpop-client.js'

// oidc-provider v9 warns on import under Node.js 20 (it asks for 22 LTS or later; our engines
// allow 20.19, where it works): that one line is dropped, any other warning is printed.
const { default: Provider } = await (async () => {
  const warn = console.warn
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider WARNING: Unsupported runtime.')) return
    warn(...args)
  }
  try {
    return await import('oidc-provider')
  } finally {
    console.warn = warn
  }
})()

/** The part of a tap test these helpers use. */
interface Teardown {
  teardown: (fn: () => unknown) => void
}

/** The resource (RFC 8707) whose access tokens are JWTs (`at+jwt`); its `aud`. */
export const JWT_RESOURCE = 'https://api.example/'
/** Another JWT resource: its tokens are valid, for the wrong audience. */
export const OTHER_RESOURCE = 'https://other.example/'
/** The resource whose access tokens are opaque (introspect them). */
export const OPAQUE_RESOURCE = 'https://opaque.example/'
/** Every scope a resource grants (a token carries those of the request it was asked with). */
export const SCOPES = 'read write admin'

export type SigningAlg = 'RS256' | 'ES256' | 'PS256' | 'EdDSA'
export type ClientName = 'basic' | 'post'

/** A confidential client of the provider, allowed the client credentials grant. */
export interface ClientCredentials {
  readonly id: string
  readonly secret: string
  /** Its token (and introspection, revocation) endpoint authentication. */
  readonly method: 'client_secret_basic' | 'client_secret_post'
}

export interface IssuerOptions {
  /** The issuer's path: `/tenant-b` gives `http://127.0.0.1:<port>/tenant-b`. @default '' */
  readonly path?: string
  /** The signing algorithm of JWT access tokens when a request names none. @default 'RS256' */
  readonly alg?: SigningAlg
  /** The algorithms the provider has a signing key for (`alg` is added). @default ['RS256', 'ES256'] */
  readonly algs?: readonly SigningAlg[]
  /** Listen at once; `false` reserves a port and leaves the issuer down until `start()`. @default true */
  readonly started?: boolean
  /** Access token lifetime in seconds. @default 300 */
  readonly ttl?: number
  /** Serve RFC 8414 metadata at `/.well-known/oauth-authorization-server{path}` (path-inserted). @default true */
  readonly oauthMetadata?: boolean
  /** Serve OpenID Connect discovery at `{issuer}/.well-known/openid-configuration`. @default true */
  readonly openidMetadata?: boolean
  /**
   * DPoP (RFC 9449) at the token endpoint (`features.dPoP`): a token asked for with a proof
   * ({@link Issuer.dpopToken}) is bound to the proof's key, `cnf.jkt` in a JWT access token and
   * in the introspection answer of an opaque one (with `token_type: 'DPoP'`). Proofs may be signed
   * with ES256, PS256, RS256 and Ed25519 keys (`alg` Ed25519 or EdDSA). `false` turns it off.
   * @default the provider's own setting (oidc-provider 9: on, for ES256 and Ed25519 proofs only)
   */
  readonly dpop?: boolean
}

export interface TokenRequest {
  /** RFC 8707 resource indicator (the JWT's `aud`). @default JWT_RESOURCE */
  readonly resource?: string
  /** Space-delimited scopes to ask for (from {@link SCOPES}). @default 'read' */
  readonly scope?: string
  /** Which client asks (and so how it authenticates). @default 'basic' */
  readonly client?: ClientName
  /** Signing algorithm of this JWT access token, one of the issuer's `algs`. @default the issuer's `alg` */
  readonly alg?: SigningAlg
  /** Lifetime of this token in seconds. @default the issuer's `ttl` */
  readonly ttl?: number
  /** Extra claims in the token and its introspection answer (`acr`, `auth_time`, …). */
  readonly claims?: Readonly<Record<string, unknown>>
}

/** A token request with a DPoP proof signed by `key` (oauth4webapi's handle of it). */
export interface DpopTokenRequest extends TokenRequest {
  readonly key: DpopKey
}

/** What {@link Issuer.fault} makes the server answer on a path, in place of the provider. */
export type Fault =
  | { readonly status: number, readonly body?: string, readonly contentType?: string }
  | { readonly delay: number }

export interface Issuer {
  /** The issuer identifier, exactly as the provider puts it in `iss` (no trailing slash). */
  readonly issuer: string
  readonly port: number
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  readonly jwksUri: string
  readonly tokenEndpoint: string
  readonly introspectionEndpoint: string
  readonly revocationEndpoint: string
  /** `{issuer}/.well-known/openid-configuration` */
  readonly openidConfigurationUrl: string
  /** `{origin}/.well-known/oauth-authorization-server{path}` (RFC 8414 §3.1) */
  readonly oauthMetadataUrl: string
  readonly clients: Readonly<Record<ClientName, ClientCredentials>>
  /** The kid each of the issuer's algorithms signs with now. */
  readonly kids: Readonly<Partial<Record<SigningAlg, string>>>
  /** A fresh access token from the client credentials grant. */
  token: (request?: TokenRequest) => Promise<string>
  /** The whole token endpoint response, as oauth4webapi validated it. */
  tokenResponse: (request?: TokenRequest) => Promise<oauth.TokenEndpointResponse>
  /**
   * A fresh access token bound to `request.key` (RFC 9449 §5): the client credentials grant with
   * a DPoP proof. A JWT for {@link JWT_RESOURCE} (the default resource), an opaque token for
   * {@link OPAQUE_RESOURCE}. Needs `startIssuer(t, { dpop: true })`.
   */
  dpopToken: (request: DpopTokenRequest) => Promise<string>
  /** The whole token endpoint response to {@link dpopToken}'s request (`token_type: 'dpop'`). */
  dpopTokenResponse: (request: DpopTokenRequest) => Promise<oauth.TokenEndpointResponse>
  /** RFC 7662 introspection by a client of the provider. */
  introspect: (token: string, client?: ClientName) => Promise<oauth.IntrospectionResponse>
  /** RFC 7009 revocation at the provider. */
  revoke: (token: string, client?: ClientName) => Promise<void>
  /**
   * A new signing key for `alg`, published in the JWKS and used for every later token of that
   * algorithm; the old key stays published unless `retire` is true. Resolves with the new kid.
   */
  rotate: (alg?: SigningAlg, options?: { retire?: boolean }) => Promise<string>
  /** Requests the server received on a path (`/jwks`, `/token`, `/token/introspection`, …), from anyone. */
  hits: (path: string) => number
  /** Answer `fault` on `path` instead of the provider (server down is {@link stop}); `undefined` clears it. */
  fault: (path: string, fault: Fault | undefined) => void
  /** Closes the listening socket and every connection; resolves once closed. */
  stop: () => Promise<void>
  /** Listens again on the same port (tokens issued before are still known). */
  start: () => Promise<void>
  /** Faults of the provider itself (`server_error`: a bug or a bad configuration), not refused requests: a test may assert none. */
  readonly errors: readonly unknown[]
}

const generate = promisify(generateKeyPair)

async function privateJwk (alg: SigningAlg, kid: string): Promise<JWK> {
  const pair = alg === 'ES256'
    ? await generate('ec', { namedCurve: 'P-256' })
    : alg === 'EdDSA'
      ? await generate('ed25519')
      : await generate('rsa', { modulusLength: 2048 })
  return { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } as JWK
}

/** The provider's storage, shared by the instances key rotation makes: tokens outlive a rotation. */
function memoryAdapter (): (model: string) => Adapter {
  const store = new Map<string, { payload: AdapterPayload, expiresAt: number }>()
  return (model) => {
    const key = (id: string) => `${model}:${id}`
    return {
      async upsert (id, payload, expiresIn) {
        store.set(key(id), { payload, expiresAt: expiresIn === undefined ? Infinity : Date.now() + expiresIn * 1000 })
      },
      async find (id) {
        const entry = store.get(key(id))
        if (entry === undefined) return undefined
        if (entry.expiresAt <= Date.now()) {
          store.delete(key(id))
          return undefined
        }
        return entry.payload
      },
      async findByUserCode () { return undefined },
      async findByUid () { return undefined },
      async consume (id) {
        const entry = store.get(key(id))
        if (entry !== undefined) entry.payload.consumed = Math.floor(Date.now() / 1000)
      },
      async destroy (id) {
        store.delete(key(id))
      },
      async revokeByGrantId (grantId) {
        for (const [k, entry] of store) if (entry.payload.grantId === grantId) store.delete(k)
      }
    }
  }
}

/** Per-request token options travel in a header to the provider's callbacks: no shared state, so tokens may be asked for concurrently. */
const OPTIONS_HEADER = 'x-harness-token'

function requestOptions (ctx: KoaContextWithOIDC): TokenRequest {
  const raw = ctx.get(OPTIONS_HEADER)
  return raw === '' ? {} : JSON.parse(raw) as TokenRequest
}

/**
 * Starts oidc-provider on 127.0.0.1 (a free port) and closes it when the test ends. Clients
 * `basic` (client_secret_basic) and `post` (client_secret_post) may use the client credentials
 * grant, introspection and revocation. Every resource gets JWT access tokens, {@link OPAQUE_RESOURCE}
 * opaque ones. Signing keys: one per algorithm of `algs`.
 */
export async function startIssuer (t: Teardown, options: IssuerOptions = {}): Promise<Issuer> {
  const path = options.path ?? ''
  const defaultAlg = options.alg ?? 'RS256'
  const defaultTtl = options.ttl ?? 300

  const server: Server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const origin = `http://127.0.0.1:${port}`
  const issuer = `${origin}${path}`

  const clients: Record<ClientName, ClientCredentials> = {
    basic: { id: 'client-basic', secret: randomBytes(24).toString('base64url'), method: 'client_secret_basic' },
    post: { id: 'client-post', secret: randomBytes(24).toString('base64url'), method: 'client_secret_post' }
  }

  let generation = 0
  const algs = [...new Set([defaultAlg, ...options.algs ?? ['RS256', 'ES256']])]
  const kids: Partial<Record<SigningAlg, string>> = {}
  for (const alg of algs) kids[alg] = `${alg.toLowerCase()}-${generation}`
  // RSA key generation is most of the start-up time: only the algorithms asked for, in parallel.
  const keys: JWK[] = await Promise.all(algs.map((alg) => privateJwk(alg, kids[alg]!)))

  const errors: unknown[] = []
  const adapter = memoryAdapter()

  function configuration (): Configuration {
    return {
      adapter,
      clients: Object.values(clients).map((client) => ({
        client_id: client.id,
        client_secret: client.secret,
        token_endpoint_auth_method: client.method,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: SCOPES,
        // Checked against the keystore when the client is loaded, though no ID token is ever
        // issued here: the default (RS256) would make the client invalid on an issuer without an RSA key.
        id_token_signed_response_alg: defaultAlg
      })),
      jwks: { keys: [...keys] },
      // Client credentials tokens have no account; none is ever looked up.
      findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
      cookies: { keys: ['interop-tests-only'] },
      scopes: SCOPES.split(' '),
      ...(options.dpop === true
        ? { enabledJWA: { dPoPSigningAlgValues: ['ES256', 'PS256', 'RS256', 'Ed25519', 'EdDSA'] } }
        : {}),
      features: {
        ...(options.dpop === undefined ? {} : { dPoP: { enabled: options.dpop } }),
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: true, allowedPolicy: async () => true },
        revocation: { enabled: true, allowedPolicy: async () => true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => JWT_RESOURCE,
          useGrantedResource: () => false,
          getResourceServerInfo: (ctx, resource) => {
            const asked = requestOptions(ctx)
            const alg = asked.alg ?? defaultAlg
            const common = { scope: SCOPES, audience: resource, accessTokenTTL: asked.ttl ?? defaultTtl }
            return resource === OPAQUE_RESOURCE
              ? { ...common, accessTokenFormat: 'opaque' }
              : { ...common, accessTokenFormat: 'jwt', jwt: { sign: { alg, kid: kids[alg] } } }
          }
        }
      },
      extraTokenClaims: (ctx) => requestOptions(ctx).claims as Record<string, unknown> | undefined,
      ttl: {
        AccessToken: (ctx) => requestOptions(ctx).ttl ?? defaultTtl,
        ClientCredentials: (ctx) => requestOptions(ctx).ttl ?? defaultTtl
      },
      renderError: (ctx, out) => { ctx.body = out }
    }
  }

  function build (): (req: IncomingMessage, res: ServerResponse) => void {
    const provider = new Provider(issuer, configuration())
    // Koa would print what it could not handle: kept for the test to assert instead.
    provider.silent = true
    provider.on('server_error', (_ctx, err) => { errors.push(err) })
    return provider.callback()
  }

  let handle = build()
  const hitCounts = new Map<string, number>()
  const faults = new Map<string, Fault>()
  const oauthMetadataPath = `/.well-known/oauth-authorization-server${path}`
  const openidMetadataPath = '/.well-known/openid-configuration'

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', origin)
    let local = url.pathname
    if (local === oauthMetadataPath) {
      if (options.oauthMetadata === false) return notFound(res)
      // oidc-provider serves one metadata document; RFC 8414's is the same object here.
      local = openidMetadataPath
    } else if (local.startsWith(`${path}/`)) {
      local = local.slice(path.length)
      if (local === openidMetadataPath && options.openidMetadata === false) return notFound(res)
    } else {
      return notFound(res)
    }
    hitCounts.set(local, (hitCounts.get(local) ?? 0) + 1)
    const fault = faults.get(local)
    if (fault !== undefined) {
      if ('delay' in fault) {
        const timer = setTimeout(() => { answer(req, res, local, url.search) }, fault.delay)
        res.once('close', () => clearTimeout(timer))
        return
      }
      res.writeHead(fault.status, { 'content-type': fault.contentType ?? 'text/plain' }).end(fault.body ?? '')
      return
    }
    answer(req, res, local, url.search)
  })

  function answer (req: IncomingMessage, res: ServerResponse, local: string, search: string): void {
    // Mounted at the issuer's path: the provider finds its mount path from originalUrl.
    Object.assign(req, { originalUrl: `${path}${local}${search}`, url: `${local}${search}` })
    handle(req, res)
  }

  let listening = true
  async function stop (): Promise<void> {
    if (!listening) return
    listening = false
    const closed = once(server, 'close')
    server.close()
    server.closeAllConnections()
    await closed
  }
  async function start (): Promise<void> {
    if (listening) return
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    listening = true
  }
  t.teardown(stop)
  if (options.started === false) await stop()

  const insecure = { [oauth.allowInsecureRequests]: true } as const
  let metadata: oauth.AuthorizationServer | undefined
  async function as (): Promise<oauth.AuthorizationServer> {
    if (metadata === undefined) {
      const issuerUrl = new URL(issuer)
      metadata = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { algorithm: 'oidc', ...insecure }))
    }
    return metadata
  }
  function clientAuth (name: ClientName): [oauth.Client, oauth.ClientAuth] {
    const client = clients[name]
    return [{ client_id: client.id }, client.method === 'client_secret_basic' ? oauth.ClientSecretBasic(client.secret) : oauth.ClientSecretPost(client.secret)]
  }

  async function tokenResponse (request: TokenRequest = {}, key?: DpopKey): Promise<oauth.TokenEndpointResponse> {
    if (request.alg !== undefined && !algs.includes(request.alg)) throw new Error(`this issuer has no ${request.alg} key: list it in startIssuer's algs`)
    const server = await as()
    const [client, auth] = clientAuth(request.client ?? 'basic')
    const parameters = { resource: request.resource ?? JWT_RESOURCE, scope: request.scope ?? 'read' }
    const headers = { [OPTIONS_HEADER]: JSON.stringify({ alg: request.alg, ttl: request.ttl, claims: request.claims }) }
    const dpop = key === undefined ? {} : { DPoP: key.handle }
    const response = await oauth.clientCredentialsGrantRequest(server, client, auth, parameters, { headers, ...dpop, ...insecure })
    return await oauth.processClientCredentialsResponse(server, client, response)
  }

  async function dpopTokenResponse ({ key, ...request }: DpopTokenRequest): Promise<oauth.TokenEndpointResponse> {
    if (options.dpop !== true) throw new Error('start the issuer with { dpop: true } to get DPoP-bound tokens')
    const answer = await tokenResponse(request, key)
    // The provider binds a token only to a proof it verified; an unbound answer is a harness bug.
    if (answer.token_type !== 'dpop') throw new Error(`the provider issued a ${answer.token_type} token, not a DPoP-bound one`)
    return answer
  }

  return {
    issuer,
    port,
    origin,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint: `${issuer}/token`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    revocationEndpoint: `${issuer}/token/revocation`,
    openidConfigurationUrl: `${issuer}${openidMetadataPath}`,
    oauthMetadataUrl: `${origin}${oauthMetadataPath}`,
    clients,
    kids,
    errors,
    tokenResponse: async (request) => await tokenResponse(request),
    token: async (request) => (await tokenResponse(request)).access_token,
    dpopTokenResponse,
    dpopToken: async (request) => (await dpopTokenResponse(request)).access_token,
    async introspect (token, name = 'basic') {
      const server = await as()
      const [client, auth] = clientAuth(name)
      return await oauth.processIntrospectionResponse(server, client, await oauth.introspectionRequest(server, client, auth, token, insecure))
    },
    async revoke (token, name = 'basic') {
      const server = await as()
      const [client, auth] = clientAuth(name)
      await oauth.processRevocationResponse(await oauth.revocationRequest(server, client, auth, token, insecure))
    },
    async rotate (alg = defaultAlg, { retire = false } = {}) {
      if (!algs.includes(alg)) throw new Error(`this issuer has no ${alg} key: list it in startIssuer's algs`)
      generation++
      const kid = `${alg.toLowerCase()}-${generation}`
      const retired = kids[alg]
      const fresh = await privateJwk(alg, kid)
      const kept = retire ? keys.filter((key) => key.kid !== retired) : keys
      keys.splice(0, keys.length, fresh, ...kept)
      kids[alg] = kid
      // The keystore is fixed when a provider is made: a new one (same storage, same port) takes over.
      handle = build()
      return kid
    },
    hits: (at) => hitCounts.get(at) ?? 0,
    fault (at, fault) {
      if (fault === undefined) faults.delete(at)
      else faults.set(at, fault)
    },
    stop,
    start
  }
}

function notFound (res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
}
