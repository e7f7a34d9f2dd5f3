/**
 * WWW-Authenticate values (RFC 9110 §11.6.1, RFC 6750 §3). Every value is built from
 * configuration and fixed descriptions only, never from request bytes.
 */

/** RFC 6750 §3 error codes, RFC 9470 §3's and RFC 9449 §7.1's, §9's. */
export type ChallengeError = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'insufficient_user_authentication' | 'invalid_dpop_proof' | 'use_dpop_nonce'

/**
 * RFC 9728 §5.1: the `resource_metadata` parameter of a bearer or DPoP challenge, `''` without
 * `protectedResource`. The URL was parsed and serialized at boot: it holds no quote or backslash.
 */
export function resourceMetadataParam (metadataUrl: string | undefined): string {
  return metadataUrl === undefined ? '' : `, resource_metadata="${metadataUrl}"`
}

/**
 * The challenge a scheme sends with no error attribute, e.g. `Bearer realm="api"`; with
 * `protectedResource`, a bearer one also says where the resource's metadata is.
 */
export function baseChallenge (scheme: { type: 'bearer' } | { type: 'apiKey', in: string, name: string }, realm: string, metadataUrl?: string): string {
  if (scheme.type === 'bearer') return `Bearer realm="${realm}"${resourceMetadataParam(metadataUrl)}`
  // No registered auth-scheme exists for API keys; RFC 9110 still wants a challenge on every
  // 401, so name the scheme and say where the key goes.
  return `ApiKey realm="${realm}", in="${scheme.in}", name="${scheme.name}"`
}

/** A base challenge with RFC 6750 §3 error attributes appended. */
export function errorChallenge (base: string, error: ChallengeError, description: string, scope?: string): string {
  const value = `${base}, error="${error}", error_description="${description}"`
  return scope === undefined ? value : `${value}, scope="${scope}"`
}

/**
 * RFC 9470 §3: a base challenge with `insufficient_user_authentication` and the route's
 * requirements: `acr_values` (space-separated, in the route's order of preference) and/or
 * `max_age` (seconds). Both come from the route's declaration, checked to be safe in a
 * quoted-string.
 */
export function stepUpChallenge (base: string, description: string, acr: readonly string[] | undefined, maxAge: number | undefined): string {
  let value = errorChallenge(base, 'insufficient_user_authentication', description)
  if (acr !== undefined) value += `, acr_values="${acr.join(' ')}"`
  if (maxAge !== undefined) value += `, max_age="${maxAge}"`
  return value
}
