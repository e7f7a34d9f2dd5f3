import { isIPv6 } from 'node:net'
import type { AuthorizationServer } from './authorization-server.js'

type Env = Readonly<Record<string, string | undefined>>

/** What `npm run example:mcp` takes from its environment. */
export interface McpStartConfig {
  /** HOST: where the MCP server listens. */
  readonly host: string
  /** MCP_PORT: the MCP server's port. */
  readonly port: number
  /** AS_PORT: the demo authorization server's port on 127.0.0.1 (without ISSUER). */
  readonly asPort: number
  /** ISSUER: an authorization server of your own (Keycloak, …) instead of the demo one. */
  readonly issuer: string | undefined
  /** ALGORITHMS: the access tokens' signing algorithms, comma-separated. */
  readonly algorithms: readonly string[] | undefined
  /** PUBLIC_ORIGIN: the origin clients reach the MCP server at, behind a proxy. */
  readonly publicOrigin: string | undefined
}

/** An environment variable, with empty counting as unset. */
function read (env: Env, name: string): string | undefined {
  const value = env[name]
  return value === '' ? undefined : value
}

function port (env: Env, name: string, fallback: number): number {
  const value = read(env, name) ?? String(fallback)
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new RangeError(`${name} must be an integer from 0 to 65535`)
  return Number(value)
}

/**
 * Reads HOST (default 127.0.0.1), MCP_PORT (default 3001), AS_PORT (default 9000), ISSUER,
 * ALGORITHMS and PUBLIC_ORIGIN. Empty counts as unset.
 */
export function readMcpConfig (env: Env): McpStartConfig {
  const algorithms = read(env, 'ALGORITHMS')?.split(',').map((alg) => alg.trim()).filter((alg) => alg !== '')
  return {
    host: read(env, 'HOST') ?? '127.0.0.1',
    port: port(env, 'MCP_PORT', 3001),
    asPort: port(env, 'AS_PORT', 9000),
    issuer: read(env, 'ISSUER'),
    algorithms: algorithms?.length === 0 ? undefined : algorithms,
    publicOrigin: read(env, 'PUBLIC_ORIGIN')
  }
}

/** The http: origin of a listening address (an IPv6 address in brackets, RFC 3986 §3.2.2). */
export function httpOrigin (host: string, port: number): string {
  return `http://${isIPv6(host) ? `[${host}]` : host}:${port}`
}

/** The URL of a resource's metadata: `/.well-known/oauth-protected-resource` inserted before its path (RFC 9728 §3.1), such as /mcp. */
export function metadataUrl (resource: string): string {
  const url = new URL(resource)
  return `${url.origin}/.well-known/oauth-protected-resource${url.pathname}`
}

/** What the client script takes from its environment (the names of the SDK's own client credentials example). */
export interface McpClientConfig {
  /** MCP_SERVER_URL: the MCP endpoint. @default http://127.0.0.1:3001/mcp */
  readonly serverUrl: URL
  /** MCP_CLIENT_ID */
  readonly clientId: string
  /** MCP_CLIENT_SECRET */
  readonly clientSecret: string
  /** MCP_EXPECTED_ISSUER: the authorization server the credentials are for; they are sent to no other. @default http://127.0.0.1:9000 */
  readonly expectedIssuer: string
  /** MCP_SCOPE @default mcp:tools */
  readonly scope: string
}

/** Reads the client script's configuration; MCP_CLIENT_ID and MCP_CLIENT_SECRET are required. */
export function readClientConfig (env: Env): McpClientConfig {
  const clientId = read(env, 'MCP_CLIENT_ID')
  const clientSecret = read(env, 'MCP_CLIENT_SECRET')
  if (clientId === undefined || clientSecret === undefined) {
    throw new RangeError('MCP_CLIENT_ID and MCP_CLIENT_SECRET are required: the client id and secret `npm run example:mcp` prints')
  }
  return {
    serverUrl: new URL(read(env, 'MCP_SERVER_URL') ?? 'http://127.0.0.1:3001/mcp'),
    clientId,
    clientSecret,
    expectedIssuer: read(env, 'MCP_EXPECTED_ISSUER') ?? 'http://127.0.0.1:9000',
    scope: read(env, 'MCP_SCOPE') ?? 'mcp:tools'
  }
}

/** What the entry point prints once both servers listen. `demo`: the demo authorization server's clients, to log in with. */
export function mcpBanner (resource: string, issuer: string, demo?: AuthorizationServer['clients']): string {
  const lines = [
    `MCP server listening on ${resource}`,
    `Protected resource metadata: ${metadataUrl(resource)}`
  ]
  if (demo === undefined) {
    lines.push(`Authorization server: ${issuer} (its access tokens must name ${resource} in aud, and mcp:tools in scope)`)
  } else {
    lines.push(`Demo authorization server: ${issuer}`, 'Clients (client credentials grant, client_secret_basic):')
    for (const client of [demo.tools, demo.reader]) lines.push(`  ${client.id} / ${client.secret}  scope: ${client.scope}`)
    lines.push('Try it:', `  MCP_SERVER_URL=${resource} MCP_EXPECTED_ISSUER=${issuer} MCP_CLIENT_ID=${demo.tools.id} MCP_CLIENT_SECRET=${demo.tools.secret} npm run example:mcp:client`)
  }
  return lines.join('\n') + '\n'
}
