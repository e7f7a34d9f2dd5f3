// RedisTokenStore while its ioredis client connects: the first operations after a boot wait for
// the first connection (within `timeout`); once the client has been ready, an outage fails fast.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { RedisTokenStore, VerifierUnavailableError, type RedisTokenStoreOptions } from '../lib/index.js'
import { build, errorBody } from './helpers/app.js'
import { redisClient, redisServer, until, type RedisServer } from './helpers/redis.js'

const server = await redisServer(t)
const admin = await redisClient(t, server)

let prefixes = 0
const freshPrefix = (): string => `c${prefixes++}:`

/** A client as `new Redis(url)` makes one: connecting, not awaited. Disconnected in teardown. */
/** The options these tests vary. */
interface ClientOptions {
  lazyConnect?: boolean
  enableOfflineQueue?: boolean
  retryStrategy?: () => number | null
}

function connecting (t: Test, redis: RedisServer, options: ClientOptions = {}): Redis {
  const client = new Redis({ port: redis.port, host: '127.0.0.1', retryStrategy: () => 50, ...options })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  return client
}

function store (t: Test, client: Redis, options: RedisTokenStoreOptions = {}): RedisTokenStore {
  const created = new RedisTokenStore(client, { prefix: freshPrefix(), ...options })
  t.teardown(() => created.close())
  return created
}

/** The listeners the store may hold on the app's client. */
const listeners = (client: Redis): [number, number] => [client.listenerCount('ready'), client.listenerCount('end')]

const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length

/** A redis-server of the test's own, stopped: its port is one where nothing listens. */
async function stoppedServer (t: Test): Promise<RedisServer> {
  const redis = await redisServer(t)
  await redis.stop()
  return redis
}

async function failure (promise: Promise<unknown>): Promise<{ err: unknown, ms: number }> {
  const start = performance.now()
  const err = await promise.then(() => undefined, (thrown: unknown) => thrown)
  return { err, ms: performance.now() - start }
}

function assertUnavailable (t: Test, err: unknown, cause?: string): void {
  t.ok(err instanceof VerifierUnavailableError, 'a VerifierUnavailableError (503)')
  if (cause !== undefined) t.equal(((err as Error).cause as Error | undefined)?.message, cause)
}

t.test('a store built on a client that is still connecting issues and looks up at once', async (t) => {
  // No offline queue: the store must not count on ioredis queueing its commands.
  const client = connecting(t, server, { enableOfflineQueue: false })
  t.equal(client.status, 'connecting')
  const prefix = freshPrefix()
  const tokens = store(t, client, { prefix })
  const { token } = await tokens.issue({ subject: 'alice', scopes: ['me:read'], expiresIn: 60 })
  t.equal(client.status, 'ready')

  const other = connecting(t, server)
  const lookups = store(t, other, { prefix })
  t.equal(other.status, 'connecting')
  t.match(await lookups.lookup(token), { subject: 'alice', scopes: ['me:read'] }, 'a lookup right after construction')
  t.same(listeners(other), [0, 0], 'the store let go of the client once it was ready')
})

t.test('a lazyConnect client is connected by the store\'s first operation, which waits for it', async (t) => {
  const client = connecting(t, server, { lazyConnect: true, enableOfflineQueue: false })
  const tokens = store(t, client)
  t.equal(client.status, 'wait', 'the store alone does not connect it')
  const { token } = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  t.equal(client.status, 'ready')
  t.ok(await tokens.lookup(token))
})

t.test('the first requests of an app booted with a client still connecting are answered, not refused', async (t) => {
  const prefix = freshPrefix()
  // Another instance, up for a while, issued the token.
  const issuer = store(t, admin, { prefix })
  const { token } = await issuer.issue({ subject: 'alice', expiresIn: 60, user: { username: 'alice' } })

  const client = connecting(t, server)
  const tokens = store(t, client, { prefix })
  const app = await build(t, { schemes: { session: { type: 'bearer', opaque: { store: tokens } } } })
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  t.equal(client.status, 'connecting')
  const [first, unknown] = await Promise.all([
    app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } }),
    app.inject({ url: '/me', headers: { authorization: `Bearer ${'A'.repeat(43)}` } })
  ])
  t.equal(first.statusCode, 200)
  t.same(first.json(), { username: 'alice' })
  t.equal(unknown.statusCode, 401, 'an unknown token is refused as unknown: Redis was asked')
  t.equal(unknown.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"')
  t.same(unknown.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'))
})

t.test('a client pointed where nothing listens: 503 after `timeout`, never a 2xx', async (t) => {
  const nothing = await stoppedServer(t)
  const client = connecting(t, nothing)
  const tokens = store(t, client, { timeout: 200 })
  const app = await build(t, { schemes: { session: { type: 'bearer', opaque: { store: tokens } } }, verifyTimeout: 1000 })
  let ran = false
  app.get('/me', { config: { auth: true } }, async () => { ran = true; return 'ok' })
  const start = performance.now()
  const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${'A'.repeat(43)}` } })
  const ms = performance.now() - start
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
  t.same(res.json(), errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable'))
  t.notOk(ran, 'the handler never ran')
  t.ok(ms >= 190 && ms < 600, `refused after ${ms.toFixed(0)} ms`)

  const { err } = await failure(tokens.issue({ subject: 'alice', expiresIn: 60 }))
  assertUnavailable(t, err, 'Redis did not answer within 200 ms')
})

t.test('many operations waiting on one connection share one listener, and none is left after', async (t) => {
  const later = await stoppedServer(t)
  const client = connecting(t, later)
  // The same client without a store: what ioredis itself listens with, before and after.
  const control = connecting(t, later)
  const before = listeners(client)
  const timersBefore = timers()
  const tokens = store(t, client, { timeout: 5000 })
  t.same(listeners(client), [before[0] + 1, before[1] + 1], 'one listener for ready, one for end')
  const waiting = Array.from({ length: 100 }, () => tokens.lookup('A'.repeat(43)))
  t.same(listeners(client), [before[0] + 1, before[1] + 1], 'still one each with 100 operations waiting')
  // Redis starts after the app: the operations were waiting, not refused.
  await later.start()
  t.same(await Promise.all(waiting), Array.from({ length: 100 }, () => null))
  await until(() => control.status === 'ready')
  t.same(listeners(client), listeners(control), 'none of the store\'s listeners is left')
  // Each operation has its deadline (5 s here): a leak would leave 100 behind.
  t.ok(timers() - timersBefore < 10, `timers: ${timersBefore} before, ${timers()} after`)
})

t.test('a store on a ready client never listens on it', async (t) => {
  const client = await redisClient(t, server)
  const before = listeners(client)
  const tokens = store(t, client)
  await tokens.lookup('A'.repeat(43))
  t.same(listeners(client), before)
})

t.test('an operation that timed out waiting is not sent once the client connects', async (t) => {
  const later = await stoppedServer(t)
  const client = connecting(t, later)
  const prefix = freshPrefix()
  const tokens = store(t, client, { prefix, timeout: 100 })
  const { err, ms } = await failure(tokens.issue({ subject: 'alice', expiresIn: 60 }))
  assertUnavailable(t, err, 'Redis did not answer within 100 ms')
  t.ok(ms >= 95 && ms < 400, `after ${ms.toFixed(0)} ms`)
  await later.start()
  await until(() => client.status === 'ready')
  const check = await redisClient(t, later)
  t.same(await check.keys(`${prefix}*`), [], 'no token was written for the request that got its 503')
  t.ok(await tokens.lookup((await tokens.issue({ subject: 'alice', expiresIn: 60 })).token), 'and the store works now')
})

t.test('a client that gives up connecting (retryStrategy) fails its waiting operations at once', async (t) => {
  const nothing = await stoppedServer(t)
  const client = connecting(t, nothing, { retryStrategy: () => null })
  const tokens = store(t, client, { timeout: 5000 })
  const { err, ms } = await failure(tokens.lookup('A'.repeat(43)))
  assertUnavailable(t, err, 'Redis closed the connection before it was ready')
  t.ok(ms < 1000, `at 'end', not after the timeout: ${ms.toFixed(0)} ms`)
  t.equal(client.status, 'end')
  t.same(listeners(client), [0, 0])
  const again = await failure(tokens.lookup('A'.repeat(43)))
  assertUnavailable(t, again.err)
  t.ok(again.ms < 50, 'and every later one at once')

  // A lazyConnect client that the store connects, and whose connection fails.
  const lazy = connecting(t, nothing, { lazyConnect: true, retryStrategy: () => null })
  const lazyStore = store(t, lazy, { timeout: 5000 })
  assertUnavailable(t, (await failure(lazyStore.issue({ subject: 'alice', expiresIn: 60 }))).err, 'Redis closed the connection before it was ready')
})

t.test('close() ends the wait: waiting operations get 503 at once and the listeners are removed', async (t) => {
  const nothing = await stoppedServer(t)
  const client = connecting(t, nothing)
  const tokens = store(t, client, { timeout: 5000 })
  const waiting = failure(tokens.lookup('A'.repeat(43)))
  await tokens.close()
  const { err, ms } = await waiting
  assertUnavailable(t, err, 'The store was closed before Redis was ready')
  t.ok(ms < 100)
  t.equal(client.listenerCount('end'), 0)
})

t.test('once the client has been ready, a lost connection fails fast, also while ioredis reconnects', async (t) => {
  const own = await redisServer(t)
  const client = connecting(t, own)
  const tokens = store(t, client, { timeout: 2000 })
  const { token } = await tokens.issue({ subject: 'alice', expiresIn: 60 })
  await own.stop()
  await until(() => client.status === 'reconnecting')
  const statuses = new Set<string>()
  // 'reconnecting' and the 'connecting' of each retry are both an outage.
  for (let i = 0; i < 6; i++) {
    statuses.add(client.status)
    const { err, ms } = await failure(tokens.lookup(token))
    assertUnavailable(t, err)
    t.ok(ms < 50, `${client.status}: refused at once`)
    // Not events.once: it rejects on the client's 'error' event, which every failed attempt emits.
    await new Promise((resolve) => client.once(i % 2 === 0 ? 'connecting' : 'reconnecting', resolve))
  }
  t.ok(statuses.has('reconnecting') && statuses.has('connecting'), [...statuses].join())
  await own.start()
  await until(() => client.status === 'ready')
  t.equal(await tokens.lookup(token), null, 'back (this redis-server kept nothing)')
  t.ok(await tokens.lookup((await tokens.issue({ subject: 'alice', expiresIn: 60 })).token))
})
