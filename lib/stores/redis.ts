import { LruMap } from 'toad-cache'
import { VerifierUnavailableError } from '../errors.js'
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

/** A MULTI or a pipeline, as ioredis's `multi(commands)` and `pipeline(commands)` return it. */
export interface RedisBatch {
  exec (): Promise<Array<[Error | null, unknown]> | null>
}

/** The connection the store subscribes on: what ioredis's `duplicate()` returns. */
export interface RedisSubscriber {
  readonly status: string
  subscribe (channel: string): Promise<unknown>
  on (event: string, listener: (...args: never[]) => void): unknown
  disconnect (): void
}

/**
 * The part of an ioredis client (`new Redis(url)`, ioredis 5 or 6) the store uses. Written out
 * here so that the plugin's types do not need ioredis installed.
 */
export interface RedisClient {
  readonly status: string
  /** Used once, on a `lazyConnect` client still in status `'wait'`: the store's first operation connects it. */
  connect (): Promise<unknown>
  /** The store listens for the client's first `'ready'` (and `'end'`), once, then removes its listeners. */
  on (event: string, listener: () => void): unknown
  removeListener (event: string, listener: () => void): unknown
  get (key: string): Promise<string | null>
  /** `SET key value PX ms NX`: the DPoP replay cache. */
  set (key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<string | null>
  mget (...keys: string[]): Promise<Array<string | null>>
  multi (commands: unknown[][]): RedisBatch
  pipeline (commands: unknown[][]): RedisBatch
  duplicate (override?: Record<string, unknown>): RedisSubscriber
}

/** Options of {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /** Prefix of every key and of the pub/sub channel, so that several apps can share a Redis. @default 'fpr:' */
  prefix?: string
  /**
   * Milliseconds a Redis operation may take before it fails with `VerifierUnavailableError` (503),
   * waiting for the client's first connection included.
   * @default 1000
   */
  timeout?: number
  /**
   * The local cache in front of Redis: lookups and JWT revocation checks, for at most `ttl` ms.
   * A revoke anywhere evicts the entry on every instance through pub/sub; while this instance's
   * subscription is down, the cache is emptied and not used. `false` turns it off.
   * @default { max: 10000, ttl: 5000 }
   */
  cache?: false | { max?: number, ttl?: number }
  /**
   * Seconds a {@link TokenStore.revokeAll} keeps refusing the subject's older JWTs: at least the
   * longest access-token lifetime.
   * @default 86400
   */
  maxJwtLifetime?: number
  /** Receives the errors of the store's own subscriber connection (the app listens on its client). */
  onError?: (err: Error) => void
}

interface CacheEntry {
  readonly value: TokenRecord | string | null
  readonly until: number
}

function ignore (): void {}

function unavailable (cause?: unknown): Error {
  return cause === undefined ? new VerifierUnavailableError() : new VerifierUnavailableError({ cause })
}

/** The replies of a MULTI or pipeline; a failed command fails the whole operation. */
function replies (results: Array<[Error | null, unknown]> | null): unknown[] {
  // exec() answers null only when a WATCHed key changed; this store watches none.
  return results!.map(([err, reply]) => {
    if (err !== null) throw err
    return reply
  })
}

/**
 * A revokeAll cutoff as kept in Redis: epoch seconds with three decimals (`1767225600.123`).
 * A NumericDate still, so that a store of an earlier version, which wrote and compared whole
 * seconds, reads it with the meaning it had (its `iat <= cutoff`).
 */
function formatCutoff (ms: number): string {
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`
}

const MILLISECONDS = /^(\d+)\.(\d{3})$/

/** The cutoff in epoch ms. Whole seconds (an earlier version's) cover the whole of that second. */
function parseCutoff (value: string): number {
  const parts = MILLISECONDS.exec(value)
  return parts === null ? Number(value) * 1000 + 999 : Number(parts[1]) * 1000 + Number(parts[2])
}

function parseRecord (json: string): TokenRecord {
  const { subject, user, scopes, expiresAt, jkt } = JSON.parse(json) as TokenRecord
  return freezeRecord(subject, user, scopes, expiresAt, jkt)
}

/**
 * A {@link TokenStore} in Redis (7 or later), shared by every instance that uses the same Redis
 * and prefix. Redis holds SHA-256 digests of tokens, JWT ids and subjects, never the values;
 * lifetimes are Redis TTLs. A lookup is one GET; revokeAll is one MULTI and one pipeline.
 *
 * Pass the ioredis client the app created (its `'error'` listener is the app's), connected or
 * not: until it is first ready, operations wait for it (within `timeout`; a `lazyConnect` client
 * is connected by the first one). Once it has been ready, an operation while it is not fails at
 * once with `VerifierUnavailableError`. The store opens one more connection,
 * `client.duplicate()`, for pub/sub, and closes it in {@link close}; operations never wait for it
 * (the local cache is simply not used until it is subscribed).
 *
 * @example
 * const redis = new Redis(process.env.REDIS_URL)
 * redis.on('error', (err) => app.log.warn({ err }, 'redis'))
 * const store = new RedisTokenStore(redis)
 * app.addHook('onClose', async () => { await store.close(); redis.disconnect() })
 */
export class RedisTokenStore implements TokenStore {
  readonly #client: RedisClient
  readonly #subscriber: RedisSubscriber
  readonly #prefix: string
  readonly #channel: string
  readonly #timeout: number
  readonly #ttl: number
  readonly #jwtWindowMs: number
  readonly #now: () => number
  readonly #sleep: (ms: number) => Promise<void>
  readonly #cache: LruMap<CacheEntry> | undefined
  /** The cache is used only while the subscription is live: invalidations cannot be missed. */
  #subscribed = false
  /** Bumped at each invalidation: a lookup that saw one while in flight does not cache its answer. */
  #epoch = 0
  #closed = false
  /**
   * Until the client is first ready: what operations made meanwhile wait for, one promise (and
   * one pair of listeners) for all of them. Undefined once it settled: from then on the store
   * never waits.
   */
  #connecting: Promise<Error | undefined> | undefined
  #settleConnecting: ((failure?: Error) => void) | undefined

  constructor (client: RedisClient, options: RedisTokenStoreOptions = {}) {
    if (typeof client?.duplicate !== 'function' || typeof client.multi !== 'function') throw new TypeError('RedisTokenStore needs an ioredis client')
    const { prefix = 'fpr:', cache = {}, onError } = options
    if (typeof prefix !== 'string') throw new TypeError('prefix must be a string')
    if (cache !== false && (typeof cache !== 'object' || cache === null)) throw new TypeError('cache must be false or { max, ttl }')
    if (onError !== undefined && typeof onError !== 'function') throw new TypeError('onError must be a function')
    this.#client = client
    this.#prefix = prefix
    this.#channel = `${prefix}revoked`
    this.#timeout = positive(options.timeout, 'timeout', 1000)
    this.#jwtWindowMs = (positive(options.maxJwtLifetime, 'maxJwtLifetime', 86_400) + MAX_CLOCK_TOLERANCE) * 1000
    this.#now = internalClock(options)
    this.#sleep = internalSleep(options)
    this.#ttl = cache === false ? 0 : positive(cache.ttl, 'cache.ttl', 5000)
    this.#cache = cache === false ? undefined : new LruMap<CacheEntry>(positive(cache.max, 'cache.max', 10_000))
    if (client.status !== 'ready') this.#connecting = this.#firstReady(client)

    // Our own connection, subscribed by us on every 'ready' (not ioredis's autoResubscribe), so
    // that we know when invalidations flow again.
    const subscriber = this.#subscriber = client.duplicate({ lazyConnect: false, autoResubscribe: false, enableOfflineQueue: false })
    subscriber.on('error', (err: Error) => onError?.(err))
    subscriber.on('close', () => this.#unsubscribed())
    subscriber.on('ready', () => {
      subscriber.subscribe(this.#channel).then(() => {
        this.#invalidateAll()
        // A store closed while this subscribe was in flight stays unsubscribed. (No branch here:
        // whether close() wins that race depends on timing, and a timing-dependent branch made
        // the coverage gate flaky.)
        this.#subscribed = !this.#closed
      }, () => this.#unsubscribed())
    })
    // Only our channel is subscribed: every message is a space-separated list of cache keys.
    subscriber.on('message', (_channel: string, message: string) => {
      this.#epoch++
      for (const key of message.split(' ')) this.#cache?.delete(key)
    })
  }

  /** Is the subscription live (revocations made elsewhere reach the local cache)? */
  get subscribed (): boolean {
    return this.#subscribed
  }

  async issue (grant: TokenGrant): Promise<IssuedToken> {
    const { subject, expiresIn, scopes, user, jkt } = checkGrant(grant)
    const token = newToken()
    const key = digest(token)
    const now = this.#now()
    const ttl = expiresIn * 1000
    const expiresAt = now + ttl
    const record = JSON.stringify({ subject, user, scopes, expiresAt, jkt })
    const tokens = this.#key('u:', digest(subject))
    await this.#run(async () => replies(await this.#client.multi([
      ['set', this.#key('t:', key), record, 'PX', ttl],
      // The subject's tokens, scored by expiry: revokeAll reads them; expired ones are pruned here.
      ['zadd', tokens, expiresAt, key],
      ['zremrangebyscore', tokens, '-inf', now],
      // The set lives as long as its longest-lived token (NX for a new set, GT for an older one).
      ['pexpire', tokens, ttl, 'NX'],
      ['pexpire', tokens, ttl, 'GT']
    ]).exec()))
    return { token, expiresAt }
  }

  async lookup (token: string): Promise<TokenRecord | null> {
    if (!isOpaqueToken(token)) return null
    const cacheKey = 't:' + digest(token)
    const hit = this.#cached(cacheKey)
    if (hit !== undefined) return hit as TokenRecord
    const epoch = this.#epoch
    const json = await this.#run(() => this.#client.get(this.#prefix + cacheKey))
    const record = json === null ? null : parseRecord(json)
    // Misses are not cached: an unknown token costs a GET, but cannot fill the cache.
    if (record !== null) this.#remember(cacheKey, record, epoch, record.expiresAt)
    return record
  }

  async revoke (token: string): Promise<boolean> {
    if (!isOpaqueToken(token)) return false
    const cacheKey = 't:' + digest(token)
    this.#invalidate([cacheKey])
    const [deleted] = await this.#run(async () => replies(await this.#client.pipeline([
      ['del', this.#prefix + cacheKey],
      ['publish', this.#channel, cacheKey]
    ]).exec()))
    return deleted === 1
  }

  async revokeAll (subject: string): Promise<number> {
    if (typeof subject !== 'string' || subject === '') throw new TypeError('revokeAll: subject must be a non-empty string')
    const subjectKey = digest(subject)
    const tokens = this.#key('u:', subjectKey)
    const cutoff = this.#now()
    // Atomically: take the subject's tokens, and refuse its JWTs issued up to now.
    const [keys] = await this.#run(async () => replies(await this.#client.multi([
      ['zrange', tokens, 0, -1],
      ['del', tokens],
      ['set', this.#key('s:', subjectKey), formatCutoff(cutoff), 'PX', this.#jwtWindowMs]
    ]).exec())) as [string[]]
    const cacheKeys = [...keys.map((key) => 't:' + key), 's:' + subjectKey]
    this.#invalidate(cacheKeys)
    const deleted = await this.#run(async () => replies(await this.#client.pipeline([
      ...keys.map((key) => ['del', this.#key('t:', key)]),
      ['publish', this.#channel, cacheKeys.join(' ')]
    ]).exec()))
    await pastMillisecond(cutoff, this.#now, this.#sleep)
    return deleted.slice(0, -1).filter((count) => count === 1).length
  }

  async revokeJti (jti: string, exp: number): Promise<void> {
    checkJti(jti, exp)
    const ttl = (exp + MAX_CLOCK_TOLERANCE) * 1000 - this.#now()
    if (ttl <= 0) return
    const cacheKey = 'j:' + digest(jti)
    this.#invalidate([cacheKey])
    await this.#run(async () => replies(await this.#client.pipeline([
      ['set', this.#prefix + cacheKey, '1', 'PX', Math.ceil(ttl)],
      ['publish', this.#channel, cacheKey]
    ]).exec()))
  }

  async isJwtRevoked (claims: RevocableClaims): Promise<boolean> {
    const jtiKey = typeof claims.jti === 'string' ? 'j:' + digest(claims.jti) : undefined
    const subjectKey = typeof claims.sub === 'string' && typeof claims.iat === 'number' ? 's:' + digest(claims.sub) : undefined
    let jti = jtiKey === undefined ? null : this.#cached(jtiKey)
    let cutoff = subjectKey === undefined ? null : this.#cached(subjectKey)
    if (jti === undefined || cutoff === undefined) {
      // One round trip for whatever the cache did not have.
      const epoch = this.#epoch
      const [jtiValue, cutoffValue] = await this.#run(() => this.#client.mget(this.#prefix + (jtiKey ?? 'j:'), this.#prefix + (subjectKey ?? 's:')))
      jti = jtiKey === undefined ? null : jtiValue!
      cutoff = subjectKey === undefined ? null : cutoffValue!
      if (jtiKey !== undefined) this.#remember(jtiKey, jti, epoch)
      if (subjectKey !== undefined) this.#remember(subjectKey, cutoff, epoch)
    }
    // A subject key's value (cached or not) is always the cutoff string.
    return jti !== null || (cutoff !== null && issuedBy(claims.iat, parseCutoff(cutoff as string)))
  }

  /** One `SET key 1 NX PX ttl`: atomic across every instance that shares this Redis and prefix. */
  async useOnce (key: string, ttlMs: number): Promise<boolean> {
    checkUseOnce(key, ttlMs)
    const reply = await this.#run(() => this.#client.set(this.#key('p:', digest(key)), '1', 'PX', ttlMs, 'NX'))
    return reply === 'OK'
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#settleConnecting?.(new Error('The store was closed before Redis was ready'))
    this.#unsubscribed()
    this.#subscriber.disconnect()
  }

  #key (kind: string, key: string): string {
    return this.#prefix + kind + key
  }

  /**
   * Runs Redis work: at once when the client is ready; after its first connection while the
   * client has not been ready since the store was built; else 503 at once. Whatever the
   * path, 503 after `timeout` ms.
   *
   * ioredis's statuses: 'wait' (lazyConnect, nothing started), 'connecting' (TCP), 'connect'
   * (handshake: AUTH, SELECT, ready check), 'ready'; a closed connection goes 'close' then
   * 'reconnecting' (retryStrategy's delay) and 'connecting' again, or 'end' when ioredis gives up
   * or the app disconnects. Before the first 'ready' all but 'end' are a boot in progress (Redis
   * may well start after the app); after it, all but 'ready' are an outage, where waiting would
   * only hold every request for `timeout` (a re-attempt to a host that drops packets stays
   * 'connecting' for ioredis's connectTimeout, 10 s).
   */
  #run<T> (work: () => Promise<T>): Promise<T> {
    const status = this.#client.status
    if (status === 'ready') return this.#timed(work(), this.#timeout)
    if (this.#connecting === undefined || status === 'end') return Promise.reject(unavailable())
    return this.#afterFirstReady(status, this.#connecting, work)
  }

  async #afterFirstReady<T> (status: string, connecting: Promise<Error | undefined>, work: () => Promise<T>): Promise<T> {
    // lazyConnect: the app left the connecting to its first command. The store sends none before
    // 'ready', so it connects the client itself; failures arrive as the client's events.
    if (status === 'wait') this.#client.connect().catch(ignore)
    const deadline = performance.now() + this.#timeout
    const failure = await this.#timed(connecting, this.#timeout)
    if (failure !== undefined) throw unavailable(failure)
    // What is left of the same `timeout` (setTimeout takes a delay below 1 as 1 ms).
    return await this.#timed(work(), deadline - performance.now())
  }

  /** The client's first 'ready' (undefined), or why there will be none: its 'end', or close(). */
  #firstReady (client: RedisClient): Promise<Error | undefined> {
    return new Promise((resolve) => {
      const settle = (failure?: Error): void => {
        client.removeListener('ready', ready)
        client.removeListener('end', end)
        this.#connecting = undefined
        this.#settleConnecting = undefined
        resolve(failure)
      }
      const ready = (): void => settle()
      const end = (): void => settle(new Error('Redis closed the connection before it was ready'))
      client.on('ready', ready)
      client.on('end', end)
      this.#settleConnecting = settle
    })
  }

  /** Settles as `pending` does, or with a 503 error after `ms`; every failure is a 503 error. */
  #timed<T> (pending: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.#timeout} ms`)), ms)
    })
    return Promise.race([pending, timeout]).then((value) => {
      clearTimeout(timer)
      return value
    }, (err: unknown) => {
      clearTimeout(timer)
      throw unavailable(err)
    })
  }

  #cached (key: string): TokenRecord | string | null | undefined {
    // Not while the client is away either: the subscription may not have noticed yet, and a
    // revocation made meanwhile could not reach this cache. Fail closed, cache or not.
    if (!this.#subscribed || this.#client.status !== 'ready') return undefined
    const entry = this.#cache?.get(key)
    if (entry === undefined) return undefined
    if (this.#now() < entry.until) return entry.value
    this.#cache!.delete(key)
    return undefined
  }

  #remember (key: string, value: TokenRecord | string | null, epoch: number, expiresAt = Infinity): void {
    if (this.#cache === undefined || !this.#subscribed || epoch !== this.#epoch) return
    this.#cache.set(key, { value, until: Math.min(this.#now() + this.#ttl, expiresAt) })
  }

  #invalidate (keys: readonly string[]): void {
    this.#epoch++
    for (const key of keys) this.#cache?.delete(key)
  }

  #invalidateAll (): void {
    this.#epoch++
    this.#cache?.clear()
  }

  #unsubscribed (): void {
    this.#subscribed = false
    this.#invalidateAll()
  }
}
