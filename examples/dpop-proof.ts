import { hash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { calculateJwkThumbprint, EmbeddedJWK, errors, jwtVerify, type JWK } from 'jose'

/** The DPoP proof algorithms POST /token accepts: asymmetric only (RFC 9449 §4.2), as the resource routes do. */
export const DPOP_ALGORITHMS: readonly string[] = Object.freeze(['ES256', 'PS256', 'EdDSA', 'RS256'])
/** Seconds a proof's `iat` may lie in the past. */
export const PROOF_MAX_AGE = 60
/** Seconds of clock skew allowed either side of the window. */
export const PROOF_CLOCK_TOLERANCE = 5

/** What the token endpoint needs of a store to record proof ids: {@link TokenStore.useOnce}, which both example stores have. */
export interface ReplayCache {
  useOnce (key: string, ttlMs: number): Promise<boolean>
}

/**
 * Fixed `error_description`s of a refused proof (RFC 9449 §5.1, RFC 6749 §5.2), worded as the
 * plugin words the same refusals on the resource routes; none has a byte of the request in it.
 */
export const proofRefusals = Object.freeze({
  repeated: 'The request carries more than one DPoP header',
  malformed: 'The DPoP proof is malformed',
  wrongType: 'The DPoP proof type is not dpop+jwt',
  unsupportedAlgorithm: 'The DPoP proof algorithm is not accepted',
  badKey: 'The DPoP proof key is not a usable public key',
  criticalHeader: 'The DPoP proof has a critical header parameter that is not supported',
  badSignature: 'The DPoP proof signature is invalid',
  missingClaim: 'The DPoP proof is missing a required claim',
  tooOld: 'The DPoP proof is too old',
  issuedInFuture: 'The DPoP proof was issued in the future',
  expired: 'The DPoP proof has expired',
  wrongMethod: 'The DPoP proof is for another HTTP method',
  wrongUri: 'The DPoP proof is for another URI',
  accessToken: 'The DPoP proof of a token request must not carry ath',
  replayed: 'The DPoP proof has been used before'
})

/** A refused proof: its fixed description. */
export class ProofRefusal {
  readonly description: string
  constructor (description: string) {
    this.description = description
  }
}

// Thrown by the key lookup, so that a bad jwk header is told apart from the rest of jose's JWSInvalid.
class BadKey extends Error {}

/**
 * jose's EmbeddedJWK: the proof's `jwk` header, imported for its `alg`; refused when it is no
 * key, a private key (RFC 9449 §4.3 check 7) or one that does not fit the alg.
 */
async function proofKey (...args: Parameters<typeof EmbeddedJWK>): ReturnType<typeof EmbeddedJWK> {
  try {
    return await EmbeddedJWK(...args)
  } catch {
    throw new BadKey()
  }
}

/** A jose failure as one of the fixed descriptions. */
function describe (err: unknown): string {
  if (err instanceof BadKey) return proofRefusals.badKey
  if (err instanceof errors.JOSEAlgNotAllowed) return proofRefusals.unsupportedAlgorithm
  if (err instanceof errors.JWSSignatureVerificationFailed) return proofRefusals.badSignature
  if (err instanceof errors.JOSENotSupported) return proofRefusals.criticalHeader
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? proofRefusals.tooOld : proofRefusals.expired
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return proofRefusals.missingClaim
    if (err.claim === 'iat' && err.reason === 'check_failed') return proofRefusals.issuedInFuture
  }
  return proofRefusals.malformed
}

/**
 * An http(s) URI as origin and path, normalised by WHATWG URL parsing (scheme and host case,
 * default port, dot segments); query and fragment dropped (RFC 9449 §4.3 check 9). `undefined`:
 * not an http(s) URI.
 */
function originAndPath (uri: string): string | undefined {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  return url.origin + url.pathname
}

/**
 * Checks `publicOrigin`: an http(s) origin, spelled as URL parsing spells it (lower case, no
 * default port, no path or trailing slash), so that it compares as the origin of an `htu`.
 */
export function checkPublicOrigin (publicOrigin: string): string {
  let url: URL | undefined
  try {
    url = new URL(publicOrigin)
  } catch {}
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== publicOrigin) throw new TypeError("publicOrigin must be an http(s) origin such as 'https://api.example' (lower case, no path, no trailing slash)")
  return publicOrigin
}

/** Every line of one header as the client sent it: read from the raw list, where a repeat stays a repeat. */
function rawHeaderLines (request: FastifyRequest, lowerName: string): string[] {
  const raw = request.raw.rawHeaders
  const lines: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === lowerName) lines.push(raw[i + 1] as string)
  }
  return lines
}

/** Options of {@link checkTokenRequestProof}. */
export interface ProofOptions {
  /** The public origin of the server (`https://api.example`); `undefined`: Fastify's request.protocol and request.host. */
  readonly publicOrigin: string | undefined
  /** Where proof ids are recorded, for the proof window. */
  readonly replay: ReplayCache
}

/**
 * The DPoP proof of a token request (RFC 9449 §4.3, §5): `undefined` when the request has no
 * DPoP header (a Bearer token is issued, as before), the RFC 7638 thumbprint of the proof's
 * key when the proof is good, or why it is refused. The proof's `jti` is recorded only once
 * every other check has passed.
 */
export async function checkTokenRequestProof (request: FastifyRequest, options: ProofOptions): Promise<string | undefined | ProofRefusal> {
  const lines = rawHeaderLines(request, 'dpop')
  if (lines.length === 0) return undefined
  if (lines.length > 1) return new ProofRefusal(proofRefusals.repeated)
  const proof = lines[0] as string

  let verified
  try {
    verified = await jwtVerify(proof, proofKey, {
      algorithms: [...DPOP_ALGORITHMS],
      maxTokenAge: PROOF_MAX_AGE,
      clockTolerance: PROOF_CLOCK_TOLERANCE,
      requiredClaims: ['jti', 'htm', 'htu', 'iat']
    })
  } catch (err) {
    return new ProofRefusal(describe(err))
  }
  const { payload, protectedHeader } = verified
  // Exactly this media type (RFC 9449 §4.2), not jose's lenient comparison of typ.
  if (protectedHeader.typ !== 'dpop+jwt') return new ProofRefusal(proofRefusals.wrongType)
  const { jti, htm, htu } = payload as Record<string, unknown>
  if (typeof jti !== 'string' || jti === '' || typeof htm !== 'string' || typeof htu !== 'string') return new ProofRefusal(proofRefusals.malformed)
  if (htm !== 'POST') return new ProofRefusal(proofRefusals.wrongMethod)
  // The token endpoint's URL: the route's path, at the configured origin or the one the request came to.
  const origin = options.publicOrigin ?? `${request.protocol}://${request.host}`
  const expected = originAndPath(origin + request.routeOptions.url)
  if (expected === undefined || originAndPath(htu) !== expected) return new ProofRefusal(proofRefusals.wrongUri)
  // ath binds a proof to an access token; a token request has none yet (RFC 9449 §4.2).
  if (payload.ath !== undefined) return new ProofRefusal(proofRefusals.accessToken)

  // EmbeddedJWK imported this very header's jwk, so it is an object that thumbprints.
  const jkt = await calculateJwkThumbprint(protectedHeader.jwk as JWK, 'sha256')
  // RFC 9449 §11.1: the jti once per key and URI, kept as long as the proof could be accepted.
  const key = 'token-endpoint:' + hash('sha256', `${jkt} ${expected} ${jti}`, 'base64url')
  if (!await options.replay.useOnce(key, (PROOF_MAX_AGE + 2 * PROOF_CLOCK_TOLERANCE) * 1000)) return new ProofRefusal(proofRefusals.replayed)
  return jkt
}
