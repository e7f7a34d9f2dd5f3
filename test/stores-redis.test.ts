import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { setImmediate } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { RedisTokenStore, VerifierUnavailableError, type RedisClient, type RedisTokenStoreOptions } from '../lib/index.js'
import { kTokenStoreInternals } from '../lib/stores/token-store.js'
import { redisClient, redisServer, until, type RedisServer } from './helpers/redis.js'

const server = await redisServer(t)
const admin = await redisClient(t, server)

const digest = (value: string): string => createHash('sha256').update(value).digest('base64url')
const nowSeconds = (): number => Math.floor(Date.now() / 1000)

let prefixes = 0
/** A prefix per store: the tests share one redis-server and never see each other's keys. */
const freshPrefix = (): string => `r${prefixes++}:`

/** A store on a client of its own, closed in teardown, subscribed before it is returned. */
async function store (t: Test, options: RedisTokenStoreOptions = {}, client?: RedisClient): Promise<RedisTokenStore> {
  const created = new RedisTokenStore(client ?? await redisClient(t, server), { prefix: freshPrefix(), ...options })
  t.teardown(() => created.close())
  await until(() => created.subscribed)
  return created
}

/** Wraps a client to record each round trip the store makes (a GET, an MGET, a MULTI or a pipeline). */
function counting (client: Redis, delayGet?: () => Promise<void>): { client: RedisClient, calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    client: {
      get status () { return client.status },
      connect: () => client.connect(),
      on: (event, listener) => client.on(event, listener),
      removeListener: (event, listener) => client.removeListener(event, listener),
      async get (key) {
        calls.push('get')
        const value = await client.get(key)
        await delayGet?.()
        return value
      },
      mget: (...keys) => { calls.push('mget'); return client.mget(...keys) },
      set: (key, value, px, ms, nx) => { calls.push('set'); return client.set(key, value, px, ms, nx) },
      multi: (commands) => { calls.push('multi'); return client.multi(commands) },
      pipeline: (commands) => { calls.push('pipeline'); return client.pipeline(commands) },
      duplicate: (override) => client.duplicate(override)
    }
  }
}

function assertUnavailable (t: Test, err: unknown, cause?: string): void {
  t.ok(err instanceof VerifierUnavailableError, 'a VerifierUnavailableError (503)')
  if (cause !== undefined) t.equal(((err as Error).cause as Error).message, cause)
}

t.test('Redis holds digests only, never a token, and lifetimes are Redis TTLs', async (t) => {
  const prefix = freshPrefix()
  const tokens = await store(t, { prefix, maxJwtLifetime: 3600 })
  const { token } = await tokens.issue({ subject: 'alice', scopes: ['me:read'], expiresIn: 900 })
  const exp = nowSeconds() + 600
  await tokens.revokeJti('jwt-id-1', exp)
  await tokens.revokeAll('bob')

  const keys = (await admin.keys(`${prefix}*`)).sort()
  t.same(keys, [`${prefix}s:${digest('bob')}`, `${prefix}t:${digest(token)}`, `${prefix}u:${digest('alice')}`, `${prefix}j:${digest('jwt-id-1')}`].sort())
  const values = await Promise.all(keys.map(async (key) => (await admin.type(key)) === 'zset' ? (await admin.zrange(key, '0', '-1')).join() : await admin.get(key)))
  for (const text of [...keys, ...values]) {
    t.notOk(text!.includes(token), 'no raw token')
    t.notOk(text!.includes('jwt-id-1'), 'no raw jti')
  }
  t.same(JSON.parse((await admin.get(`${prefix}t:${digest(token)}`))!), { subject: 'alice', user: { sub: 'alice' }, scopes: ['me:read'], expiresAt: JSON.parse((await admin.get(`${prefix}t:${digest(token)}`))!).expiresAt })

  const ttl = async (key: string): Promise<number> => await admin.pttl(`${prefix}${key}`)
  t.ok(Math.abs(await ttl(`t:${digest(token)}`) - 900_000) < 2000, 'the token lives 900 s')
  t.ok(Math.abs(await ttl(`u:${digest('alice')}`) - 900_000) < 2000, 'the subject index as long as its longest token')
  t.ok(Math.abs(await ttl(`j:${digest('jwt-id-1')}`) - (600 + 300) * 1000) < 2000, 'a revoked jti until exp plus the clock tolerance')
  t.ok(Math.abs(await ttl(`s:${digest('bob')}`) - (3600 + 300) * 1000) < 2000, 'a revokeAll mark for maxJwtLifetime plus the tolerance')

  // A longer-lived token extends the subject index; a shorter one does not shorten it.
  await tokens.issue({ subject: 'alice', expiresIn: 1800 })
  t.ok(Math.abs(await ttl(`u:${digest('alice')}`) - 1_800_000) < 2000)
  await tokens.issue({ subject: 'alice', expiresIn: 60 })
  t.ok(Math.abs(await ttl(`u:${digest('alice')}`) - 1_800_000) < 2000)
})

t.test('a lookup is one GET and a cached one none; misses and malformed tokens are never cached', async (t) => {
  const { client, calls } = counting(await redisClient(t, server))
  const tokens = await store(t, {}, client)
  const { token } = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  t.same(calls.splice(0), ['multi'], 'issue is one MULTI')
  t.ok(await tokens.lookup(token))
  t.same(calls.splice(0), ['get'])
  t.ok(await tokens.lookup(token))
  t.same(calls.splice(0), [], 'then the local cache answers')

  const unknown = 'A'.repeat(43)
  t.equal(await tokens.lookup(unknown), null)
  t.equal(await tokens.lookup(unknown), null)
  t.same(calls.splice(0), ['get', 'get'], 'a miss is asked every time')
  t.equal(await tokens.lookup('not-a-token'), null)
  t.same(calls.splice(0), [], 'a malformed token is refused without a round trip')

  const claims = { jti: 'j1', sub: 'alice', iat: nowSeconds() }
  t.equal(await tokens.isJwtRevoked(claims), false)
  t.same(calls.splice(0), ['mget'], 'a JWT check is one MGET (jti and subject)')
  t.equal(await tokens.isJwtRevoked(claims), false)
  t.same(calls.splice(0), [], 'cached')
  t.equal(await tokens.isJwtRevoked({ jti: 'j1' }), false)
  t.same(calls.splice(0), [], 'the jti alone is cached too')
  t.equal(await tokens.isJwtRevoked({ sub: 'bob', iat: nowSeconds() }), false)
  t.same(calls.splice(0), ['mget'])

  t.equal(await tokens.revoke(token), true)
  t.same(calls.splice(0), ['pipeline'], 'revoke is one pipeline (DEL and PUBLISH)')
  t.equal(await tokens.lookup(token), null, 'the revoking instance forgets at once')
  t.equal(await tokens.revokeAll('alice'), 0)
  t.same(calls.splice(0, 2), ['get', 'multi'])
  t.same(calls.splice(0), ['pipeline'], 'revokeAll is one MULTI and one pipeline')
})

t.test('without the cache, every lookup goes to Redis', async (t) => {
  const { client, calls } = counting(await redisClient(t, server))
  const tokens = await store(t, { cache: false }, client)
  const { token } = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  t.ok(await tokens.lookup(token))
  t.ok(await tokens.lookup(token))
  t.equal(await tokens.isJwtRevoked({ jti: 'x' }), false)
  t.equal(await tokens.isJwtRevoked({ jti: 'x' }), false)
  t.same(calls, ['multi', 'get', 'get', 'mget', 'mget'])
})

t.test('a cached entry lasts cache.ttl ms at most, and never past the token\'s expiry', async (t) => {
  let now = Date.now()
  const { client, calls } = counting(await redisClient(t, server))
  const tokens = await store(t, { cache: { ttl: 1000, max: 10 }, [kTokenStoreInternals]: { now: () => now } } as RedisTokenStoreOptions, client)
  const { token } = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  await tokens.lookup(token)
  await tokens.lookup(token)
  now += 1001
  await tokens.lookup(token)
  t.same(calls.splice(0), ['multi', 'get', 'get'])
})

t.test('a revoke on one instance evicts every other instance\'s cached entry within 100 ms (pub/sub)', async (t) => {
  // Two instances, each with a client of its own, on one prefix: two servers of one app.
  const shared = freshPrefix()
  const instanceA = await store(t, { prefix: shared })
  const instanceB = await store(t, { prefix: shared })

  const times: number[] = []
  async function propagation (cache: () => Promise<unknown>, revoke: () => Promise<unknown>, refused: () => Promise<boolean>): Promise<void> {
    await cache()
    await cache()
    t.notOk(await refused(), 'still accepted from the cache')
    await revoke()
    const start = process.hrtime.bigint()
    while (!(await refused())) {
      if (process.hrtime.bigint() - start > 1_000_000_000n) throw new Error('not propagated within 1 s')
      // Let I/O in between two checks, as between two requests: cache hits alone never yield.
      await setImmediate()
    }
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }

  for (let i = 0; i < 5; i++) {
    const { token } = await instanceA.issue({ subject: `user${i}`, expiresIn: 60 })
    await propagation(() => instanceA.lookup(token), () => instanceB.revoke(token), async () => (await instanceA.lookup(token)) === null)
    const claims = { jti: `jti${i}`, sub: `user${i}`, iat: nowSeconds() - 5 }
    await propagation(() => instanceA.isJwtRevoked(claims), () => instanceB.revokeJti(claims.jti, nowSeconds() + 60), () => instanceA.isJwtRevoked(claims))
    const other = await instanceB.issue({ subject: `other${i}`, expiresIn: 60 })
    const otherClaims = { jti: `o${i}`, sub: `other${i}`, iat: nowSeconds() - 5 }
    await propagation(async () => { await instanceA.lookup(other.token); await instanceA.isJwtRevoked(otherClaims) },
      () => instanceB.revokeAll(`other${i}`),
      async () => (await instanceA.lookup(other.token)) === null && await instanceA.isJwtRevoked(otherClaims))
  }
  times.sort((x, y) => x - y)
  t.comment(`revoke -> refused on the other instance, ms: median ${times[Math.floor(times.length / 2)]!.toFixed(2)}, max ${times.at(-1)!.toFixed(2)} (n=${times.length})`)
  t.ok(times.at(-1)! < 100, 'every revoke was seen by the other instance within 100 ms')
})

t.test('an answer that was in flight when a revoke arrived is not cached', async (t) => {
  const shared = freshPrefix()
  let release: () => void = () => {}
  let gate: Promise<void> | undefined
  // Set once Redis has answered a's GET: only then is the revoke sent, on another connection,
  // which Redis could otherwise run first.
  let answered = false
  const { client, calls } = counting(await redisClient(t, server), () => {
    answered = gate !== undefined
    return gate ?? Promise.resolve()
  })
  const a = await store(t, { prefix: shared }, client)
  const b = await store(t, { prefix: shared })
  const { token } = await b.issue({ subject: 'alice', expiresIn: 60 })

  gate = new Promise((resolve) => { release = resolve })
  const inFlight = a.lookup(token)
  await until(() => answered)
  await b.revoke(token)
  // The invalidation reaches a; then the (older) answer comes back.
  await new Promise((resolve) => setTimeout(resolve, 50))
  release()
  gate = undefined
  t.ok(await inFlight, 'the request that was in flight gets the answer Redis gave it')
  t.equal(await a.lookup(token), null, 'but it was not cached: the next lookup asks Redis')
  t.same(calls, ['get', 'get'])
})

t.test('while its subscription is down a store does not use its cache, and starts empty when it is back', async (t) => {
  const { client, calls } = counting(await redisClient(t, server))
  const errors: Error[] = []
  const tokens = await store(t, { onError: (err) => errors.push(err) }, client)
  const { token } = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  await tokens.lookup(token)
  calls.splice(0)
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await until(() => !tokens.subscribed)
  await tokens.lookup(token)
  await tokens.lookup(token)
  t.same(calls.splice(0), ['get', 'get'], 'no cache without the subscription')
  await until(() => tokens.subscribed)
  await tokens.lookup(token)
  await tokens.lookup(token)
  t.same(calls.splice(0), ['get'], 'resubscribed: an empty cache, then used')
})

t.test('Redis slow: an operation fails with a 503 error after `timeout` ms', async (t) => {
  const tokens = await store(t, { timeout: 100 })
  const { token } = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  await admin.call('CLIENT', 'PAUSE', '400', 'ALL')
  const start = Date.now()
  const err = await tokens.lookup(token).catch((thrown: unknown) => thrown)
  const elapsed = Date.now() - start
  assertUnavailable(t, err, 'Redis did not answer within 100 ms')
  t.ok(elapsed >= 95 && elapsed < 300, `failed after ${elapsed} ms`)
  await new Promise((resolve) => setTimeout(resolve, 350))
  t.ok(await tokens.lookup(token), 'answers again once Redis does')
})

t.test('a Redis error reply fails closed as a 503 error', async (t) => {
  const prefix = freshPrefix()
  const tokens = await store(t, { prefix })
  await admin.set(`${prefix}u:${digest('alice')}`, 'not a sorted set')
  const err = await tokens.issue({ subject: 'alice', expiresIn: 60 }).catch((thrown: unknown) => thrown)
  assertUnavailable(t, err)
  t.match(((err as Error).cause as Error).message, /WRONGTYPE/)
})

t.test('a lazyConnect client connects on the store\'s first command', async (t) => {
  const client = await redisClient(t, server, { lazyConnect: true })
  t.equal(client.status, 'wait')
  const tokens = new RedisTokenStore(client, { prefix: freshPrefix() })
  t.teardown(() => tokens.close())
  const { token } = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  t.ok(await tokens.lookup(token))
})

t.test('close() disconnects the store\'s own subscriber and leaves the app\'s client alone', async (t) => {
  const client = await redisClient(t, server)
  const tokens = new RedisTokenStore(client, { prefix: freshPrefix() })
  await until(() => tokens.subscribed)
  await tokens.close()
  t.equal(tokens.subscribed, false)
  t.equal(client.status, 'ready')
  t.equal(await client.ping(), 'PONG')
})

t.test('the constructor refuses what is not an ioredis client, and bad options', async (t) => {
  const client = await redisClient(t, server, { lazyConnect: true })
  t.throws(() => new RedisTokenStore({} as RedisClient), new TypeError('RedisTokenStore needs an ioredis client'))
  t.throws(() => new RedisTokenStore(undefined as unknown as RedisClient), new TypeError('RedisTokenStore needs an ioredis client'))
  const cases: Array<[Record<string, unknown>, TypeError]> = [
    [{ prefix: 1 }, new TypeError('prefix must be a string')],
    [{ cache: true }, new TypeError('cache must be false or { max, ttl }')],
    [{ cache: null }, new TypeError('cache must be false or { max, ttl }')],
    [{ onError: 'log' }, new TypeError('onError must be a function')],
    [{ timeout: 0 }, new TypeError('timeout must be a positive integer')],
    [{ maxJwtLifetime: -1 }, new TypeError('maxJwtLifetime must be a positive integer')],
    [{ cache: { ttl: 0 } }, new TypeError('cache.ttl must be a positive integer')],
    [{ cache: { max: 1.5 } }, new TypeError('cache.max must be a positive integer')]
  ]
  for (const [options, error] of cases) t.throws(() => new RedisTokenStore(client, options as RedisTokenStoreOptions), error, JSON.stringify(options))
})

// Last: it stops and restarts the shared redis-server.
t.test('Redis down: every operation fails at once with a 503 error; it works again when Redis is back', async (t) => {
  const errors: Error[] = []
  const client = await redisClient(t, server)
  const tokens = await store(t, { onError: (err) => errors.push(err), timeout: 1000 }, client)
  await restartScenario(t, server, client, tokens, errors)
})

async function restartScenario (t: Test, redis: RedisServer, client: Redis, tokens: RedisTokenStore, errors: Error[]): Promise<void> {
  const { token } = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  await redis.stop()
  await until(() => client.status !== 'ready' && !tokens.subscribed)
  const operations: Array<[string, () => Promise<unknown>]> = [
    ['issue', () => tokens.issue({ subject: 'alice', expiresIn: 60 })],
    ['lookup', () => tokens.lookup(token)],
    ['revoke', () => tokens.revoke(token)],
    ['revokeAll', () => tokens.revokeAll('alice')],
    ['revokeJti', () => tokens.revokeJti('j', nowSeconds() + 60)],
    ['isJwtRevoked', () => tokens.isJwtRevoked({ jti: 'j' })]
  ]
  for (const [name, operation] of operations) {
    const start = Date.now()
    const err = await operation().catch((thrown: unknown) => thrown)
    t.ok(Date.now() - start < 50, `${name} fails at once`)
    assertUnavailable(t, err)
  }
  await until(() => errors.length > 0)
  t.ok(errors.every((err) => err instanceof Error), 'the subscriber\'s errors went to onError')

  await redis.start()
  await until(() => client.status === 'ready' && tokens.subscribed)
  // redis-server runs without persistence here: what it held is gone, and the store says so.
  t.equal(await tokens.lookup(token), null)
  const fresh = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  t.ok(await tokens.lookup(fresh.token))
}
