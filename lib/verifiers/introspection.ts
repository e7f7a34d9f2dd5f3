import { hash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { LruMap } from 'toad-cache'
import { InvalidTokenError, jwtDescriptions, VerifierUnavailableError } from '../errors.js'
import type { AuthUser } from '../types.js'
import { isThenable } from '../checks.js'
import { deepFreeze } from './freeze.js'
import { checkIntrospectionOptions, malformed, type IntrospectionConfig, type IntrospectionOptions } from './introspection-config.js'
import { introspectionClient, type EndpointOf } from './introspection-client.js'
import { compileScopeClaim, scopeReader } from './scopes.js'
import { discovery } from './discovery.js'
import { isUserObject, refuseUnproven, verified, type Verified, type Verifier } from './verifier.js'
import { boundKey } from '../dpop/binding.js'

/** Internal hooks, for tests and the benchmark only (not public API): a clock in ms. */
export const kIntrospectionInternals = Symbol('fastify-protected-routes.introspection-internals')

/** What {@link kIntrospectionInternals} may hold. */
export interface IntrospectionInternals {
  readonly now?: () => number
}

type Claims = Readonly<Record<string, unknown>>

/**
 * What the endpoint said of a token, for as long as it may be reused. `verified` when the
 * token is active and passed every check; else the refusal's description (`null`: the scheme's
 * generic one, for a token that is not active).
 */
interface Entry {
  readonly verified: (Verified & { readonly claims: Claims }) | undefined
  readonly refusal: string | null
  /** Epoch ms after which the entry must not be used. */
  readonly expiresAt: number
}

/** RFC 7662 §2.2 `scope`: space-delimited. */
const readScope = compileScopeClaim('scope', 'scope', malformed)!

/**
 * Where the endpoint is: the configured `url`, or the issuer's `introspection_endpoint`, found
 * at the first request that needs it (the app boots while the server is down; until the
 * metadata is fetched, requests get 503).
 */
function endpointOf (config: IntrospectionConfig): EndpointOf {
  const url = config.url
  if (url !== undefined) return () => url
  const metadata = discovery({ issuer: config.issuer!, endpoints: ['introspection_endpoint'], timeout: config.timeout })
  return (log) => metadata.endpoint('introspection_endpoint', log)
}

function refused (refusal: string | null, expiresAt: number): Entry {
  return { verified: undefined, refusal, expiresAt }
}

/**
 * The introspection verifier of a bearer scheme (RFC 7662): the token is POSTed to the
 * authorization server, whose answer is checked here (`active` must be `true`; `exp`, `nbf`,
 * and the configured `iss` and `aud`; `cnf` only for a DPoP key) and cached.
 *
 * Per request: a SHA-256 digest of the token (the cache key: no token is kept in memory, and a
 * key has the same size whatever the token's), a lookup in the cache of active tokens, then in
 * the cache of refusals; on a miss, one call to the endpoint, shared by concurrent requests for
 * the same token. `user` runs on every request, hit or miss. A fault (the endpoint down, slow,
 * misconfigured) is never cached.
 */
export function introspectionVerifier (
  schemeName: string,
  options: IntrospectionOptions,
  verifyTimeout: number,
  getScopes?: (user: AuthUser) => readonly string[]
): Verifier {
  const config = checkIntrospectionOptions(schemeName, options, verifyTimeout)
  const introspect = introspectionClient(config, endpointOf(config))
  const internals = (options as { [kIntrospectionInternals]?: IntrospectionInternals })[kIntrospectionInternals]
  const now = internals?.now ?? Date.now
  const { path, issuer, audience, clockTolerance, ttlMs, negativeTtlMs, user } = config
  const scopesOf = scopeReader<Claims>({ claim: config.scopeClaim, getScopes: getScopes as ((claims: Claims) => readonly string[]) | undefined, fallback: readScope })
  // Two caches: unknown tokens (a flood of them) fill the second and never evict an active one.
  const active = config.cacheMax === 0 ? undefined : new LruMap<Entry>(config.cacheMax)
  const inactive = config.cacheMax === 0 ? undefined : new LruMap<Entry>(config.cacheMax)
  const inFlight = new Map<string, Promise<Entry>>()

  /** The checks of RFC 7662 §4 on the endpoint's answer; the entry it makes. */
  function evaluate (claims: Record<string, unknown>, nowMs: number): Entry {
    const refusalUntil = nowMs + negativeTtlMs
    // RFC 7662 §2.2: only the boolean true; "true", 1 or a missing member are not.
    if (claims.active !== true) return refused(null, refusalUntil)
    // RFC 7800 cnf: a DPoP key (RFC 9449 §6.2), checked by the scheme against the proof; any
    // other confirmation, or a DPoP token_type without a key, is refused.
    const jkt = boundKey(claims.cnf)
    const tokenType = claims.token_type
    if (jkt === null || (jkt === undefined && typeof tokenType === 'string' && tokenType.toLowerCase() === 'dpop')) return refused(jwtDescriptions.bound, refusalUntil)
    const { exp, nbf, iss, aud } = claims
    if ((exp !== undefined && typeof exp !== 'number') || (nbf !== undefined && typeof nbf !== 'number')) return refused(jwtDescriptions.malformed, refusalUntil)
    const nowSeconds = nowMs / 1000
    if (exp !== undefined && exp <= nowSeconds - clockTolerance) return refused(jwtDescriptions.expired, refusalUntil)
    // Not valid yet: refused until it may be, no longer.
    if (nbf !== undefined && nbf > nowSeconds + clockTolerance) return refused(jwtDescriptions.notYetValid, Math.min(refusalUntil, (nbf - clockTolerance) * 1000))
    if (issuer !== undefined && iss !== issuer) return refused(jwtDescriptions.wrongIssuer, refusalUntil)
    if (audience !== undefined && !audience.some((expected) => aud === expected || (Array.isArray(aud) && aud.includes(expected)))) {
      return refused(jwtDescriptions.wrongAudience, refusalUntil)
    }
    // Shared by every request that presents the token (the cache, concurrent requests).
    try {
      deepFreeze(claims)
    } catch (err) {
      // Deeper or larger than any user object: not an answer this verifier can use.
      throw new VerifierUnavailableError({ cause: err })
    }
    let scopes
    try {
      scopes = scopesOf(claims)
    } catch (err) {
      if (err instanceof InvalidTokenError) return refused(err.message, refusalUntil)
      throw err
    }
    // Never past exp; at most the configured ttl.
    const expiresAt = exp === undefined ? nowMs + ttlMs : Math.min(nowMs + ttlMs, exp * 1000)
    return { verified: verified(schemeName, claims as AuthUser, scopes, claims, jkt) as Entry['verified'], refusal: null, expiresAt }
  }

  function withUser (entry: Verified & { readonly claims: Claims }, mapped: unknown): Verified | null {
    if (!mapped) return null
    if (!isUserObject(mapped)) throw new TypeError(`${path}.user must return a user object or a falsy value`)
    deepFreeze(mapped)
    // The token's scopes, never the mapped user's (lib/verifiers/scopes.ts says why).
    return verified(schemeName, mapped, entry.scopes, entry.claims, entry.jkt)
  }

  /** The per-request part, hit or miss. */
  function finish (entry: Entry, request: FastifyRequest, dpop: boolean | undefined): Verified | null | Promise<Verified | null> {
    const found = entry.verified
    if (found === undefined) {
      if (entry.refusal === null) return null
      throw new InvalidTokenError(entry.refusal)
    }
    refuseUnproven(found.jkt, dpop)
    if (user === undefined) return found
    const mapped = user(found.claims, request)
    return isThenable(mapped) ? Promise.resolve(mapped).then((value) => withUser(found, value)) : withUser(found, mapped)
  }

  function cached (cache: LruMap<Entry> | undefined, key: string, nowMs: number): Entry | undefined {
    const hit = cache?.get(key)
    if (hit === undefined) return undefined
    if (nowMs < hit.expiresAt) return hit
    cache!.delete(key)
    return undefined
  }

  return function verifyIntrospected (token, request, dpop) {
    const key = hash('sha256', token, 'base64')
    const nowMs = now()
    const hit = cached(active, key, nowMs) ?? cached(inactive, key, nowMs)
    if (hit !== undefined) return finish(hit, request, dpop)
    let pending = inFlight.get(key)
    if (pending === undefined) {
      pending = introspect(token, request.log)
        .then((claims) => {
          const entry = evaluate(claims, nowMs)
          // An entry already past its end (a token within the clock tolerance of exp) is not kept.
          if (nowMs < entry.expiresAt) (entry.verified === undefined ? inactive : active)?.set(key, entry)
          return entry
        })
        .finally(() => inFlight.delete(key))
      inFlight.set(key, pending)
    }
    return pending.then((entry) => finish(entry, request, dpop))
  }
}
