/**
 * `mcpAuthInfo`: the verified token on `request.raw.auth`, in the shape the MCP TypeScript SDK's
 * Streamable HTTP transport reads from the Node request it is handed and gives tool handlers as
 * `extra.authInfo`. Built from what verification found, never from what the request carries.
 */
import type { Verified } from './verifiers/verifier.js'
import type { McpAuthInfo } from './types.js'

/** What a route needs to build it: the resource identifier the token may name, if any. */
export interface McpContext {
  readonly resource: string | undefined
}

/** The Node request as the MCP SDK's transport reads it (not declared on IncomingMessage: the SDK types it itself). */
export interface WithMcpAuth {
  auth?: McpAuthInfo | undefined
}

function stringClaim (claims: Readonly<Record<string, unknown>> | undefined, name: string): string | undefined {
  const value = claims?.[name]
  return typeof value === 'string' ? value : undefined
}

/** The {@link McpAuthInfo} of a verified token; frozen, with a URL of its own. */
export function mcpAuthInfo (context: McpContext, token: string, verified: Verified): McpAuthInfo {
  const { claims, auth } = verified
  const extra: { -readonly [K in keyof McpAuthInfo['extra']]: McpAuthInfo['extra'][K] } = { scheme: auth.scheme, user: verified.user }
  if (claims !== undefined) extra.claims = claims
  if (auth.dpop !== undefined) extra.dpop = auth.dpop
  const info: { -readonly [K in keyof McpAuthInfo]: McpAuthInfo[K] } = {
    token,
    clientId: stringClaim(claims, 'client_id') ?? stringClaim(claims, 'azp') ?? '',
    // Frozen: typed as the SDK's mutable array only so that it can be handed on as an AuthInfo.
    scopes: verified.scopes as string[],
    extra: Object.freeze(extra)
  }
  const exp = claims?.exp
  if (typeof exp === 'number') info.expiresAt = exp
  const aud = claims?.aud
  const { resource } = context
  // A URL is mutable whatever freezing does: a new one per request, so no handler can change another's.
  if (resource !== undefined && (aud === resource || (Array.isArray(aud) && aud.includes(resource)))) info.resource = new URL(resource)
  return Object.freeze(info)
}
