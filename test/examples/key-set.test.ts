import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { checkSecret, KEY_PUBLISH_AHEAD, retentionFor, SharedKeySet } from '../../examples/key-set.js'
import { serveJwks } from '../../examples/jwks-server.js'
import { readRotationConfig, readStoreConfig } from '../../examples/store.js'
import { redisClient, redisServer } from '../helpers/redis.js'
import { logCapture } from './fixtures/helpers.js'

const redis = await redisServer(t)
const secret = 'a-test-secret-of-at-least-32-characters'
const undecryptable = new Error('No signing key in Redis decrypts with signingKeysSecret: every instance needs the same secret')

let prefixes = 0
/** A key set under a prefix of its own, on a clock the test moves. */
async function keySet (t: Test, options: { retention?: number, timeout?: number } = {}) {
  const client = await redisClient(t, redis)
  const clock = { ms: 1_000_000 }
  const prefix = `ks${prefixes++}:`
  const open = (more: { secret?: string } = {}) => SharedKeySet.open(client, { secret, retention: 10_000, prefix, now: () => clock.ms, ...options, ...more })
  return { client, clock, key: `${prefix}signing-keys`, open, set: await open() }
}

const kids = async (set: SharedKeySet) => (await set.jwks()).keys.map((key) => key.kid)

t.test('an empty set gets one key; every instance opening it finds that key', async (t) => {
  const { client, key, set, open } = await keySet(t)
  const [first, ...rest] = Object.keys(await client.hgetall(key))
  t.same(rest, [])
  t.equal((await set.current()).kid, first)
  const others = await Promise.all([open(), open(), open()])
  for (const other of others) t.equal((await other.current()).kid, first)
  t.same(await kids(set), [first])
})

t.test('instances opening an empty set together agree on one first key', async (t) => {
  const client = await redisClient(t, redis)
  const sets = await Promise.all(Array.from({ length: 5 }, () => SharedKeySet.open(client, { secret, retention: 1000, prefix: 'together:' })))
  t.equal(Object.keys(await client.hgetall('together:signing-keys')).length, 1)
  t.equal(new Set(await Promise.all(sets.map(async (set) => (await set.current()).kid))).size, 1)
})

t.test('a rotation publishes the new key at once, switches at its time, and retires the old key after the retention', async (t) => {
  const { client, clock, key, set, open } = await keySet(t)
  const old = (await set.current()).kid!
  const rotation = await set.rotate({ activateIn: 5000 })
  t.same(rotation, { kid: rotation.kid, signFrom: clock.ms + 5000, removed: [] })
  const other = await open()
  t.same((await kids(other)).sort(), [old, rotation.kid].sort(), 'both verify, on every instance')
  clock.ms += 4999
  t.equal((await other.current()).kid, old, 'the old key signs until the new one\'s time')
  clock.ms += 1
  t.equal((await other.current()).kid, rotation.kid, 'then the new one')
  clock.ms += 9999
  t.same((await kids(other)).sort(), [old, rotation.kid].sort(), 'the old one verifies for the retention')
  clock.ms += 1
  t.same(await kids(other), [rotation.kid], 'and then no more')
  t.equal(Object.keys(await client.hgetall(key)).length, 2, 'still in Redis, until the next rotation')
  const next = await other.rotate({ activateIn: 0 })
  t.same(next.removed, [old])
  t.same(Object.keys(await client.hgetall(key)).sort(), [rotation.kid, next.kid].sort())
  t.equal((await set.current()).kid, next.kid, 'activateIn 0: signs at once')
})

t.test('keys with the same signFrom: every instance picks the same one', async (t) => {
  const { set, open } = await keySet(t)
  // The first key was made on this clock too: four keys, all signing from the same ms.
  const tied = [(await set.current()).kid!]
  for (let i = 0; i < 3; i++) tied.push((await set.rotate({ activateIn: 0 })).kid)
  const highest = tied.sort().at(-1)
  t.equal((await set.current()).kid, highest)
  t.equal((await (await open()).current()).kid, highest)
})

t.test('a clock behind the one that made the first key signs with that key all the same', async (t) => {
  const { clock, set } = await keySet(t)
  const first = (await set.current()).kid
  clock.ms -= 60_000
  t.equal((await set.current()).kid, first)
  t.same(await kids(set), [first])
})

t.test('a value that is not a key sealed with our secret is no key: ignored, and alone it stops the boot', async (t) => {
  const { client, key, set, open } = await keySet(t)
  const real = (await set.current()).kid!
  const sealed = (await client.hgetall(key))[real]!
  const foreign = await keySet(t)
  const foreignKid = (await foreign.set.current()).kid!
  const foreignSealed = (await foreign.client.hgetall(foreign.key))[foreignKid]!
  await client.hset(key, {
    garbage: 'not a sealed key',
    moved: sealed, // a real key under another kid: its associated data says otherwise
    [foreignKid]: foreignSealed, // sealed under another prefix's Redis key
    altered: sealed.slice(0, -2) + (sealed.endsWith('AA') ? 'BB' : 'AA')
  })
  t.same(await kids(await open()), [real], 'only the real key is served')
  t.same(await kids(set), [real])
  await client.hdel(key, real)
  await t.rejects(open(), undecryptable)
  await t.rejects(set.current(), undecryptable, 'nor does an instance that had it sign with a key no longer in the set')
  await t.rejects(open({ secret: 'another secret, of 32 characters or more' }), undecryptable)
})

t.test('a key replaced under its kid is read again; an emptied Redis gets a new first key', async (t) => {
  const { client, key, set, open } = await keySet(t)
  const first = (await set.current()).kid!
  const other = await keySet(t)
  const sealed = (await other.client.hgetall(other.key))[(await other.set.current()).kid!]!
  // Sealed for another Redis key: under our kid it no longer decrypts.
  await client.hset(key, first, sealed)
  await t.rejects(set.current(), undecryptable)
  await client.del(key)
  const second = (await set.current()).kid
  t.not(second, first)
  t.equal((await (await open()).current()).kid, second)
})

t.test('a Redis key of another type is a 503 with the reason as its cause', async (t) => {
  const { client, key, set } = await keySet(t)
  await client.del(key)
  await client.set(key, 'not a hash')
  await t.rejects(set.current(), { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', statusCode: 503, cause: { message: /^WRONGTYPE/ } })
})

t.test('rotate refuses an activateIn that is not whole ms', async (t) => {
  const { set } = await keySet(t)
  for (const activateIn of [-1, 1.5, Number.NaN]) {
    await t.rejects(set.rotate({ activateIn }), new TypeError('activateIn must be a whole number of ms, 0 or more'))
  }
})

t.test('Redis disconnected or slow: VerifierUnavailableError (503), never a hang', async (t) => {
  const { client, set } = await keySet(t, { timeout: 200 })
  const pauser = await redisClient(t, redis)
  await pauser.call('CLIENT', 'PAUSE', '1000', 'ALL')
  const started = Date.now()
  const slow = await set.current().then(() => null, (err: Error & { cause?: Error }) => err)
  t.match(slow, { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', statusCode: 503, cause: { message: 'Redis did not answer within 200 ms' } })
  t.ok(Date.now() - started < 900)
  await pauser.call('CLIENT', 'UNPAUSE')
  client.disconnect()
  await t.rejects(set.jwks(), { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', statusCode: 503 })
})

t.test('signingKeysSecret: at least 32 characters', async (t) => {
  t.equal(checkSecret('x'.repeat(32)), 'x'.repeat(32))
  for (const bad of ['x'.repeat(31), '', 42, undefined]) {
    t.throws(() => checkSecret(bad), new TypeError('signingKeysSecret must be a string of at least 32 characters, the same on every instance (e.g. openssl rand -base64 32)'))
  }
  t.equal(retentionFor(900), 1_200_000, 'a replaced key verifies for the token lifetime plus the largest clock tolerance')
})

t.test('the JWKS server: public keys at /jwks.json on 127.0.0.1, 404 elsewhere, 503 (and a warning) when Redis fails', async (t) => {
  const { client, set } = await keySet(t)
  await set.rotate({ activateIn: 1000 })
  const capture = logCapture()
  const app = Fastify({ logger: { level: 'warn', stream: capture } })
  t.teardown(() => app.close())
  const url = await serveJwks(app, set)
  t.equal(url.hostname, '127.0.0.1')
  t.equal(url.pathname, '/jwks.json')
  const res = await fetch(url)
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'application/jwk-set+json')
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.same(await res.json(), await set.jwks())
  for (const [method, path] of [['GET', '/'], ['GET', '/jwks.json?x'], ['POST', '/jwks.json']] as const) {
    const other = await fetch(new URL(path, url), { method })
    t.equal(other.status, 404, `${method} ${path}`)
    await other.arrayBuffer()
  }
  client.disconnect()
  const down = await fetch(url)
  t.equal(down.status, 503)
  await down.arrayBuffer()
  t.match(JSON.parse(capture.lines.at(-1)!), { level: 40, msg: 'the signing keys could not be read from Redis', err: { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE' } })
  await app.close()
  await t.rejects(fetch(url), 'closed with the app, kept-alive connection and all')
})

t.test('the start script reads SIGNING_KEYS_SECRET; the rotation script REDIS_URL, SIGNING_KEYS_SECRET and ACTIVATE_IN', async (t) => {
  t.same(readStoreConfig({ SIGNING_KEYS_SECRET: secret }), { redisUrl: undefined, tokenFormat: 'jwt', signingKeysSecret: secret })
  t.same(readStoreConfig({ SIGNING_KEYS_SECRET: '' }), { redisUrl: undefined, tokenFormat: 'jwt', signingKeysSecret: undefined })
  const env = { REDIS_URL: 'redis://cache:6379', SIGNING_KEYS_SECRET: secret }
  t.same(readRotationConfig(env), { redisUrl: 'redis://cache:6379', signingKeysSecret: secret, activateIn: KEY_PUBLISH_AHEAD })
  t.same(readRotationConfig({ ...env, ACTIVATE_IN: '0' }), { redisUrl: 'redis://cache:6379', signingKeysSecret: secret, activateIn: 0 })
  t.same(readRotationConfig({ ...env, ACTIVATE_IN: '' }), { redisUrl: 'redis://cache:6379', signingKeysSecret: secret, activateIn: KEY_PUBLISH_AHEAD })
  t.equal(KEY_PUBLISH_AHEAD, 122_000, 'twice the verifiers\' JWKS refetch interval and cooldown')
  for (const ACTIVATE_IN of ['-1', '1.5', '1e3', '12345678', 'soon']) {
    t.throws(() => readRotationConfig({ ...env, ACTIVATE_IN }), new RangeError('ACTIVATE_IN must be a whole number of seconds'), ACTIVATE_IN)
  }
  t.throws(() => readRotationConfig({ SIGNING_KEYS_SECRET: secret }), new RangeError('REDIS_URL must name the Redis the instances share'))
  t.throws(() => readRotationConfig({ REDIS_URL: 'redis://cache:6379' }), new RangeError('SIGNING_KEYS_SECRET must be the instances\' secret'))
})
