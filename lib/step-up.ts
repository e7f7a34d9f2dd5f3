/**
 * Step-up authentication (RFC 9470): a route may require how, and how recently, the user
 * authenticated (`config.auth.acr`, `config.auth.maxAge`), read from the verified token's `acr`
 * and `auth_time` claims (RFC 9470 §6.1: JWT access tokens, RFC 9068 §2.2.1; §6.2: introspection
 * responses). A token that falls short gets 401 `insufficient_user_authentication` with the
 * route's requirements, so the client can re-authenticate and retry.
 */

/**
 * The leeway for `auth_time`, in seconds, for schemes that have no `clockTolerance` of their
 * own: the JWT verifier's default (lib/verifiers/jwt-config.ts), so a JWT scheme left at its
 * default and an introspection scheme judge time alike.
 */
export const DEFAULT_CLOCK_TOLERANCE = 30

/** A route's step-up requirements, resolved once when the route is declared. */
export interface StepUp {
  /** Accepted `acr` values, in the route's order of preference; `undefined`: any. */
  readonly acr: readonly string[] | undefined
  /** Largest age of `auth_time`, in seconds; `undefined`: any. */
  readonly maxAge: number | undefined
  /**
   * The 401 header value by the challenge the user was identified under (a scheme's, or its
   * DPoP one): that challenge carries the error and the requirements, the route's other
   * challenges are offered plain, each distinct one once.
   */
  readonly challenges: ReadonlyMap<string, string | readonly string[]>
}

/**
 * Does the verified token meet the route's requirements? Fail closed: no claims, an `acr` that
 * is not one of the accepted strings, an `auth_time` that is not a number, lies beyond the
 * tolerance in the future, or is older than `maxAge` (plus the tolerance) all answer `false`.
 * Allocates nothing.
 */
export function authenticatedEnough (stepUp: StepUp, claims: Readonly<Record<string, unknown>> | undefined, clockTolerance: number): boolean {
  if (claims === undefined) return false
  if (stepUp.acr !== undefined) {
    const acr = claims.acr
    // Compared exactly (OpenID Connect Core §2: acr is a case-sensitive string).
    if (typeof acr !== 'string' || !stepUp.acr.includes(acr)) return false
  }
  if (stepUp.maxAge !== undefined) {
    const authTime = claims.auth_time
    if (typeof authTime !== 'number') return false
    const now = Date.now() / 1000
    // Not in the future (that proves nothing about recency) and recent enough. Written so that
    // NaN fails both; JSON's 1e400 (Infinity) fails the first, -1e400 the second.
    if (!(authTime <= now + clockTolerance && now - authTime <= stepUp.maxAge + clockTolerance)) return false
  }
  return true
}
