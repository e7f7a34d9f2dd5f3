import { errors } from 'jose'
import { InvalidTokenError } from '../errors.js'

/**
 * The fixed `error_description` of each JWT refusal (RFC 6750 §3.1 invalid_token). Only these
 * strings reach a response: no claim, header value or jose message is ever reflected.
 */
export const jwtDescriptions = Object.freeze({
  malformed: 'The access token is malformed',
  unsupportedAlgorithm: 'The access token algorithm is not accepted',
  criticalHeader: 'The access token has a critical header parameter that is not supported',
  unknownKey: 'The access token signing key is not known',
  badSignature: 'The access token signature is invalid',
  expired: 'The access token has expired',
  notYetValid: 'The access token is not yet valid',
  issuedInFuture: 'The access token was issued in the future',
  tooOld: 'The access token is too old',
  wrongIssuer: 'The access token issuer is not accepted',
  wrongAudience: 'The access token audience is not accepted',
  wrongType: 'The access token type is not accepted',
  missingClaim: 'The access token is missing a required claim',
  revoked: 'The access token has been revoked'
})

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
