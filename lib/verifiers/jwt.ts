import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { jwtVerify, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose'
import { LruMap } from 'toad-cache'
import { InvalidTokenError } from '../errors.js'
import type { AuthUser } from '../types.js'
import { checkJwtOptions, malformed, type IssuerConfig, type JwtConfig } from './jwt-config.js'
import { keyResolver, type KeyResolver } from './jwt-keys.js'
import type { JwtOptions } from './jwt-options.js'
import { jwtDescriptions, toRefusal } from './jwt-refusals.js'
import { deepFreeze } from './freeze.js'
import { compileScopeClaim, scopeReader, type ScopeReader } from './scopes.js'
import { isUserObject, refuseUnproven, verified, type Verified, type Verifier } from './verifier.js'
import { isThenable } from '../checks.js'
import { unverifiedIssuer } from './takes.js'
import { boundKey } from '../dpop/binding.js'

/**
 * Internal hooks, for tests and the benchmark only (not public API): a clock in ms and a
 * callback run at each full verification (each cache miss that reaches jose).
 */
export const kJwtInternals = Symbol('fastify-protected-routes.jwt-internals')

/** What {@link kJwtInternals} may hold. */
export interface JwtInternals {
  readonly now?: () => number
  readonly onVerify?: () => void
}

type Claims = Readonly<Record<string, unknown>>

/** What a full verification yields; shared by the cache and by concurrent requests. */
interface Entry {
  /** The token it was verified from: a hit is a lookup by the token's tail and this whole string. */
  readonly token: string
  /** The answer when there is no `user` mapping: the claims are the user. */
  readonly verified: Verified & { readonly claims: Claims }
  /** Epoch ms after which the entry must not be used: never past exp (nor iat + maxTokenAge). */
  readonly expiresAt: number
}

/**
 * How many of a token's last characters key the cache: its signature's, which differ from
 * token to token. Hashing a key costs per character, and a whole token is hundreds of them;
 * a hit is then confirmed against the whole token, so two tokens that share a tail only
 * share a slot (each verified in full), never an entry.
 */
const CACHE_KEY_LENGTH = 32

// RFC 7515 §7.1, §2: three base64url segments without padding (an empty signature only for
// alg none, which jose then refuses by its alg).
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
// RFC 4648 §3.5: the bits past the last whole byte are zero. A segment of 4n+2 characters ends
// in one whose low 4 bits are zero, one of 4n+3 in one whose low 2 bits are zero; 4n+1 encodes nothing.
const LAST_OF_4N2 = 'AQgw'
const LAST_OF_4N3 = 'AEIMQUYcgkosw048'

/** Does the segment token[start, end) end on whole bytes, with zero bits past the last one? */
function hasCanonicalEnd (token: string, start: number, end: number): boolean {
  const rest = (end - start) % 4
  if (rest === 0) return true
  return rest !== 1 && (rest === 2 ? LAST_OF_4N2 : LAST_OF_4N3).includes(token.charAt(end - 1))
}

/**
 * One token, one string. jose decodes leniently (trailing `=`, non-zero pad bits), so without
 * this a signed token has many spellings: each a cache miss and a full verification, and each
 * past any deny-list an app keeps by the token's string. Runs on every request: no allocation.
 */
function isCanonical (token: string): boolean {
  if (!COMPACT.test(token)) return false
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  return hasCanonicalEnd(token, 0, first) && hasCanonicalEnd(token, first + 1, second) && hasCanonicalEnd(token, second + 1, token.length)
}

const readScope = compileScopeClaim('scope', 'scope', malformed)!
const readScp = compileScopeClaim('scp', 'scp', malformed)!
const readPermissions = compileScopeClaim('permissions', 'permissions', malformed)!

/** The default: RFC 9068 §2.2.3 `scope` (space-delimited), else `scp`, else `permissions` (Auth0). */
const defaultScopes: ScopeReader = (claims) =>
  Object.hasOwn(claims, 'scope') ? readScope(claims) : Object.hasOwn(claims, 'scp') ? readScp(claims) : readPermissions(claims)

/** One trusted issuer, ready: jose's options for its tokens and where its keys come from. */
interface Target {
  readonly options: JWTVerifyOptions
  readonly getKey: (log: FastifyBaseLogger) => JWTVerifyGetKey
}

function joseOptions (config: JwtConfig, issuer: IssuerConfig): JWTVerifyOptions {
  return {
    // Per issuer: an HS* token names an issuer with a secret, or jose refuses its alg before any key is looked up.
    algorithms: [...issuer.algorithms],
    issuer: issuer.issuer,
    audience: [...issuer.audience],
    clockTolerance: config.clockTolerance,
    requiredClaims: [...config.requiredClaims],
    ...(config.typ === undefined ? {} : { typ: config.typ }),
    ...(config.maxTokenAge === undefined ? {} : { maxTokenAge: config.maxTokenAge })
  }
}

function keyFor (resolve: KeyResolver, log: FastifyBaseLogger): JWTVerifyGetKey {
  return function getKey (header, token) {
    // RFC 7515 §4.1.11: we implement no extension, so any crit header is refused (jose alone would accept "b64").
    if (header.crit !== undefined) throw new InvalidTokenError(jwtDescriptions.criticalHeader)
    return resolve(header, token, log)
  }
}

/**
 * The JWT verifier of a bearer scheme (RFC 9068 access tokens, RFC 8725 practices), built on
 * jose. Options are checked and static keys imported here, so a bad configuration stops the boot.
 *
 * Per request: a cache lookup by the token's tail, a comparison with the whole token and an
 * expiry check; on a miss,
 * a check that the token is a canonical compact JWS, then jose's jwtVerify (signature first,
 * then claims, then the token's `cnf`: a DPoP key or a refusal), shared by concurrent requests
 * for the same token. `isRevoked` and `user` run on every request, hit or miss.
 */
export async function jwtVerifier (
  schemeName: string,
  options: JwtOptions,
  getScopes?: (user: AuthUser) => readonly string[]
): Promise<Verifier> {
  const config = checkJwtOptions(schemeName, options)
  const targets = new Map<string, Target>()
  for (const issuer of config.issuers) {
    const resolve = await keyResolver(issuer)
    targets.set(issuer.issuer, { options: joseOptions(config, issuer), getKey: (log) => keyFor(resolve, log) })
  }
  // One issuer: no lookup at all; several: the unverified iss picks one, exactly (jose checks it again).
  const only = targets.size === 1 ? targets.values().next().value! : undefined
  const internals = (options as { [kJwtInternals]?: JwtInternals })[kJwtInternals]
  const now = internals?.now ?? Date.now
  const onVerify = internals?.onVerify
  const { clockTolerance, maxTokenAge, scopeClaim, isRevoked, user } = config
  const scopesOf = scopeReader<Claims>({ claim: scopeClaim, getScopes: getScopes as ((claims: Claims) => readonly string[]) | undefined, fallback: defaultScopes })
  const cache = config.cacheMax === 0 ? undefined : new LruMap<Entry>(config.cacheMax)
  const inFlight = new Map<string, Promise<Entry>>()

  async function verifyToken (token: string, nowMs: number, log: FastifyBaseLogger): Promise<Entry> {
    // An iss no entry names: refused before any key is looked up or fetched.
    const target = only ?? targets.get(unverifiedIssuer(token) ?? '')
    if (target === undefined) throw new InvalidTokenError(jwtDescriptions.wrongIssuer)
    onVerify?.()
    let claims: Record<string, unknown>
    try {
      ({ payload: claims } = await jwtVerify(token, target.getKey(log), { ...target.options, currentDate: new Date(nowMs) }))
    } catch (err) {
      throw toRefusal(err)
    }
    // jose checks iat only with maxTokenAge; a token issued in the future is refused regardless.
    const nowSeconds = Math.floor(nowMs / 1000)
    if (typeof claims.iat === 'number' && claims.iat > nowSeconds + clockTolerance) throw new InvalidTokenError(jwtDescriptions.issuedInFuture)
    // RFC 7800 cnf: a DPoP key (RFC 9449 §6.1), which the scheme checks against the proof and
    // refuses without one (§7.2); any other confirmation is refused here, before the entry exists.
    const jkt = boundKey(claims.cnf)
    if (jkt === null) throw new InvalidTokenError(jwtDescriptions.bound)
    // Shared by every request that presents the token (the cache, concurrent requests).
    try {
      deepFreeze(claims)
    } catch {
      throw malformed()
    }
    // Once per token: a cache hit reuses them.
    const scopes = scopesOf(claims)
    // exp is required and a number (jose checked both); iat too when maxTokenAge is set.
    let expiresAt = (claims.exp as number) * 1000
    if (maxTokenAge !== undefined) expiresAt = Math.min(expiresAt, ((claims.iat as number) + maxTokenAge) * 1000)
    return { token, verified: verified(schemeName, claims as AuthUser, scopes, claims, jkt) as Entry['verified'], expiresAt }
  }

  function withUser (entry: Entry, mapped: unknown): Verified | null {
    if (!mapped) return null
    if (!isUserObject(mapped)) throw new TypeError(`${config.path}.user must return a user object or a falsy value`)
    deepFreeze(mapped)
    // The token's scopes, never the mapped user's (lib/verifiers/scopes.ts says why).
    return verified(schemeName, mapped, entry.verified.scopes, entry.verified.claims, entry.verified.jkt)
  }

  function mapUser (entry: Entry, request: FastifyRequest): Verified | null | Promise<Verified | null> {
    if (user === undefined) return entry.verified
    const mapped = user(entry.verified.claims, request)
    return isThenable(mapped) ? Promise.resolve(mapped).then((value) => withUser(entry, value)) : withUser(entry, mapped)
  }

  function afterRevocation (entry: Entry, request: FastifyRequest, revoked: unknown): Verified | null | Promise<Verified | null> {
    if (revoked === true) throw new InvalidTokenError(jwtDescriptions.revoked)
    if (revoked !== false) throw new TypeError(`${config.path}.isRevoked must return true or false`)
    return mapUser(entry, request)
  }

  /** The per-request part, hit or miss. */
  function finish (entry: Entry, request: FastifyRequest): Verified | null | Promise<Verified | null> {
    if (isRevoked === undefined) return mapUser(entry, request)
    const revoked = isRevoked(entry.verified.claims, request)
    return isThenable(revoked)
      ? Promise.resolve(revoked).then((value) => afterRevocation(entry, request, value))
      : afterRevocation(entry, request, revoked)
  }

  return function verifyJwt (token, request, dpop) {
    const key = token.length > CACHE_KEY_LENGTH ? token.slice(-CACHE_KEY_LENGTH) : token
    const nowMs = now()
    const hit = cache?.get(key)
    // Only canonical tokens are cached, and a hit is this exact string: no second look at the form.
    if (hit !== undefined && hit.token === token) {
      if (nowMs < hit.expiresAt) {
        refuseUnproven(hit.verified.jkt, dpop)
        return finish(hit, request)
      }
      cache!.delete(key)
    }
    if (!isCanonical(token)) throw malformed()
    // Requests that wait on one verification share its claims: keyed by the whole token.
    let pending = inFlight.get(token)
    if (pending === undefined) {
      pending = verifyToken(token, nowMs, request.log)
        .then((entry) => {
          // Failures are not cached; neither is a token already past exp (accepted within the tolerance).
          if (cache !== undefined && nowMs < entry.expiresAt) cache.set(key, entry)
          return entry
        })
        .finally(() => inFlight.delete(token))
      inFlight.set(token, pending)
    }
    return pending.then((entry) => {
      refuseUnproven(entry.verified.jkt, dpop)
      return finish(entry, request)
    })
  }
}
