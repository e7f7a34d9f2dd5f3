import { KeyObject, webcrypto } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  importJWK,
  importSPKI,
  jwksCache,
  type ExportedJWKSCache,
  type FlattenedJWSInput,
  type JWK,
  type JWKSCacheInput,
  type JWSHeaderParameters
} from 'jose'
import { InvalidOptionError, InvalidTokenError, VerifierUnavailableError } from '../errors.js'
import { ASYMMETRIC_ALGORITHMS, type IssuerConfig, type KeySource } from './jwt-config.js'
import { discovery } from './discovery.js'
import type { JwtPublicKey } from './jwt-options.js'
import { jwtDescriptions } from './jwt-refusals.js'
import { safeLog } from '../log.js'

type VerificationKey = Awaited<ReturnType<typeof importSPKI>>

/**
 * Picks the key for a token whose header jose has already checked (its `alg` is one of ours).
 * Only the header's `alg` and `kid` are read, and only to choose among keys configured or
 * fetched from the configured JWKS URL: no header value is ever fetched (RFC 8725 §3.10).
 */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput, log: FastifyBaseLogger) => VerificationKey | Promise<VerificationKey>

function isCryptoKey (key: unknown): key is VerificationKey {
  // A global on Node 20, but not in its type definitions.
  return key instanceof (globalThis as unknown as { CryptoKey: new () => VerificationKey }).CryptoKey
}

// RFC 8725 §3.5: RSA keys shorter than 2048 bits are refused (jose refuses them per request too).
function checkImported (path: string, key: VerificationKey, alg: string): VerificationKey {
  const { modulusLength } = key.algorithm as { modulusLength?: number }
  if (modulusLength !== undefined && modulusLength < 2048) throw new InvalidOptionError(`${path}.publicKey is a ${modulusLength}-bit RSA key; ${alg} needs at least 2048 bits`)
  return key
}

function notPublic (path: string): Error {
  return new InvalidOptionError(`${path}.publicKey must be a public key, not a private or secret one`)
}

/** Does the CryptoKey verify `alg` as jose will use it: its WebCrypto algorithm and the verify usage? */
function fits (key: VerificationKey, alg: string): boolean {
  const actual = key.algorithm as { name: string, hash?: { name: string }, namedCurve?: string }
  const wanted = ASYMMETRIC_ALGORITHMS.get(alg)!
  return actual.name === wanted.name && actual.hash?.name === wanted.hash && actual.namedCurve === wanted.namedCurve && key.usages.includes('verify')
}

/** A CryptoKey is bound to one WebCrypto algorithm: used as it is for every listed alg it fits. */
function fromCryptoKey (path: string, key: VerificationKey, algorithms: readonly string[]): Map<string, VerificationKey> {
  if (key.type !== 'public') throw notPublic(path)
  const keys = new Map<string, VerificationKey>()
  for (const alg of algorithms) {
    if (!fits(key, alg)) throw new InvalidOptionError(`${path}.publicKey is a CryptoKey for ${(key.algorithm as { name: string }).name}; it cannot verify ${alg}`)
    keys.set(alg, checkImported(path, key, alg))
  }
  return keys
}

/** The public key as a JWK (a KeyObject is exported), or the reason it cannot be one. */
function toJwk (path: string, key: Exclude<JwtPublicKey, string>): JWK {
  if (key instanceof KeyObject) {
    if (key.type !== 'public') throw notPublic(path)
    return key.export({ format: 'jwk' }) as JWK
  }
  const jwk = key as JWK
  if (jwk.kty === 'oct' || jwk.d !== undefined) throw notPublic(path)
  return jwk
}

async function importPublicKey (path: string, key: JwtPublicKey, algorithms: readonly string[]): Promise<Map<string, VerificationKey>> {
  if (isCryptoKey(key)) return fromCryptoKey(path, key, algorithms)
  if (typeof key === 'string' && !key.trim().startsWith('-----BEGIN PUBLIC KEY-----')) {
    throw new InvalidOptionError(`${path}.publicKey must be an SPKI PEM (-----BEGIN PUBLIC KEY-----), a JWK, a KeyObject or a CryptoKey`)
  }
  const jwk = typeof key === 'string' ? undefined : toJwk(path, key)
  if (jwk !== undefined && jwk.use !== undefined && jwk.use !== 'sig') throw new InvalidOptionError(`${path}.publicKey is a JWK for use '${String(jwk.use)}', not 'sig'`)
  const keys = new Map<string, VerificationKey>()
  for (const alg of algorithms) {
    // RFC 7517 §4.4: a JWK that names its algorithm is for that algorithm only.
    if (jwk?.alg !== undefined && jwk.alg !== alg) throw new InvalidOptionError(`${path}.publicKey is a JWK for ${jwk.alg}; it cannot verify ${alg}`)
    let imported: VerificationKey
    try {
      imported = jwk === undefined ? await importSPKI((key as string).trim(), alg) : await importJWK(jwk, alg) as VerificationKey
    } catch (err) {
      throw new InvalidOptionError(`${path}.publicKey does not fit ${alg}: ${(err as Error).message}`)
    }
    keys.set(alg, checkImported(path, imported, alg))
  }
  return keys
}

async function importSecret (secret: Uint8Array, algorithms: readonly string[]): Promise<Map<string, VerificationKey>> {
  const keys = new Map<string, VerificationKey>()
  for (const alg of algorithms) {
    // Imported once: jose would import a raw secret again on every verification.
    keys.set(alg, await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']) as VerificationKey)
  }
  return keys
}

type LocalKeys = ReturnType<typeof createLocalJWKSet>

/** A token's key is unusable once a JWKS names it and it cannot verify: the token is refused like one naming no key. */
class UnusableKey extends Error {
  override readonly name = 'UnusableKey'
}

/**
 * The key of the fetched JWKS for this token, through jose's createLocalJWKSet (its matching by
 * kid, kty, alg, use, key_ops), or undefined when none matches. Every key jose returns is checked
 * as jwtVerify will check it, so an entry that cannot verify (not importable, private, an RSA key
 * under 2048 bits: RFC 8725 §3.5) fails here, as {@link UnusableKey}, and not later as a fault.
 */
async function keyOf (keys: LocalKeys, header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<VerificationKey | undefined> {
  let key: VerificationKey
  try {
    key = await keys(header, token)
  } catch (err) {
    if (err instanceof errors.JWKSNoMatchingKey) return undefined
    // Several keys fit and no kid chooses among them: a token we cannot place.
    if (err instanceof errors.JWKSMultipleMatchingKeys) throw new InvalidTokenError(jwtDescriptions.unknownKey)
    throw new UnusableKey('a JWKS key cannot be used', { cause: err })
  }
  const { modulusLength } = key.algorithm as { modulusLength?: number }
  if (!fits(key, header.alg!) || (modulusLength !== undefined && modulusLength < 2048)) throw new UnusableKey('a JWKS key cannot be used')
  return key
}

/**
 * Keys from a JWKS endpoint. jose's createRemoteJWKSet fetches (its timeout, its cooldown on
 * unknown kids, its refetch after cacheMaxAge); the keys are chosen and imported here, apart, so
 * that only a failed fetch (network error, timeout, non-200, a body that is not a JWKS) counts as
 * one. After a failed fetch the keys fetched before keep verifying and no fetch is tried for one
 * cooldown; with none fetched yet the verifier is unavailable (503): it fails closed. A key the
 * JWKS holds but that cannot verify is skipped, like a kid the JWKS lacks: the tokens naming it
 * are refused (401), and it neither stops the other keys nor holds back the next fetch, so key
 * rotation goes on.
 */
function jwksResolver (source: Extract<KeySource, { type: 'jwks' }>): KeyResolver {
  const saved: Partial<ExportedJWKSCache> = {}
  // Why the last fetch failed, in words that say what to fix; set by the fetch below.
  let diagnosis: string | undefined
  const remote = createRemoteJWKSet(source.url, {
    timeoutDuration: source.timeout,
    cooldownDuration: source.cooldown,
    cacheMaxAge: source.maxAge,
    [jwksCache]: saved as JWKSCacheInput,
    [customFetch]: async (url, init) => {
      diagnosis = undefined
      const response = await fetch(url, init)
      diagnosis = await diagnose(response.clone())
      return response
    }
  })
  let failedAt = -Infinity
  let failure: unknown
  let fetched: { readonly uat: number, readonly keys: LocalKeys, warned: boolean } | undefined

  const failedRecently = (): boolean => Date.now() - failedAt < source.cooldown

  /** Fetches the JWKS now; a failure is recorded and logged, and the keys fetched before stay. */
  async function refetch (log: FastifyBaseLogger): Promise<void> {
    try {
      await remote.reload()
    } catch (err) {
      failedAt = Date.now()
      failure = err
      const why = diagnosis === undefined ? '' : `: ${diagnosis}`
      safeLog(log, 'warn', { err, jwksUrl: source.url.href }, `fastify-protected-routes: the JWKS could not be fetched${why}; verifying with the keys fetched before, if any`, { jwksUrl: source.url.href })
    }
  }

  /** The keys of the last successful fetch (remote.reload keeps it in `saved`). */
  function lastFetched (): NonNullable<typeof fetched> {
    if (saved.jwks === undefined || saved.uat === undefined) throw new VerifierUnavailableError({ cause: failure })
    // reload validated this JWKS with createLocalJWKSet already: it cannot throw here.
    if (fetched?.uat !== saved.uat) fetched = { uat: saved.uat, keys: createLocalJWKSet(saved.jwks), warned: false }
    return fetched
  }

  async function select (header: JWSHeaderParameters, token: FlattenedJWSInput, log: FastifyBaseLogger): Promise<VerificationKey | undefined> {
    const current = lastFetched()
    try {
      return await keyOf(current.keys, header, token)
    } catch (err) {
      if (!(err instanceof UnusableKey)) throw err
      // Once per fetched JWKS: a stream of forged tokens naming the key cannot flood the log.
      if (!current.warned) safeLog(log, 'warn', { err, jwksUrl: source.url.href }, 'fastify-protected-routes: a key in the JWKS cannot be used; tokens naming it are refused', { jwksUrl: source.url.href })
      current.warned = true
      // Skipped, as if the JWKS did not hold it: the token names no key we can use.
      return undefined
    }
  }

  return async function jwksKey (header, token, log) {
    if (!remote.fresh && !failedRecently()) await refetch(log)
    const key = await select(header, token, log)
    if (key !== undefined) return key
    // An unknown (or unusable) kid may be a key published or mended since the last fetch: one refetch per cooldown.
    if (!remote.coolingDown && !failedRecently()) {
      await refetch(log)
      const published = await select(header, token, log)
      if (published !== undefined) return published
    }
    throw new InvalidTokenError(jwtDescriptions.unknownKey)
  }
}

/**
 * What a JWKS answer is when it is not one, in words that say what to fix; `undefined` when it
 * looks like a JWKS (jose judges it then). Read once per fetch, from a copy of the answer.
 */
async function diagnose (response: Response): Promise<string | undefined> {
  if (response.status >= 300 && response.status < 400) return `it answered a redirect (${response.status}), which is not followed: configure the final URL`
  if (response.status !== 200) return `it answered ${response.status}`
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return 'the answer is not JSON: is jwksUrl the JWKS URL (jwks_uri) of the issuer?'
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the answer is not a JWKS (no JSON object)'
  const fields = body as Record<string, unknown>
  // RFC 8414 §2 / OpenID Connect Discovery §3: metadata names its issuer and its jwks_uri.
  if (fields.issuer !== undefined || fields.jwks_uri !== undefined) {
    return 'the answer is authorization server metadata, not a JWKS: set jwksUrl to its jwks_uri, or use discovery: true with the issuer'
  }
  if (!Array.isArray(fields.keys)) return 'the answer is not a JWKS (no keys array)'
  return undefined
}

/**
 * Keys at the `jwks_uri` of the issuer's metadata: the metadata is fetched first (lazily,
 * cached, see discovery.ts), then the JWKS as for `jwksUrl`. A `jwks_uri` the issuer moves is
 * followed at the next metadata fetch, with a JWKS cache of its own.
 */
function discoveredResolver (source: Extract<KeySource, { type: 'discovery' }>): KeyResolver {
  // One set of knobs: the metadata is fetched as often as the JWKS (jwksTimeout, jwksCooldown, jwksCacheMaxAge).
  const found = discovery({ issuer: source.issuer, endpoints: ['jwks_uri'], timeout: source.timeout, cooldown: source.cooldown, maxAge: source.maxAge })
  let current: { readonly href: string, readonly resolve: KeyResolver } | undefined
  return async function discoveredKey (header, token, log) {
    const url = await found.endpoint('jwks_uri', log)
    if (current?.href !== url.href) current = { href: url.href, resolve: jwksResolver({ ...source, type: 'jwks', url }) }
    return await current.resolve(header, token, log)
  }
}

/** Builds the key resolver of one issuer; static keys are imported (and checked) now, fetched ones on first use. */
export async function keyResolver (config: IssuerConfig): Promise<KeyResolver> {
  const { source } = config
  if (source.type === 'jwks') return jwksResolver(source)
  if (source.type === 'discovery') return discoveredResolver(source)
  const keys = source.type === 'secret'
    ? await importSecret(source.secret, config.algorithms)
    : await importPublicKey(config.path, source.key, config.algorithms)
  // jose checked the header's alg against config.algorithms before asking for a key.
  return (header) => keys.get(header.alg!)!
}
