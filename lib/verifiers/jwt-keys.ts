import { KeyObject, webcrypto } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import {
  createLocalJWKSet,
  createRemoteJWKSet,
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
import { ASYMMETRIC_ALGORITHMS, type JwtConfig, type KeySource } from './jwt-config.js'
import type { JwtPublicKey } from './jwt-options.js'
import { jwtDescriptions } from './jwt-refusals.js'

type VerificationKey = Awaited<ReturnType<typeof importSPKI>>

/**
 * Picks the key for a token whose header jose has already checked (its `alg` is one of ours).
 * Only the header's `alg` and `kid` are read, and only to choose among keys configured or
 * fetched from the configured JWKS URL: no header value is ever fetched (RFC 8725 §3.10).
 */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput, log: FastifyBaseLogger) => VerificationKey | Promise<VerificationKey>

/** A key import failure that is the configuration's, not the token's: never taken for a jose verdict. */
class KeyFault extends Error {
  override readonly name = 'KeyFault'
}

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

/** A CryptoKey is bound to one WebCrypto algorithm: used as it is for every listed alg it fits. */
function fromCryptoKey (path: string, key: VerificationKey, algorithms: readonly string[]): Map<string, VerificationKey> {
  if (key.type !== 'public') throw notPublic(path)
  const actual = key.algorithm as { name: string, hash?: { name: string }, namedCurve?: string }
  const keys = new Map<string, VerificationKey>()
  for (const alg of algorithms) {
    const wanted = ASYMMETRIC_ALGORITHMS.get(alg)!
    const fits = actual.name === wanted.name && actual.hash?.name === wanted.hash && actual.namedCurve === wanted.namedCurve && key.usages.includes('verify')
    if (!fits) throw new InvalidOptionError(`${path}.publicKey is a CryptoKey for ${actual.name}; it cannot verify ${alg}`)
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

function unknownKey (err: unknown): unknown {
  return err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys
    ? new InvalidTokenError(jwtDescriptions.unknownKey)
    : new KeyFault('a JWKS key could not be used', { cause: err })
}

/**
 * Keys from a JWKS endpoint through jose's createRemoteJWKSet (its timeout, its cooldown on
 * unknown kids, its refetch after cacheMaxAge). When a fetch fails, the keys fetched before
 * keep verifying and no fetch is tried again for one cooldown; with none fetched yet the
 * verifier is unavailable (503): it fails closed.
 */
function jwksResolver (source: Extract<KeySource, { type: 'jwks' }>): KeyResolver {
  const saved: Partial<ExportedJWKSCache> = {}
  const remote = createRemoteJWKSet(source.url, {
    timeoutDuration: source.timeout,
    cooldownDuration: source.cooldown,
    cacheMaxAge: source.maxAge,
    [jwksCache]: saved as JWKSCacheInput
  })
  let failedAt = -Infinity
  let fallback: { readonly uat: number, readonly keys: ReturnType<typeof createLocalJWKSet> } | undefined

  async function fromLastFetch (header: JWSHeaderParameters, token: FlattenedJWSInput, cause: unknown): Promise<VerificationKey> {
    if (saved.jwks === undefined || saved.uat === undefined) throw new VerifierUnavailableError({ cause })
    if (fallback?.uat !== saved.uat) fallback = { uat: saved.uat, keys: createLocalJWKSet(saved.jwks) }
    try {
      return await fallback.keys(header, token)
    } catch (err) {
      throw unknownKey(err)
    }
  }

  return async function jwksKey (header, token, log) {
    if (Date.now() - failedAt < source.cooldown) return await fromLastFetch(header, token, undefined)
    try {
      return await remote(header, token)
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw unknownKey(err)
      failedAt = Date.now()
      log.warn({ err, jwksUrl: source.url.href }, 'fastify-protected-routes: the JWKS could not be fetched or used; verifying with the keys fetched before, if any')
      return await fromLastFetch(header, token, err)
    }
  }
}

/** Builds the key resolver of a JWT scheme; static keys are imported (and checked) now. */
export async function keyResolver (config: JwtConfig): Promise<KeyResolver> {
  const { source } = config
  if (source.type === 'jwks') return jwksResolver(source)
  const keys = source.type === 'secret'
    ? await importSecret(source.secret, config.algorithms)
    : await importPublicKey(config.path, source.key, config.algorithms)
  // jose checked the header's alg against config.algorithms before asking for a key.
  return (header) => keys.get(header.alg!)!
}
