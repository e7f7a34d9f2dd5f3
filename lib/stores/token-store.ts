import { hash, randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AuthUser } from '../types.js'
import { SCOPE_TOKEN } from '../checks.js'

/** What {@link TokenStore.issue} records: who the token is for, what it grants and for how long. */
export interface TokenGrant {
  /** The user's stable id: {@link TokenStore.revokeAll} revokes by it. Non-empty. */
  readonly subject: string
  /** Lifetime in whole seconds (1 to 31536000). */
  readonly expiresIn: number
  /** Granted scopes (RFC 6749 §3.3 scope-tokens). @default [] */
  readonly scopes?: readonly string[]
  /**
   * What `request.user` becomes: a plain, JSON-serialisable object, stored with the token.
   * @default { sub: subject }
   */
  readonly user?: AuthUser
  /**
   * Binds the token to a DPoP key (RFC 9449 §6): the RFC 7638 SHA-256 thumbprint of the
   * client's public key. A bound token is accepted only with a DPoP proof made with that key,
   * never as a bearer token.
   */
  readonly jkt?: string
}

/** An issued opaque token. The store keeps only its SHA-256 digest: this is the one copy. */
export interface IssuedToken {
  /** 256 bits from the CSPRNG, base64url (43 characters): an RFC 6750 b64token. */
  readonly token: string
  /** When it expires, in epoch milliseconds. */
  readonly expiresAt: number
}

/** What a live opaque token stands for (frozen). */
export interface TokenRecord {
  readonly subject: string
  readonly user: AuthUser
  readonly scopes: readonly string[]
  /** Epoch milliseconds. */
  readonly expiresAt: number
  /** The DPoP key thumbprint the token is bound to ({@link TokenGrant.jkt}); absent for a bearer token. */
  readonly jkt?: string
}

/** The claims of a verified JWT that revocation looks at. */
export interface RevocableClaims {
  readonly jti?: unknown
  readonly sub?: unknown
  readonly iat?: unknown
  readonly exp?: unknown
}

/**
 * Shared token state: opaque access tokens and JWT revocation. {@link MemoryTokenStore} keeps it
 * in this process; {@link RedisTokenStore} shares it between instances. Implement it to use
 * another backend; a backend that cannot answer should throw `VerifierUnavailableError` (503).
 */
export interface TokenStore {
  /** Issues an opaque token (at least 128 bits from a CSPRNG) for a user, with scopes and a lifetime. */
  issue (grant: TokenGrant): Promise<IssuedToken>
  /** The record of a live token, or `null` (unknown, expired, revoked, or not a token this store issues). */
  lookup (token: string): Promise<TokenRecord | null>
  /** Revokes one opaque token; resolves `true` if it was live. */
  revoke (token: string): Promise<boolean>
  /**
   * Revokes every opaque token of `subject`, and every JWT of `subject` issued (`iat`) no later
   * than the millisecond this call runs in (checked by {@link TokenStore.isJwtRevoked}).
   * Resolves the number of opaque tokens revoked, once that millisecond is over: a JWT issued
   * after it resolves, with an `iat` to the millisecond (a fractional NumericDate, RFC 7519 §2),
   * is not refused. A whole-second `iat` cannot tell before from after within its second, so
   * such a JWT issued in the same second is refused.
   */
  revokeAll (subject: string): Promise<number>
  /** Records a JWT id as revoked until `exp` (epoch seconds, the token's own `exp`). */
  revokeJti (jti: string, exp: number): Promise<void>
  /**
   * Is this verified JWT revoked: its `jti` recorded by {@link TokenStore.revokeJti}, or its
   * `iat` no later than the millisecond of a {@link TokenStore.revokeAll} of its `sub`?
   */
  isJwtRevoked (claims: RevocableClaims): Promise<boolean>
  /**
   * Records `key` as used for `ttlMs` milliseconds, atomically: resolves `true` the first time,
   * `false` while it is recorded (on any instance that shares the store). The DPoP replay cache
   * (a proof's `jti`, RFC 9449 §11.1). Optional for a store of your own, which then cannot be a
   * `dpop.replayStore`.
   */
  useOnce? (key: string, ttlMs: number): Promise<boolean>
  /** Releases what the store holds (timers, its own connections); never the app's client. */
  close (): Promise<void>
}

/**
 * Internal hooks for tests (not public API): a clock in epoch ms, and how to let time pass on
 * it (revokeAll waits for its millisecond to end).
 */
export const kTokenStoreInternals = Symbol('fastify-protected-routes.token-store-internals')

export interface TokenStoreInternals {
  readonly now?: () => number
  readonly sleep?: (ms: number) => Promise<void>
}

function internals (options: unknown): TokenStoreInternals | undefined {
  return (options as { [kTokenStoreInternals]?: TokenStoreInternals } | undefined)?.[kTokenStoreInternals]
}

export function internalClock (options: unknown): () => number {
  return internals(options)?.now ?? Date.now
}

export function internalSleep (options: unknown): (ms: number) => Promise<void> {
  return internals(options)?.sleep ?? sleep
}

/** The most 1 ms waits {@link pastMillisecond} makes: a clock stepped back (NTP) cannot hold a logout. */
const MAX_WAITS = 10

/**
 * Resolves once the clock has left the millisecond `cutoff`: from then on a JWT gets a later
 * `iat`, and a revokeAll made at `cutoff` does not refuse it. A millisecond or two, and never
 * more than {@link MAX_WAITS} waits.
 */
export async function pastMillisecond (cutoff: number, now: () => number, wait: (ms: number) => Promise<void>): Promise<void> {
  for (let waits = 0; waits < MAX_WAITS && now() <= cutoff; waits++) await wait(1)
}

/**
 * Was a JWT with this `iat` issued no later than the millisecond `cutoff` (epoch ms)? Compared
 * as NumericDates: `cutoff` ends where millisecond `cutoff + 1` starts, and `x / 1000` is the
 * double nearest to x ms in seconds, as a JSON `iat` of that millisecond parses. A whole-second
 * iat is thereby refused throughout the second it names. A missing iat is not refused: only
 * its jti can revoke such a JWT.
 */
export function issuedBy (iat: unknown, cutoff: number): boolean {
  return typeof iat === 'number' && iat < (cutoff + 1) / 1000
}

/**
 * Seconds past `exp` a JWT may still verify (the JWT verifier's largest `clockTolerance`):
 * revocations are kept this much longer than the tokens they cover.
 */
export const MAX_CLOCK_TOLERANCE = 300

const TOKEN_BYTES = 32
// base64url of 32 bytes, no padding.
const OPAQUE_TOKEN = /^[A-Za-z0-9_-]{43}$/
const MAX_LIFETIME = 365 * 24 * 3600

/** A fresh opaque token: 256 bits from the CSPRNG. */
export function newToken (): string {
  return randomBytes(TOKEN_BYTES).toString('base64url')
}

/** Could this store have issued it? Anything else is refused without a lookup. */
export function isOpaqueToken (token: string): boolean {
  return OPAQUE_TOKEN.test(token)
}

/** SHA-256, base64url: how tokens, JWT ids and subjects are keyed. Stores never keep the raw value. */
export function digest (value: string): string {
  return hash('sha256', value, 'base64url')
}

/** Checks a grant and fills in its defaults; throws TypeError or RangeError. */
export function checkGrant (grant: TokenGrant): { subject: string, expiresIn: number, scopes: readonly string[], user: AuthUser, jkt: string | undefined } {
  if (typeof grant !== 'object' || grant === null) throw new TypeError('issue: the grant must be an object')
  const { subject, expiresIn, scopes = [], user = { sub: subject } as unknown as AuthUser, jkt } = grant
  if (typeof subject !== 'string' || subject === '') throw new TypeError('issue: subject must be a non-empty string')
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_LIFETIME) throw new RangeError(`issue: expiresIn must be a whole number of seconds from 1 to ${MAX_LIFETIME}`)
  if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string' && SCOPE_TOKEN.test(scope))) throw new TypeError('issue: scopes must be an array of scope tokens')
  if (typeof user !== 'object' || user === null || Array.isArray(user)) throw new TypeError('issue: user must be an object')
  if (jkt !== undefined && (typeof jkt !== 'string' || !JKT.test(jkt))) throw new TypeError('issue: jkt must be an RFC 7638 SHA-256 thumbprint (43 base64url characters)')
  return { subject, expiresIn, scopes, user, jkt }
}

/** An RFC 7638 SHA-256 JWK thumbprint, base64url (RFC 9449 §6.1). */
export const JKT = /^[A-Za-z0-9_-]{43}$/

export function freezeRecord (subject: string, user: AuthUser, scopes: readonly string[], expiresAt: number, jkt?: string): TokenRecord {
  const record = { subject, user: Object.freeze(user), scopes: Object.freeze([...scopes]), expiresAt }
  return Object.freeze(jkt === undefined ? record : { ...record, jkt })
}

/** A {@link TokenStore.useOnce} key and lifetime; throws TypeError or RangeError. */
export function checkUseOnce (key: unknown, ttlMs: unknown): void {
  if (typeof key !== 'string' || key === '' || key.length > 512) throw new TypeError('useOnce: key must be a non-empty string of at most 512 characters')
  if (!Number.isInteger(ttlMs) || (ttlMs as number) < 1 || (ttlMs as number) > MAX_LIFETIME * 1000) throw new RangeError('useOnce: ttlMs must be a whole number of milliseconds, at least 1')
}

/** A JWT id to record: a non-empty string, with the token's exp as a number. */
export function checkJti (jti: unknown, exp: unknown): void {
  if (typeof jti !== 'string' || jti === '') throw new TypeError('revokeJti: jti must be a non-empty string')
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new TypeError('revokeJti: exp must be the token\'s exp, in epoch seconds')
}

/**
 * Positive whole-number option, or its default.
 * @internal
 */
export function positive (value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer`)
  return value
}
