import {
  checkGrant,
  checkJti,
  checkUseOnce,
  digest,
  freezeRecord,
  internalClock,
  internalSleep,
  isOpaqueToken,
  issuedBy,
  MAX_CLOCK_TOLERANCE,
  newToken,
  pastMillisecond,
  positive,
  type IssuedToken,
  type RevocableClaims,
  type TokenGrant,
  type TokenRecord,
  type TokenStore
} from './token-store.js'

/** Options of {@link MemoryTokenStore}. */
export interface MemoryTokenStoreOptions {
  /**
   * Most live opaque tokens kept. When full, expired tokens are dropped first, then the oldest
   * issued (its user must log in again: never a token kept past its revocation).
   * @default 10000
   */
  maxTokens?: number
  /**
   * Most revocations kept (revoked JWT ids, and revoke-all marks), each until the tokens it
   * covers have expired. When full and none has expired, revoking a JWT throws a RangeError
   * rather than forget an earlier revocation.
   * @default 100000
   */
  maxRevocations?: number
  /**
   * Seconds a {@link TokenStore.revokeAll} keeps refusing the subject's older JWTs: at least the
   * longest access-token lifetime (plus clock tolerance).
   * @default 86400
   */
  maxJwtLifetime?: number
  /**
   * Most DPoP proof ids ({@link TokenStore.useOnce}) kept, each for the proof window. When full
   * and none has expired, `useOnce` throws a RangeError (the request gets 500): a proof id is
   * never forgotten early, which would let its proof be replayed.
   * @default 100000
   */
  maxProofs?: number
}

/**
 * The default {@link TokenStore}: this process only, in Maps with a cap (no LRU: entries leave
 * in issue order or at expiry, so a live revocation is never evicted). Tokens are keyed by their
 * SHA-256 digest. For more than one instance use {@link RedisTokenStore}.
 *
 * @example
 * const store = new MemoryTokenStore()
 * const { token } = await store.issue({ subject: 'alice', scopes: ['items:read'], expiresIn: 900 })
 */
export class MemoryTokenStore implements TokenStore {
  readonly #now: () => number
  readonly #sleep: (ms: number) => Promise<void>
  readonly #maxTokens: number
  readonly #maxRevocations: number
  /** How long a revokeAll mark is kept: maxJwtLifetime plus the JWT verifier's largest clock tolerance. */
  readonly #jwtWindowMs: number
  /** digest -> record, in issue order. */
  readonly #tokens = new Map<string, TokenRecord>()
  /** subject -> digests of its tokens. */
  readonly #bySubject = new Map<string, Set<string>>()
  /** 'j' + digest(jti) -> revoked until (ms); 's' + digest(sub) -> { cutoff, until } (both ms). */
  readonly #revocations = new Map<string, { cutoff: number, until: number }>()
  readonly #maxProofs: number
  /** useOnce keys -> used until (ms), roughly in expiry order. */
  readonly #used = new Map<string, number>()

  constructor (options: MemoryTokenStoreOptions = {}) {
    this.#now = internalClock(options)
    this.#sleep = internalSleep(options)
    this.#maxTokens = positive(options.maxTokens, 'maxTokens', 10_000)
    this.#maxRevocations = positive(options.maxRevocations, 'maxRevocations', 100_000)
    this.#jwtWindowMs = (positive(options.maxJwtLifetime, 'maxJwtLifetime', 86_400) + MAX_CLOCK_TOLERANCE) * 1000
    this.#maxProofs = positive(options.maxProofs, 'maxProofs', 100_000)
  }

  async issue (grant: TokenGrant): Promise<IssuedToken> {
    const { subject, expiresIn, scopes, user, jkt } = checkGrant(grant)
    const now = this.#now()
    if (this.#tokens.size >= this.#maxTokens) this.#makeRoom(now)
    const token = newToken()
    const key = digest(token)
    const expiresAt = now + expiresIn * 1000
    // A copy: the caller's user object stays theirs, as it would through Redis.
    this.#tokens.set(key, freezeRecord(subject, structuredClone(user), scopes, expiresAt, jkt))
    let keys = this.#bySubject.get(subject)
    if (keys === undefined) this.#bySubject.set(subject, keys = new Set())
    keys.add(key)
    return { token, expiresAt }
  }

  async lookup (token: string): Promise<TokenRecord | null> {
    if (!isOpaqueToken(token)) return null
    const key = digest(token)
    const record = this.#tokens.get(key)
    if (record === undefined) return null
    if (this.#now() >= record.expiresAt) {
      this.#forget(key, record)
      return null
    }
    return record
  }

  async revoke (token: string): Promise<boolean> {
    if (!isOpaqueToken(token)) return false
    const key = digest(token)
    const record = this.#tokens.get(key)
    if (record === undefined) return false
    this.#forget(key, record)
    return this.#now() < record.expiresAt
  }

  async revokeAll (subject: string): Promise<number> {
    if (typeof subject !== 'string' || subject === '') throw new TypeError('revokeAll: subject must be a non-empty string')
    const now = this.#now()
    let live = 0
    const keys = this.#bySubject.get(subject)
    if (keys !== undefined) {
      this.#bySubject.delete(subject)
      for (const key of keys) {
        if (now < this.#tokens.get(key)!.expiresAt) live++
        this.#tokens.delete(key)
      }
    }
    this.#remember('s' + digest(subject), now, now + this.#jwtWindowMs, now)
    await pastMillisecond(now, this.#now, this.#sleep)
    return live
  }

  async revokeJti (jti: string, exp: number): Promise<void> {
    checkJti(jti, exp)
    const now = this.#now()
    const until = (exp + MAX_CLOCK_TOLERANCE) * 1000
    if (until > now) this.#remember('j' + digest(jti), 0, until, now)
  }

  async isJwtRevoked (claims: RevocableClaims): Promise<boolean> {
    const now = this.#now()
    if (typeof claims.jti === 'string' && this.#live('j' + digest(claims.jti), now) !== undefined) return true
    if (typeof claims.sub !== 'string') return false
    const mark = this.#live('s' + digest(claims.sub), now)
    return mark !== undefined && issuedBy(claims.iat, mark.cutoff)
  }

  async useOnce (key: string, ttlMs: number): Promise<boolean> {
    checkUseOnce(key, ttlMs)
    const now = this.#now()
    const until = this.#used.get(key)
    if (until !== undefined && now < until) return false
    this.#used.delete(key)
    if (this.#used.size >= this.#maxProofs) {
      for (const [old, end] of this.#used) {
        if (now >= end) this.#used.delete(old)
      }
      if (this.#used.size >= this.#maxProofs) throw new RangeError('MemoryTokenStore: maxProofs reached; no proof id has expired yet')
    }
    this.#used.set(key, now + ttlMs)
    return true
  }

  async close (): Promise<void> {
    this.#tokens.clear()
    this.#bySubject.clear()
    this.#revocations.clear()
    this.#used.clear()
  }

  #live (key: string, now: number): { cutoff: number, until: number } | undefined {
    const entry = this.#revocations.get(key)
    if (entry === undefined || now < entry.until) return entry
    this.#revocations.delete(key)
    return undefined
  }

  #remember (key: string, cutoff: number, until: number, now: number): void {
    // Re-inserted, so that the Map's order stays roughly the order of expiry.
    this.#revocations.delete(key)
    if (this.#revocations.size >= this.#maxRevocations) {
      for (const [old, entry] of this.#revocations) {
        if (now >= entry.until) this.#revocations.delete(old)
      }
      if (this.#revocations.size >= this.#maxRevocations) throw new RangeError('MemoryTokenStore: maxRevocations reached; no revocation has expired yet')
    }
    this.#revocations.set(key, { cutoff, until })
  }

  #forget (key: string, record: TokenRecord): void {
    this.#tokens.delete(key)
    const keys = this.#bySubject.get(record.subject)!
    keys.delete(key)
    if (keys.size === 0) this.#bySubject.delete(record.subject)
  }

  /** Drops every expired token; if none had, the oldest issued. */
  #makeRoom (now: number): void {
    for (const [key, record] of this.#tokens) {
      if (now >= record.expiresAt) this.#forget(key, record)
    }
    if (this.#tokens.size >= this.#maxTokens) {
      const [key, record] = this.#tokens.entries().next().value!
      this.#forget(key, record)
    }
  }
}
