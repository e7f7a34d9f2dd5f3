import type { FastifyRequest } from 'fastify'
import { descriptions } from '../errors.js'
import { DpopCredential, Malformed, rawHeader, REPEATED, type Extractor } from '../credential.js'

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
// RFC 9449 §7.1's token68 (RFC 9110 §11.2) is the same grammar.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const malformed = new Malformed(descriptions.malformedAuthorization)
const duplicate = new Malformed(descriptions.duplicateAuthorization)
const tooLong = new Malformed(descriptions.credentialTooLong)
const duplicateProof = new Malformed(descriptions.duplicateProof, true)
const proofWithoutDpopToken = new Malformed(descriptions.proofWithoutDpopToken, true)

/**
 * Does this Authorization value's auth-scheme equal `lowerName` (any letter case)? Returns the
 * scheme's length, or 0.
 */
function authScheme (header: string, lowerName: string): number {
  const length = lowerName.length
  if (header.length < length) return 0
  // In any letter case, without a lower-cased copy: OR-ing 0x20 maps A-Z to a-z and maps no
  // other character onto a lower-case letter.
  for (let i = 0; i < length; i++) {
    if ((header.charCodeAt(i) | 0x20) !== lowerName.charCodeAt(i)) return 0
  }
  if (header.length === length) return length
  const next = header.charCodeAt(length)
  // RFC 9110 §11.4: the scheme ends at SP; a tab or other whitespace there is a malformed
  // credential of this scheme rather than some other scheme called "Bearer\t…".
  return next === 0x20 || next === 0x09 || next === 0x0b || next === 0x0c || next === 0x0d || next === 0x0a ? length : 0
}

/** The token after an auth-scheme of `start` characters, or why it is unusable. */
function tokenAfter (header: string, start: number, maxTokenLength: number): string | Malformed {
  let at = start
  while (header.charCodeAt(at) === 0x20) at++
  if (at === start) return malformed
  const token = header.slice(at)
  if (token.length > maxTokenLength) return tooLong
  return B64TOKEN.test(token) ? token : malformed
}

/** Which presentations a route's bearer schemes accept at the Authorization header. */
export interface Presentations {
  /** `Bearer` (RFC 6750 §2.1). */
  readonly bearer: boolean
  /** `DPoP` with a `DPoP` proof header (RFC 9449 §7.1). */
  readonly dpop: boolean
}

/**
 * Finds `Authorization: Bearer <b64token>` and, when DPoP is accepted, `Authorization: DPoP
 * <token68>` with the `DPoP` header, refusing what RFC 6750 §2.1 and RFC 9449 §4.3 do not allow.
 * A presentation the route does not accept is no credential (the 401 offers those it does).
 */
export function bearerExtractor (maxTokenLength: number, accepts: Presentations): Extractor {
  const { bearer, dpop } = accepts
  return function extractBearer (request: FastifyRequest) {
    const header = rawHeader(request, 'authorization')
    const proof = dpop ? rawHeader(request, 'dpop') : undefined
    if (proof === REPEATED) return duplicateProof
    if (header === REPEATED) return duplicate
    if (header !== undefined) {
      const dpopLength = dpop ? authScheme(header, 'dpop') : 0
      if (dpopLength !== 0) {
        const token = tokenAfter(header, dpopLength, maxTokenLength)
        return token instanceof Malformed ? token : new DpopCredential(token, proof)
      }
      if (bearer) {
        const bearerLength = authScheme(header, 'bearer')
        if (bearerLength !== 0) return proof === undefined ? tokenAfter(header, bearerLength, maxTokenLength) : proofWithoutDpopToken
      }
    }
    // RFC 9449 §7.1: a proof is sent with a DPoP access token, never alone or with another scheme's.
    return proof === undefined ? undefined : proofWithoutDpopToken
  }
}

/** Could a request present this token as a bearer credential? */
export function isBearerToken (token: string): boolean {
  return B64TOKEN.test(token)
}
