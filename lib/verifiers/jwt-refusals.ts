import { errors } from 'jose'
import { InvalidTokenError, jwtDescriptions } from '../errors.js'

export { jwtDescriptions }

/** jose's claim failures, as `${reason}:${claim}`; any other missing claim or wrongly typed claim falls through. */
const claimFailures: Readonly<Record<string, string>> = Object.freeze({
  'check_failed:typ': jwtDescriptions.wrongType,
  'check_failed:iss': jwtDescriptions.wrongIssuer,
  'check_failed:aud': jwtDescriptions.wrongAudience,
  'check_failed:nbf': jwtDescriptions.notYetValid,
  'check_failed:iat': jwtDescriptions.issuedInFuture,
  'missing:iss': jwtDescriptions.wrongIssuer,
  'missing:aud': jwtDescriptions.wrongAudience
})

function describe (err: Error): string {
  if (err instanceof errors.JWTClaimValidationFailed) {
    return claimFailures[`${err.reason}:${err.claim}`] ?? (err.reason === 'missing' ? jwtDescriptions.missingClaim : jwtDescriptions.malformed)
  }
  // Expired by exp, or by iat older than maxTokenAge.
  if (err instanceof errors.JWTExpired) return err.claim === 'exp' ? jwtDescriptions.expired : jwtDescriptions.tooOld
  if (err instanceof errors.JWSSignatureVerificationFailed) return jwtDescriptions.badSignature
  if (err instanceof errors.JOSEAlgNotAllowed) return jwtDescriptions.unsupportedAlgorithm
  // Every configured algorithm is supported and key import errors are wrapped before they get
  // here, so jose's "not supported" can only be about a crit extension (RFC 7515 §4.1.11).
  if (err instanceof errors.JOSENotSupported) return jwtDescriptions.criticalHeader
  // JWSInvalid, JWTInvalid: not a compact JWS, bad base64url or JSON, a claims set that is not an object...
  return jwtDescriptions.malformed
}

/**
 * What jwtVerify threw, as this plugin's refusal. Key resolvers wrap their own jose errors,
 * so a jose error here is about the token: an {@link InvalidTokenError} with a fixed
 * description. Anything else (ours, or a fault the core turns into a 500) passes through.
 */
export function toRefusal (err: unknown): unknown {
  return err instanceof errors.JOSEError ? new InvalidTokenError(describe(err)) : err
}
