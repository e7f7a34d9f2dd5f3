import { InvalidOptionError, InvalidTokenError } from '../errors.js'
import type { JwtOptions, JwtPublicKey } from './jwt-options.js'
import { jwtDescriptions } from './jwt-refusals.js'
import { compileScopeClaim, type ScopeReader } from './scopes.js'
import { integerOption, isNonEmptyString, isPlainObject } from '../checks.js'
import { isAllowedEndpoint } from './endpoint-url.js'
import { checkIssuerUrl } from './discovery.js'

/** HS* algorithms and the least secret length each allows, in bytes (RFC 7518 §3.2: at least the hash size). */
const HMAC_MIN_BYTES: Readonly<Record<string, number>> = Object.freeze({ HS256: 32, HS384: 48, HS512: 64 })

/** The WebCrypto parameters a verification key must have for an algorithm (RFC 7518 §3, RFC 8037). */
export interface KeyAlgorithm {
  readonly name: string
  readonly hash?: string
  readonly namedCurve?: string
}

/** Asymmetric JWS algorithms jose verifies with WebCrypto on Node 20, and the keys they take. */
export const ASYMMETRIC_ALGORITHMS: ReadonlyMap<string, KeyAlgorithm> = new Map([
  ['RS256', { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }],
  ['RS384', { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' }],
  ['RS512', { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' }],
  ['PS256', { name: 'RSA-PSS', hash: 'SHA-256' }],
  ['PS384', { name: 'RSA-PSS', hash: 'SHA-384' }],
  ['PS512', { name: 'RSA-PSS', hash: 'SHA-512' }],
  ['ES256', { name: 'ECDSA', namedCurve: 'P-256' }],
  ['ES384', { name: 'ECDSA', namedCurve: 'P-384' }],
  ['ES512', { name: 'ECDSA', namedCurve: 'P-521' }],
  ['EdDSA', { name: 'Ed25519' }],
  ['Ed25519', { name: 'Ed25519' }]
])

const KNOWN = new Set([
  'secret', 'publicKey', 'jwksUrl', 'discovery', 'algorithms', 'issuer', 'issuers', 'audience', 'clockTolerance', 'typ', 'requiredClaims',
  'maxTokenAge', 'scopeClaim', 'user', 'isRevoked', 'cache', 'jwksTimeout', 'jwksCooldown', 'jwksCacheMaxAge'
])
/** What an entry of `issuers` may hold. */
const ENTRY_KNOWN = new Set(['issuer', 'secret', 'publicKey', 'jwksUrl', 'discovery', 'algorithms', 'audience'])
/** What `issuers` replaces at the top level. */
const PER_ISSUER = ['issuer', 'secret', 'publicKey', 'jwksUrl', 'discovery'] as const
const KEY_SOURCES = ['secret', 'publicKey', 'jwksUrl', 'discovery'] as const
const JWKS_ONLY = ['jwksTimeout', 'jwksCooldown', 'jwksCacheMaxAge'] as const
const MAX_CLOCK_TOLERANCE = 300

/** Where the verification keys come from, checked. */
export type KeySource =
  | { readonly type: 'secret', readonly secret: Uint8Array }
  | { readonly type: 'publicKey', readonly key: JwtPublicKey }
  | { readonly type: 'jwks', readonly url: URL, readonly timeout: number, readonly cooldown: number, readonly maxAge: number }
  /** The JWKS at the `jwks_uri` of the issuer's metadata (lib/verifiers/discovery.ts). */
  | { readonly type: 'discovery', readonly issuer: string, readonly timeout: number, readonly cooldown: number, readonly maxAge: number }

/** One trusted issuer, checked: its `iss`, its keys, and what its tokens must carry. */
export interface IssuerConfig {
  /** `schemes.<name>.jwt` or `schemes.<name>.jwt.issuers[<i>]`, for messages. */
  readonly path: string
  readonly issuer: string
  readonly algorithms: readonly string[]
  readonly source: KeySource
  /** `aud` must contain one of them. */
  readonly audience: readonly string[]
}

/** {@link JwtOptions} after validation, with every default filled in. */
export interface JwtConfig {
  /** `schemes.<name>.jwt`, for messages. */
  readonly path: string
  /** One entry for `issuer`; one per entry of `issuers`, in order, each `issuer` once. */
  readonly issuers: readonly IssuerConfig[]
  readonly clockTolerance: number
  readonly typ: string | undefined
  /** Always contains 'exp'. */
  readonly requiredClaims: readonly string[]
  readonly maxTokenAge: number | undefined
  /** `scopeClaim`, compiled; `undefined` when not set. */
  readonly scopeClaim: ScopeReader | undefined
  readonly user: JwtOptions['user']
  readonly isRevoked: JwtOptions['isRevoked']
  /** Largest number of cached verifications; 0 when the cache is off. */
  readonly cacheMax: number
}

const defaults = Object.freeze({
  clockTolerance: 30,
  cacheMax: 10_000,
  jwksTimeout: 5000,
  jwksCooldown: 30_000,
  jwksCacheMaxAge: 600_000
})

function checkAlgorithms (path: string, algorithms: unknown): { algorithms: readonly string[], hmac: boolean } {
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every(isNonEmptyString)) {
    throw new InvalidOptionError(`${path}.algorithms must list the accepted algorithms, e.g. ['RS256']`)
  }
  for (const alg of algorithms) {
    // RFC 8725 §3.1: an unsecured JWT must never be accepted, whatever the letter case.
    if (alg.toLowerCase() === 'none') throw new InvalidOptionError(`${path}.algorithms must never list 'none'`)
    if (HMAC_MIN_BYTES[alg] === undefined && !ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw new InvalidOptionError(`${path}.algorithms lists '${alg}', which is not one of HS256, HS384, HS512, ${[...ASYMMETRIC_ALGORITHMS.keys()].join(', ')}`)
    }
  }
  const hmac = algorithms.filter((alg) => HMAC_MIN_BYTES[alg] !== undefined).length
  // RFC 8725 §3.1: a key is used with one kind of algorithm, so a public key can never be taken for an HMAC secret.
  if (hmac !== 0 && hmac !== algorithms.length) {
    throw new InvalidOptionError(`${path}.algorithms mixes HS* with asymmetric algorithms; configure one kind per scheme`)
  }
  return { algorithms: Object.freeze([...new Set(algorithms)]), hmac: hmac !== 0 }
}

/** Checks an HS* secret (a string is its UTF-8 bytes) and copies it. Also used by signAccessToken. */
export function checkSecret (path: string, secret: unknown, algorithms: readonly string[]): KeySource {
  if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) throw new InvalidOptionError(`${path}.secret must be a string or a Uint8Array`)
  // The RS256 -> HS256 confusion (RFC 8725 §2.1) starts with a public key used as an HMAC secret.
  if (typeof secret === 'string' && secret.trimStart().startsWith('-----BEGIN')) {
    throw new InvalidOptionError(`${path}.secret is a PEM key; put a public key in publicKey and list asymmetric algorithms`)
  }
  // A copy: the app cannot change the secret after boot.
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : new Uint8Array(secret)
  const needed = Math.max(...algorithms.map((alg) => HMAC_MIN_BYTES[alg]!))
  if (bytes.byteLength < needed) {
    throw new InvalidOptionError(`${path}.secret is ${bytes.byteLength} bytes; ${algorithms.join(', ')} needs at least ${needed} random bytes`)
  }
  return { type: 'secret', secret: bytes }
}

function jwksSettings (path: string, settings: Record<string, unknown>): { timeout: number, cooldown: number, maxAge: number } {
  return {
    timeout: integerOption(path, settings, 'jwksTimeout', 1, 60_000, defaults.jwksTimeout),
    cooldown: integerOption(path, settings, 'jwksCooldown', 0, 86_400_000, defaults.jwksCooldown),
    maxAge: integerOption(path, settings, 'jwksCacheMaxAge', 0, 86_400_000, defaults.jwksCacheMaxAge)
  }
}

type JwksSettings = ReturnType<typeof jwksSettings>

function checkJwksUrl (path: string, options: Record<string, unknown>, settings: JwksSettings): KeySource {
  let url: URL
  try {
    url = new URL(options.jwksUrl as string | URL)
  } catch {
    throw new InvalidOptionError(`${path}.jwksUrl must be an absolute URL`)
  }
  if (!isAllowedEndpoint(url)) {
    throw new InvalidOptionError(`${path}.jwksUrl must use https: (http: is allowed on a loopback host only)`)
  }
  return { type: 'jwks', url, ...settings }
}

/** One issuer's key source; `settings`: the scheme's JWKS options, for a fetched source. */
function checkKeySource (path: string, options: Record<string, unknown>, settings: JwksSettings, algorithms: readonly string[], hmac: boolean): KeySource {
  const sources = KEY_SOURCES.filter((key) => options[key] !== undefined)
  if (sources.length !== 1) throw new InvalidOptionError(`${path} needs exactly one of secret, publicKey, jwksUrl or discovery: true`)
  if (options.discovery !== undefined && options.discovery !== true) throw new InvalidOptionError(`${path}.discovery must be true (or left out)`)
  if (options.secret !== undefined) {
    if (!hmac) throw new InvalidOptionError(`${path}.secret is for HS* algorithms; ${algorithms.join(', ')} need publicKey, jwksUrl or discovery`)
    return checkSecret(path, options.secret, algorithms)
  }
  if (hmac) throw new InvalidOptionError(`${path}.${sources[0]} is for asymmetric algorithms; ${algorithms.join(', ')} need secret`)
  if (options.publicKey !== undefined) return { type: 'publicKey', key: options.publicKey as JwtPublicKey }
  if (options.jwksUrl !== undefined) return checkJwksUrl(path, options, settings)
  return { type: 'discovery', issuer: checkIssuerUrl(`${path}.issuer`, options.issuer), ...settings }
}

function checkAudience (path: string, audience: unknown): readonly string[] {
  const list: unknown[] = Array.isArray(audience) ? audience : [audience]
  if (audience === undefined) throw new InvalidOptionError(`${path}.audience must be this API's audience, a non-empty string or a list of them (or set the plugin's protectedResource: its resource is then the default audience)`)
  if (list.length === 0 || !list.every(isNonEmptyString)) throw new InvalidOptionError(`${path}.audience must be this API's audience, a non-empty string or a list of them`)
  return Object.freeze([...new Set(list as string[])])
}

/** One issuer: `entry` holds its own options, `scheme` the scheme's (its defaults and JWKS options). */
function checkIssuer (path: string, entry: Record<string, unknown>, scheme: Record<string, unknown>, jwks: JwksSettings): IssuerConfig {
  const { algorithms, hmac } = checkAlgorithms(path, entry.algorithms ?? scheme.algorithms)
  const source = checkKeySource(path, entry, jwks, algorithms, hmac)
  if (!isNonEmptyString(entry.issuer)) throw new InvalidOptionError(`${path}.issuer must be the expected iss, a non-empty string`)
  return Object.freeze({ path, issuer: entry.issuer, algorithms, source, audience: checkAudience(path, entry.audience ?? scheme.audience) })
}

/**
 * `issuers`: each entry checked with the scheme's `algorithms` and `audience` as defaults.
 * Each `issuer` is compared exactly, as jose compares `iss` (RFC 8414 §3.3 for discovered ones:
 * no normalisation of case or trailing slash), so it may appear once.
 */
function checkIssuers (path: string, raw: Record<string, unknown>, jwks: JwksSettings): readonly IssuerConfig[] {
  const replaced = PER_ISSUER.find((key) => raw[key] !== undefined)
  if (replaced !== undefined) throw new InvalidOptionError(`${path}.issuers replaces ${path}.issuer and its key source: move ${replaced} into an entry of issuers`)
  const { issuers } = raw
  if (!Array.isArray(issuers) || issuers.length === 0) throw new InvalidOptionError(`${path}.issuers must be a non-empty array of { issuer, secret | publicKey | jwksUrl | discovery }`)
  if (raw.algorithms !== undefined) checkAlgorithms(path, raw.algorithms)
  if (raw.audience !== undefined) checkAudience(path, raw.audience)
  const seen = new Set<string>()
  return Object.freeze(issuers.map((entry: unknown, index) => {
    const entryPath = `${path}.issuers[${index}]`
    if (!isPlainObject(entry)) throw new InvalidOptionError(`${entryPath} must be an object`)
    const unknown = Object.keys(entry).find((key) => !ENTRY_KNOWN.has(key))
    if (unknown !== undefined) throw new InvalidOptionError(`${entryPath} has an unknown option '${unknown}'`)
    const checked = checkIssuer(entryPath, entry, raw, jwks)
    if (seen.has(checked.issuer)) throw new InvalidOptionError(`${entryPath}.issuer is listed twice`)
    seen.add(checked.issuer)
    return checked
  }))
}

function checkCache (path: string, cache: unknown): number {
  if (cache === undefined) return defaults.cacheMax
  if (cache === false) return 0
  if (!isPlainObject(cache) || Object.keys(cache).some((key) => key !== 'max')) throw new InvalidOptionError(`${path}.cache must be false or { max }`)
  return integerOption(`${path}.cache`, cache, 'max', 1, 10_000_000, defaults.cacheMax)
}

function optionalFunction<T> (path: string, options: Record<string, unknown>, name: string): T | undefined {
  const value = options[name]
  if (value !== undefined && typeof value !== 'function') throw new InvalidOptionError(`${path}.${name} must be a function`)
  return value as T | undefined
}

/** The `iss` values a JWT scheme trusts, as configured: its `issuer`, or each entry's of `issuers`. */
export function configuredIssuers (options: JwtOptions): readonly string[] {
  return options.issuers === undefined ? [options.issuer] : options.issuers.map(({ issuer }) => issuer)
}

/** A claim of the wrong type: the token is refused, like any malformed one. */
export function malformed (): Error {
  return new InvalidTokenError(jwtDescriptions.malformed)
}

/** Validates `schemes.<name>.jwt` and fills in defaults; throws {@link InvalidOptionError} with what to fix. */
export function checkJwtOptions (schemeName: string, options: JwtOptions): JwtConfig {
  const path = `schemes.${schemeName}.jwt`
  if (!isPlainObject(options)) throw new InvalidOptionError(`${path} must be an object`)
  const raw = options as unknown as Record<string, unknown>
  const unknown = Object.keys(options).find((key) => !KNOWN.has(key))
  if (unknown !== undefined) throw new InvalidOptionError(`${path} has an unknown option '${unknown}'`)

  const jwks = jwksSettings(path, raw)
  const issuers = raw.issuers === undefined ? Object.freeze([checkIssuer(path, raw, raw, jwks)]) : checkIssuers(path, raw, jwks)
  if (issuers.every(({ source }) => source.type !== 'jwks' && source.type !== 'discovery')) {
    const misplaced = JWKS_ONLY.find((key) => raw[key] !== undefined)
    if (misplaced !== undefined) throw new InvalidOptionError(`${path}.${misplaced} applies to jwksUrl and discovery only`)
  }
  if (options.typ !== undefined && !isNonEmptyString(options.typ)) throw new InvalidOptionError(`${path}.typ must be a non-empty string such as 'at+jwt'`)
  const requiredClaims = options.requiredClaims ?? []
  if (!Array.isArray(requiredClaims) || !requiredClaims.every(isNonEmptyString)) throw new InvalidOptionError(`${path}.requiredClaims must be an array of claim names`)
  const scopeClaim = compileScopeClaim(`${path}.scopeClaim`, options.scopeClaim, malformed)

  return {
    path,
    issuers,
    clockTolerance: integerOption(path, raw, 'clockTolerance', 0, MAX_CLOCK_TOLERANCE, defaults.clockTolerance),
    typ: options.typ,
    requiredClaims: Object.freeze([...new Set(['exp', ...requiredClaims])]),
    maxTokenAge: integerOption(path, raw, 'maxTokenAge', 1, 31_536_000, undefined),
    scopeClaim,
    user: optionalFunction(path, raw, 'user'),
    isRevoked: optionalFunction(path, raw, 'isRevoked'),
    cacheMax: checkCache(path, options.cache)
  }
}
