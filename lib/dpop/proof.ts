import { hash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { calculateJwkThumbprint, decodeProtectedHeader, errors, importJWK, jwtVerify, type JWK, type JWTVerifyOptions } from 'jose'
import { LruMap } from 'toad-cache'
import { dpopDescriptions, InvalidDpopProofError, UseDpopNonceError } from '../errors.js'
import { isPlainObject } from '../checks.js'
import { resourceMetadataParam } from '../challenge.js'
import { digest } from '../stores/token-store.js'
import type { DpopConfig } from './options.js'
import { Nonces } from './nonce.js'
import { pathOf, sameUri } from './uri.js'

/** Internal hooks, for tests only (not public API): a clock in epoch ms. */
export const kDpopInternals = Symbol('fastify-protected-routes.dpop-internals')

export interface DpopInternals {
  readonly now?: () => number
}

/** A proof that passed every check of RFC 9449 §4.3 but the last two: the token's binding and its `jti`. */
export interface CheckedProof {
  /** The RFC 7638 thumbprint of the proof's key. */
  readonly jkt: string
  /** What {@link TokenStore.useOnce} records: the key, the URI and the `jti`, digested. */
  readonly replayKey: string
  /** A nonce to send with the answer (the proof carried the previous window's); `undefined`: none. */
  readonly nextNonce: string | undefined
}

/** A proof's key, imported once per distinct protected header. */
interface ProofKey {
  readonly key: Exclude<Awaited<ReturnType<typeof importJWK>>, Uint8Array>
  readonly jkt: string
}

// RFC 7515 §7.1: three base64url segments; a proof is always signed.
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
// JWK members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']
// Longer than any proof with a 4096-bit RSA key; a longer header is not cached.
const MAX_PROOF_LENGTH = 8192
const MAX_CACHED_HEADER = 2048
/** Longest `jti` recorded; a longer one is refused before it reaches the store. */
export const MAX_JTI_LENGTH = 256
const KEY_CACHE_MAX = 1000

function refusal (description: string): InstanceType<typeof InvalidDpopProofError> {
  return new InvalidDpopProofError(description)
}

/** jose's failure of a proof, as a fixed description. */
function describe (err: unknown): string {
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? dpopDescriptions.tooOld : dpopDescriptions.expired
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return dpopDescriptions.missingClaim
    if (err.claim === 'iat' && err.reason === 'check_failed') return dpopDescriptions.issuedInFuture
    return dpopDescriptions.malformed
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return dpopDescriptions.badSignature
  if (err instanceof errors.JOSENotSupported) return dpopDescriptions.criticalHeader
  return dpopDescriptions.malformed
}

/** The origin and path a proof for this request names: the configured origin, else Fastify's reading of the request. */
function requestUri (request: FastifyRequest, origin: string | undefined): string {
  // An HTTP server's request always has a URL (the request-target).
  const path = pathOf(request.raw.url as string)
  return origin === undefined ? `${request.protocol}://${request.host}${path}` : origin + path
}

/**
 * The DPoP proof checks of a scheme (RFC 9449 §4.3), built once from its options. Per request:
 * a lookup of the proof's key by its protected header (imported and thumbprinted once per
 * client key), one jose `jwtVerify` (signature, `typ`, `alg`, `iat` window), then `htm`,
 * `htu`, `ath` and the nonce. The `jti` is recorded by {@link DpopChecker.record} once the token
 * is known to be bound to the proof's key.
 */
export class DpopChecker {
  readonly config: DpopConfig
  /** `DPoP algs="…"`, the challenge with no error (RFC 9449 §7.1), and `resource_metadata` with `protectedResource` (RFC 9728 §5.1). */
  readonly challenge: string
  readonly #keys = new LruMap<ProofKey>(KEY_CACHE_MAX)
  readonly #nonces: Nonces | undefined
  readonly #now: () => number
  readonly #options: JWTVerifyOptions
  readonly #replayTtl: number

  constructor (config: DpopConfig, metadataUrl: string | undefined, internals?: DpopInternals) {
    this.config = config
    this.challenge = `DPoP algs="${config.algorithms.join(' ')}"${resourceMetadataParam(metadataUrl)}`
    this.#nonces = config.nonceSecret === undefined ? undefined : new Nonces(config.nonceSecret)
    this.#now = internals?.now ?? Date.now
    this.#options = {
      typ: 'dpop+jwt',
      algorithms: [...config.algorithms],
      maxTokenAge: config.proofMaxAge,
      clockTolerance: config.clockTolerance,
      requiredClaims: ['jti', 'htm', 'htu', 'iat']
    }
    // A proof is accepted from iat - clockTolerance to iat + proofMaxAge + clockTolerance: its
    // jti is kept for that long from now, whatever its iat.
    this.#replayTtl = (config.proofMaxAge + 2 * config.clockTolerance) * 1000
  }

  /** The nonce to send with a 401 use_dpop_nonce; `undefined` without nonces. */
  nonce (): string | undefined {
    return this.#nonces?.current(this.#now())
  }

  async #keyOf (proof: string): Promise<ProofKey> {
    const header = proof.slice(0, proof.indexOf('.'))
    const known = this.#keys.get(header)
    if (known !== undefined) return known
    let fields
    try {
      fields = decodeProtectedHeader(proof)
    } catch {
      throw refusal(dpopDescriptions.malformed)
    }
    // RFC 9449 §4.2: exactly this media type (jose compares it again, leniently).
    if (fields.typ !== 'dpop+jwt') throw refusal(dpopDescriptions.wrongType)
    if (typeof fields.alg !== 'string' || !this.config.algorithms.includes(fields.alg)) throw refusal(dpopDescriptions.unsupportedAlgorithm)
    const jwk = fields.jwk as unknown
    if (!isPlainObject(jwk) || PRIVATE_MEMBERS.some((member) => Object.hasOwn(jwk, member))) throw refusal(dpopDescriptions.badKey)
    let entry: ProofKey
    try {
      const key = await importJWK(jwk as JWK, fields.alg)
      // A symmetric key imports as bytes; its `k` member was refused above, so this is a guard.
      /* c8 ignore next */
      if (key instanceof Uint8Array || key.type !== 'public') throw new TypeError('not a public key')
      entry = { key, jkt: await calculateJwkThumbprint(jwk as JWK, 'sha256') }
    } catch {
      throw refusal(dpopDescriptions.badKey)
    }
    if (header.length <= MAX_CACHED_HEADER) this.#keys.set(header, entry)
    return entry
  }

  /**
   * Checks `proof` for this request and access token; throws {@link InvalidDpopProofError} or
   * {@link UseDpopNonceError}.
   */
  async check (proof: string, token: string, request: FastifyRequest): Promise<CheckedProof> {
    if (proof.length > MAX_PROOF_LENGTH || !COMPACT.test(proof)) throw refusal(dpopDescriptions.malformed)
    const { key, jkt } = await this.#keyOf(proof)
    const nowMs = this.#now()
    let claims: Record<string, unknown>
    try {
      ({ payload: claims } = await jwtVerify(proof, key, { ...this.#options, currentDate: new Date(nowMs) }))
    } catch (err) {
      throw refusal(describe(err))
    }
    const { jti, htm, htu, ath } = claims
    if (typeof jti !== 'string' || jti === '' || typeof htm !== 'string' || typeof htu !== 'string') throw refusal(dpopDescriptions.malformed)
    if (jti.length > MAX_JTI_LENGTH) throw refusal(dpopDescriptions.idTooLong)
    if (htm !== request.raw.method) throw refusal(dpopDescriptions.wrongMethod)
    const uri = requestUri(request, this.config.origin)
    if (!sameUri(htu, uri)) throw refusal(dpopDescriptions.wrongUri)
    if (ath === undefined) throw refusal(dpopDescriptions.missingClaim)
    if (ath !== hash('sha256', token, 'base64url')) throw refusal(dpopDescriptions.wrongToken)
    let nextNonce: string | undefined
    if (this.#nonces !== undefined) {
      const age = this.#nonces.check(claims.nonce, nowMs)
      if (age === undefined) throw new UseDpopNonceError()
      if (age === 'previous') nextNonce = this.#nonces.current(nowMs)
    }
    return { jkt, replayKey: digest(`${jkt} ${uri} ${jti}`), nextNonce }
  }

  /** Records the proof's `jti` (RFC 9449 §11.1); throws {@link InvalidDpopProofError} when it was used before. */
  async record (proof: CheckedProof): Promise<void> {
    if (!await this.config.replayStore.useOnce(proof.replayKey, this.#replayTtl)) throw refusal(dpopDescriptions.replayed)
  }
}
