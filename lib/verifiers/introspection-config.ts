import type { FastifyRequest } from 'fastify'
import { InvalidOptionError, InvalidTokenError, jwtDescriptions } from '../errors.js'
import type { AuthUser } from '../types.js'
import { integerOption, isNonEmptyString, isPlainObject } from '../checks.js'
import { compileScopeClaim, type ScopeClaim, type ScopeReader } from './scopes.js'
import { checkIssuerUrl } from './discovery.js'
import { isAllowedEndpoint } from './endpoint-url.js'

/**
 * Options of the introspection verifier (`schemes.<name>.introspection`): opaque access tokens
 * an authorization server issued, checked at its RFC 7662 introspection endpoint and cached.
 * Every option is checked when the plugin registers; a bad one stops the boot.
 *
 * @example
 * introspection: {
 *   url: 'https://auth.example/oauth/introspect',
 *   clientId: 'orders-api',
 *   clientSecret: process.env.INTROSPECTION_SECRET,
 *   issuer: 'https://auth.example/',
 *   audience: 'https://orders.example/'
 * }
 */
export interface IntrospectionOptions {
  /**
   * The introspection endpoint: `https:`, or `http:` on a loopback host only; no credentials in
   * it. Exactly one of `url` or `discovery`.
   */
  url?: string | URL
  /**
   * Find the endpoint in the issuer's metadata (`introspection_endpoint`, RFC 8414 §2) instead
   * of `url`; needs `issuer`.
   */
  discovery?: true
  /** This API's client id at the authorization server (RFC 7662 §2.1: the caller authenticates). */
  clientId: string
  /** Its client secret. Never logged. */
  clientSecret: string
  /**
   * How the client authenticates (RFC 6749 §2.3.1): HTTP Basic with the form-urlencoded id and
   * secret, or both in the request body.
   * @default 'client_secret_basic'
   */
  auth?: 'client_secret_basic' | 'client_secret_post'
  /** Required `iss` of the response, compared exactly; a response without `iss` is refused. */
  issuer?: string
  /**
   * Required audience: the response's `aud` (a string or an array) must contain one of these; one
   * without `aud` is refused. @default the plugin's `protectedResource.resource`, when set; else none
   */
  audience?: string | readonly string[]
  /**
   * Milliseconds the endpoint may take to answer (its body included) before the request gets
   * 503; at most the plugin's `verifyTimeout`.
   * @default 5000, or `verifyTimeout` when that is shorter
   */
  timeout?: number
  /**
   * The answer cache, keyed by the token's SHA-256 digest. An active token is cached for at most
   * `ttl` seconds and never past its `exp`; a refusal for at most 10 seconds (and `ttl`), in a
   * cache of its own so that a flood of unknown tokens cannot evict active ones; `max` entries
   * in each. A token revoked at the server stays accepted here until its entry ends: `ttl` is
   * that window. `false`: every request asks the endpoint.
   * @default { max: 10000, ttl: 60 }
   */
  cache?: { max?: number, ttl?: number } | false
  /** Leeway for `exp` and `nbf` in whole seconds, 0 to 300, as `jwt.clockTolerance`. @default 30 */
  clockTolerance?: number
  /**
   * Map the (frozen) introspection response to `request.user`; it runs on every request, cache
   * hit or not. A falsy result refuses the token; what it returns is deeply frozen.
   * @default the introspection response
   */
  user?: (claims: Readonly<Record<string, unknown>>, request: FastifyRequest) => AuthUser | null | undefined | false | Promise<AuthUser | null | undefined | false>
  /**
   * Where scopes come from in the response: a member name, a dotted path or a function, as
   * `jwt.scopeClaim`. When set, it wins over the plugin's `getScopes`.
   * @default the plugin's `getScopes` given the response when it is set, else `scope` (RFC 7662 §2.2)
   */
  scopeClaim?: ScopeClaim
}

/** {@link IntrospectionOptions} after validation, with every default filled in. */
export interface IntrospectionConfig {
  /** `schemes.<name>.introspection`, for messages. */
  readonly path: string
  /** The endpoint, or `undefined` when it comes from discovery. */
  readonly url: URL | undefined
  readonly clientId: string
  readonly clientSecret: string
  readonly auth: 'client_secret_basic' | 'client_secret_post'
  readonly issuer: string | undefined
  readonly audience: readonly string[] | undefined
  readonly timeout: number
  /** Largest number of cached answers of each kind; 0 when the cache is off. */
  readonly cacheMax: number
  /** Longest an active token is cached, in ms. */
  readonly ttlMs: number
  /** Longest a refusal is cached, in ms. */
  readonly negativeTtlMs: number
  readonly clockTolerance: number
  readonly user: IntrospectionOptions['user']
  readonly scopeClaim: ScopeReader | undefined
}

const KNOWN = new Set(['url', 'discovery', 'clientId', 'clientSecret', 'auth', 'issuer', 'audience', 'timeout', 'cache', 'clockTolerance', 'user', 'scopeClaim'])

/**
 * The defaults, and why. `ttl`: a revoked token stays accepted until its cache entry ends, so
 * the window is kept short; a minute still turns a steady client's requests into one round trip
 * a minute. Refusals: at most 10 s, enough to absorb a client retrying a dead token in a loop,
 * short enough that a token the server has just activated is not refused for long.
 */
const defaults = Object.freeze({
  timeout: 5000,
  cacheMax: 10_000,
  ttl: 60,
  negativeTtl: 10,
  clockTolerance: 30
})

function checkUrl (path: string, value: unknown): URL {
  let url: URL
  try {
    url = new URL(value as string | URL)
  } catch {
    throw new InvalidOptionError(`${path}.url must be an absolute URL`)
  }
  if (!isAllowedEndpoint(url)) {
    throw new InvalidOptionError(`${path}.url must use https: (http: is allowed on a loopback host only)`)
  }
  // They would be sent on every request and end up in logs: they belong in clientId/clientSecret.
  if (url.username !== '' || url.password !== '') throw new InvalidOptionError(`${path}.url must not contain credentials: use clientId and clientSecret`)
  return url
}

function checkAudience (path: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || !list.every(isNonEmptyString)) {
    throw new InvalidOptionError(`${path}.audience must be this API's audience: a non-empty string or a non-empty array of them`)
  }
  return Object.freeze([...new Set(list)])
}

function checkCache (path: string, cache: unknown): { cacheMax: number, ttl: number } {
  if (cache === undefined) return { cacheMax: defaults.cacheMax, ttl: defaults.ttl }
  if (cache === false) return { cacheMax: 0, ttl: 0 }
  if (!isPlainObject(cache) || Object.keys(cache).some((key) => key !== 'max' && key !== 'ttl')) throw new InvalidOptionError(`${path}.cache must be false or { max, ttl }`)
  return {
    cacheMax: integerOption(`${path}.cache`, cache, 'max', 1, 10_000_000, defaults.cacheMax),
    ttl: integerOption(`${path}.cache`, cache, 'ttl', 1, 86_400, defaults.ttl)
  }
}

/** A member of the response of the wrong type: the token is refused, like a malformed JWT. */
export function malformed (): Error {
  return new InvalidTokenError(jwtDescriptions.malformed)
}

/**
 * Validates `schemes.<name>.introspection` and fills in defaults; throws
 * {@link InvalidOptionError} with what to fix. `verifyTimeout` bounds `timeout`.
 */
export function checkIntrospectionOptions (schemeName: string, options: IntrospectionOptions, verifyTimeout: number): IntrospectionConfig {
  const path = `schemes.${schemeName}.introspection`
  if (!isPlainObject(options)) throw new InvalidOptionError(`${path} must be an object`)
  const raw = options as unknown as Record<string, unknown>
  const unknown = Object.keys(options).find((key) => !KNOWN.has(key))
  if (unknown !== undefined) throw new InvalidOptionError(`${path} has an unknown option '${unknown}'`)

  if ((options.url === undefined) === (options.discovery === undefined)) throw new InvalidOptionError(`${path} needs exactly one of url or discovery: true`)
  if (options.discovery !== undefined && options.discovery !== true) throw new InvalidOptionError(`${path}.discovery must be true (or leave it out and set url)`)
  if (options.issuer !== undefined && !isNonEmptyString(options.issuer)) throw new InvalidOptionError(`${path}.issuer must be the expected iss, a non-empty string`)
  if (options.discovery === true) {
    if (options.issuer === undefined) throw new InvalidOptionError(`${path}.discovery needs issuer: the metadata is found from it`)
    checkIssuerUrl(`${path}.issuer`, options.issuer)
  }
  if (!isNonEmptyString(options.clientId)) throw new InvalidOptionError(`${path}.clientId must be this API's client id at the authorization server, a non-empty string`)
  if (!isNonEmptyString(options.clientSecret)) throw new InvalidOptionError(`${path}.clientSecret must be a non-empty string`)
  const auth = options.auth ?? 'client_secret_basic'
  if (auth !== 'client_secret_basic' && auth !== 'client_secret_post') throw new InvalidOptionError(`${path}.auth must be 'client_secret_basic' or 'client_secret_post'`)
  if (options.user !== undefined && typeof options.user !== 'function') throw new InvalidOptionError(`${path}.user must be a function`)
  const timeout = integerOption(path, raw, 'timeout', 1, 60_000, Math.min(defaults.timeout, verifyTimeout))
  // Past verifyTimeout the request has had its 503 already and the call would run on unawaited.
  if (timeout > verifyTimeout) throw new InvalidOptionError(`${path}.timeout is ${timeout} ms, longer than verifyTimeout (${verifyTimeout} ms): make it shorter`)
  const { cacheMax, ttl } = checkCache(path, options.cache)

  return Object.freeze({
    path,
    url: options.url === undefined ? undefined : checkUrl(path, options.url),
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    auth,
    issuer: options.issuer,
    audience: checkAudience(path, options.audience),
    timeout,
    cacheMax,
    ttlMs: ttl * 1000,
    negativeTtlMs: Math.min(ttl, defaults.negativeTtl) * 1000,
    clockTolerance: integerOption(path, raw, 'clockTolerance', 0, 300, defaults.clockTolerance),
    user: options.user,
    scopeClaim: compileScopeClaim(`${path}.scopeClaim`, options.scopeClaim, malformed)
  })
}
