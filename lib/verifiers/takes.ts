/**
 * Which credentials a verifier takes, decided without verifying: when several schemes read the
 * same place (two bearer schemes on one route), the credential is offered to them in order and
 * each is skipped unless its verifier takes the credential, so a token pays for at most one
 * full verification on the happy path and a JWT never reaches a token store.
 */

/** RFC 7515 §7.1: three base64url segments, the payload not empty. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** A pre-check: may this scheme's verifier be asked about the credential? */
export type Takes = (token: string) => boolean

/** Does the credential have the form of a compact JWS (a JWT)? */
export function isCompactJws (token: string): boolean {
  return COMPACT_JWS.test(token)
}

/** The unverified `iss` of a compact JWS, or `undefined` when its payload is no JSON object with a string `iss`. */
export function unverifiedIssuer (token: string): string | undefined {
  const start = token.indexOf('.') + 1
  const payload = token.slice(start, token.indexOf('.', start))
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    const iss = typeof claims === 'object' && claims !== null ? (claims as { iss?: unknown }).iss : undefined
    return typeof iss === 'string' ? iss : undefined
  } catch {
    return undefined
  }
}

/**
 * A JWT scheme takes compact JWS tokens whose unverified `iss` is one it trusts. Nothing here is
 * trusted: the verifier checks the signature and every claim again.
 */
export function jwtTakes (issuers: readonly string[]): Takes {
  const trusted = new Set(issuers)
  return function takesJwt (token) {
    if (!isCompactJws(token)) return false
    const iss = unverifiedIssuer(token)
    return iss !== undefined && trusted.has(iss)
  }
}

/** A token store or introspection scheme takes what is not a JWT. */
export function takesOpaque (token: string): boolean {
  return !isCompactJws(token)
}
