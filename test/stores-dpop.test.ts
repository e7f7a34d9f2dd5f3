import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { MemoryTokenStore, RedisTokenStore, type MemoryTokenStoreOptions, type TokenStore } from '../lib/index.js'
import { kTokenStoreInternals } from '../lib/stores/token-store.js'
import { clientKey } from './helpers/dpop.js'
import { redisClient, redisServer, until } from './helpers/redis.js'

// What DPoP needs of a token store: useOnce, the replay cache of proof ids (RFC 9449 §11.1),
// and tokens bound to a key (jkt, RFC 9449 §6) kept with their record.

const server = await redisServer(t)
const admin = await redisClient(t, server)
const { jkt } = await clientKey()

const digest = (value: string): string => createHash('sha256').update(value).digest('base64url')
const MAX_TTL = 365 * 24 * 3600 * 1000
const BAD_KEY = new TypeError('useOnce: key must be a non-empty string of at most 512 characters')
const BAD_TTL = new RangeError('useOnce: ttlMs must be a whole number of milliseconds, at least 1')
const BAD_JKT = new TypeError('issue: jkt must be an RFC 7638 SHA-256 thumbprint (43 base64url characters)')
const FULL = new RangeError('MemoryTokenStore: maxProofs reached; no proof id has expired yet')

let prefixes = 0
/** A prefix per store (or group of stores): the tests share one redis-server. */
const freshPrefix = (): string => `dpop${prefixes++}:`

/** A memory store on a clock of the test's: `clock.now` is epoch ms, moved by hand. */
function memory (t: Test, options: MemoryTokenStoreOptions = {}): { store: MemoryTokenStore, clock: { now: number } } {
  const clock = { now: 1_750_000_000_000 }
  const store = new MemoryTokenStore({ ...options, [kTokenStoreInternals]: { now: () => clock.now } } as MemoryTokenStoreOptions)
  t.teardown(() => store.close())
  return { store, clock }
}

/** A Redis store on a client of its own, subscribed (its cache in use), closed in teardown. */
async function redis (t: Test, prefix = freshPrefix()): Promise<RedisTokenStore> {
  const store = new RedisTokenStore(await redisClient(t, server), { prefix })
  t.teardown(() => store.close())
  await until(() => store.subscribed)
  return store
}

t.test('MemoryTokenStore.useOnce: true the first time, false while recorded, true again after ttlMs', async (t) => {
  const { store, clock } = memory(t)
  t.equal(await store.useOnce('proof-1', 1000), true)
  t.equal(await store.useOnce('proof-1', 1000), false)
  t.equal(await store.useOnce('proof-1', 60_000), false, 'a second ttl does not extend nor reset the first')
  t.equal(await store.useOnce('proof-2', 1000), true, 'another key is another record')
  clock.now += 999
  t.equal(await store.useOnce('proof-1', 1000), false, 'still recorded on its last millisecond')
  clock.now += 1
  t.equal(await store.useOnce('proof-1', 1000), true, 'forgotten once ttlMs has passed')
  t.equal(await store.useOnce('proof-1', 1000), false, 'and recorded anew')
})

t.test('MemoryTokenStore.useOnce when maxProofs are kept: expired ids are swept, live ones never dropped', async (t) => {
  const { store, clock } = memory(t, { maxProofs: 2 })
  t.equal(await store.useOnce('short', 1000), true)
  t.equal(await store.useOnce('long', 5000), true)
  await t.rejects(store.useOnce('third', 1000), FULL, 'full, and none has expired')
  t.equal(await store.useOnce('short', 1000), false, 'the refusal forgot nothing')
  t.equal(await store.useOnce('long', 1000), false)

  clock.now += 1000
  t.equal(await store.useOnce('third', 1000), true, 'the expired id made room')
  t.equal(await store.useOnce('long', 1000), false, 'the live one was kept')
  t.equal(await store.useOnce('third', 1000), false)
  await t.rejects(store.useOnce('short', 1000), FULL, 'the swept id is new again, and the store full again')

  clock.now += 4000
  t.equal(await store.useOnce('short', 1000), true, 'all expired: room again')
})

t.test('MemoryTokenStore.useOnce when full: an expired id used again takes its own place', async (t) => {
  const { store, clock } = memory(t, { maxProofs: 1 })
  t.equal(await store.useOnce('only', 1000), true)
  await t.rejects(store.useOnce('other', 1000), FULL)
  clock.now += 1000
  t.equal(await store.useOnce('only', 1000), true)
  t.equal(await store.useOnce('only', 1000), false)
})

t.test('MemoryTokenStore.close forgets the proof ids', async (t) => {
  const { store } = memory(t)
  t.equal(await store.useOnce('proof', 1000), true)
  await store.close()
  t.equal(await store.useOnce('proof', 1000), true)
})

t.test('MemoryTokenStore maxProofs must be a positive integer', async (t) => {
  for (const maxProofs of [0, -1, 1.5, '10', null, Number.POSITIVE_INFINITY]) {
    t.throws(() => new MemoryTokenStore({ maxProofs } as unknown as MemoryTokenStoreOptions), new TypeError('maxProofs must be a positive integer'), String(maxProofs))
  }
  t.doesNotThrow(() => new MemoryTokenStore({ maxProofs: 1 }))
})

/** What both stores refuse before they record anything. */
async function refusesBadArguments (t: Test, store: TokenStore): Promise<void> {
  const useOnce = store.useOnce!.bind(store)
  for (const key of [42, '', 'k'.repeat(513), null, undefined, ['k']]) await t.rejects(useOnce(key as string, 1000), BAD_KEY, `key ${String(key).slice(0, 20)}`)
  for (const ttl of [0, -1, 1.5, '1000', Number.NaN, MAX_TTL + 1, undefined]) await t.rejects(useOnce('k', ttl as number), BAD_TTL, `ttl ${String(ttl)}`)
  t.equal(await useOnce('k'.repeat(512), 1), true, 'a key of 512 characters, a ttl of 1 ms')
  t.equal(await useOnce('k', MAX_TTL), true, 'a ttl of a year')
  t.equal(await useOnce('k', 1000), false, 'the refused calls recorded nothing, the accepted one did')

  for (const bad of [42, '', 'short', jkt.slice(1), jkt + 'A', jkt.slice(0, -1) + '=', jkt.slice(0, -1) + '+', jkt.slice(0, -1) + '/', null, { jkt }]) {
    await t.rejects(store.issue({ subject: 'alice', expiresIn: 60, jkt: bad as string }), BAD_JKT, `jkt ${JSON.stringify(bad)}`)
  }
}

t.test('MemoryTokenStore refuses a bad useOnce key or ttl, and a bad jkt', async (t) => {
  await refusesBadArguments(t, memory(t).store)
})

t.test('RedisTokenStore refuses a bad useOnce key or ttl, and a bad jkt', async (t) => {
  await refusesBadArguments(t, await redis(t))
})

t.test('RedisTokenStore.useOnce: one SET NX PX on a digest of the key; true, then false until Redis expires it', async (t) => {
  const prefix = freshPrefix()
  const store = await redis(t, prefix)
  const key = 'jkt https://api.example/me proof-1'
  t.equal(await store.useOnce(key, 200), true)
  t.equal(await store.useOnce(key, 200), false)
  const stored = `${prefix}p:${digest(key)}`
  t.equal(await admin.get(stored), '1')
  const ttl = await admin.pttl(stored)
  t.ok(ttl > 0 && ttl <= 200, `a Redis TTL of at most ttlMs (${ttl})`)
  t.same(await admin.keys(`${prefix}*`), [stored], 'the key itself is never stored')
  t.equal(await store.useOnce(key, 5000), false, 'a second ttl does not extend the first')
  t.ok(await admin.pttl(stored) <= 200)
  await sleep(250)
  t.equal(await store.useOnce(key, 1000), true, 'forgotten once Redis expired it')
  t.equal(await store.useOnce(key, 1000), false)
})

t.test('RedisTokenStore.useOnce is shared by the stores of one Redis and prefix, and by them only', async (t) => {
  const prefix = freshPrefix()
  const first = await redis(t, prefix)
  const second = await redis(t, prefix)
  const elsewhere = await redis(t)
  t.equal(await first.useOnce('proof', 60_000), true)
  t.equal(await second.useOnce('proof', 60_000), false, 'another instance sees it used')
  t.equal(await elsewhere.useOnce('proof', 60_000), true, 'another prefix is another app')
  t.equal(await elsewhere.useOnce('proof', 60_000), false)
  t.equal(await first.useOnce('proof', 60_000), false)

  // The same proof sent to both instances at once: exactly one of them takes it.
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? first : second).useOnce('raced', 60_000)))
  t.equal(answers.filter(Boolean).length, 1)
})

/** A token bound to `jkt` keeps it; one issued without has no jkt key at all. */
async function roundTripsJkt (t: Test, store: TokenStore): Promise<void> {
  const bound = await store.issue({ subject: 'alice', scopes: ['me:read'], expiresIn: 60, jkt })
  const record = await store.lookup(bound.token)
  t.same(record, { subject: 'alice', user: { sub: 'alice' }, scopes: ['me:read'], expiresAt: bound.expiresAt, jkt })
  t.ok(Object.isFrozen(record))
  t.equal((await store.lookup(bound.token))!.jkt, jkt, 'and again')

  const bearer = await store.issue({ subject: 'bob', expiresIn: 60 })
  const plain = await store.lookup(bearer.token)
  t.same(plain, { subject: 'bob', user: { sub: 'bob' }, scopes: [], expiresAt: bearer.expiresAt })
  t.notOk(Object.hasOwn(plain!, 'jkt'), 'no jkt key, not even undefined')
  t.notOk(Object.hasOwn((await store.lookup(bearer.token))!, 'jkt'))

  const explicit = await store.issue({ subject: 'carol', expiresIn: 60, jkt: undefined } as never)
  t.notOk(Object.hasOwn((await store.lookup(explicit.token))!, 'jkt'), 'jkt: undefined is no binding')
}

t.test('MemoryTokenStore: issue({ jkt }) binds the token, and lookup returns jkt', async (t) => {
  await roundTripsJkt(t, memory(t).store)
})

t.test('RedisTokenStore: issue({ jkt }) binds the token, and lookup returns jkt (from Redis, then from the cache)', async (t) => {
  await roundTripsJkt(t, await redis(t))
})

t.test('RedisTokenStore: a bound token is bound on every instance, and only the thumbprint is stored', async (t) => {
  const prefix = freshPrefix()
  const issuer = await redis(t, prefix)
  const other = await redis(t, prefix)
  const { token } = await issuer.issue({ subject: 'alice', expiresIn: 60, jkt })
  t.equal((await other.lookup(token))!.jkt, jkt)
  const stored = JSON.parse((await admin.get(`${prefix}t:${digest(token)}`))!) as Record<string, unknown>
  t.equal(stored.jkt, jkt)
  const bearer = await issuer.issue({ subject: 'bob', expiresIn: 60 })
  t.notOk(Object.hasOwn(JSON.parse((await admin.get(`${prefix}t:${digest(bearer.token)}`))!) as object, 'jkt'))
})
