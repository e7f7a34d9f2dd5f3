import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { MemoryTokenStore, RedisTokenStore, type TokenStore } from '../lib/index.js'
import { kTokenStoreInternals } from '../lib/stores/token-store.js'
import { redisClient, redisServer } from './helpers/redis.js'

/** A store under test, and how to make time pass for it. */
interface Subject {
  readonly store: TokenStore
  /** Lets `ms` pass: on the store's clock where it has one of ours, for real where Redis keeps time. */
  readonly wait: (ms: number) => Promise<void>
  /** The store's clock, in epoch seconds (what an issuer would put in iat). */
  readonly nowSeconds: () => number
}

const OPAQUE = /^[A-Za-z0-9_-]{43}$/

/** The TokenStore contract: every store passes it. */
function tokenStoreSuite (t: Test, name: string, make: (t: Test) => Promise<Subject>): void {
  t.test(`${name}: issue gives a fresh 256-bit base64url token, and lookup its frozen record`, async (t) => {
    const { store, nowSeconds } = await make(t)
    const before = nowSeconds() * 1000
    const issued = await store.issue({ subject: 'alice', scopes: ['items:read', 'me:read'], expiresIn: 900, user: { username: 'alice', level: 3 } })
    const after = (nowSeconds() + 1) * 1000
    t.match(issued.token, OPAQUE)
    t.ok(issued.expiresAt >= before + 900_000 && issued.expiresAt <= after + 900_000)
    const record = await store.lookup(issued.token)
    t.same(record, { subject: 'alice', user: { username: 'alice', level: 3 }, scopes: ['items:read', 'me:read'], expiresAt: issued.expiresAt })
    t.ok(Object.isFrozen(record) && Object.isFrozen(record!.user) && Object.isFrozen(record!.scopes))

    const tokens = new Set([issued.token])
    for (let i = 0; i < 20; i++) tokens.add((await store.issue({ subject: 'alice', expiresIn: 60 })).token)
    t.equal(tokens.size, 21, 'no token is issued twice')
  })

  t.test(`${name}: the default user is { sub }, scopes default to none, and the caller's user object stays theirs`, async (t) => {
    const { store } = await make(t)
    const { token, expiresAt } = await store.issue({ subject: 'bob', expiresIn: 60 })
    t.same(await store.lookup(token), { subject: 'bob', user: { sub: 'bob' }, scopes: [], expiresAt })
    const user = { username: 'carol' }
    const second = await store.issue({ subject: 'carol', expiresIn: 60, user })
    user.username = 'mallory'
    t.same((await store.lookup(second.token))!.user, { username: 'carol' })
  })

  t.test(`${name}: unknown, malformed and foreign tokens are not found`, async (t) => {
    const { store } = await make(t)
    const { token } = await store.issue({ subject: 'alice', expiresIn: 60 })
    const other = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')
    for (const candidate of [other, '', 'short', token + 'A', token.slice(1), 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln', `${token.slice(0, -1)}=`]) {
      t.equal(await store.lookup(candidate), null, candidate)
      t.equal(await store.revoke(candidate), false, candidate)
    }
    t.ok(await store.lookup(token), 'the real one still is')
  })

  t.test(`${name}: a token is not found once its lifetime is over`, async (t) => {
    const { store, wait } = await make(t)
    const short = await store.issue({ subject: 'alice', expiresIn: 1 })
    const long = await store.issue({ subject: 'alice', expiresIn: 60 })
    t.ok(await store.lookup(short.token))
    await wait(1050)
    t.equal(await store.lookup(short.token), null)
    t.equal(await store.revoke(short.token), false, 'an expired token is not live')
    t.ok(await store.lookup(long.token))
  })

  t.test(`${name}: revoke ends one token and no other`, async (t) => {
    const { store } = await make(t)
    const first = await store.issue({ subject: 'alice', expiresIn: 60 })
    const second = await store.issue({ subject: 'alice', expiresIn: 60 })
    t.equal(await store.revoke(first.token), true)
    t.equal(await store.lookup(first.token), null)
    t.equal(await store.revoke(first.token), false, 'revoking twice says it was not live')
    t.ok(await store.lookup(second.token))
    t.equal(await store.revokeAll('alice'), 1, 'the revoked one is not counted again')
  })

  t.test(`${name}: revokeAll ends every token of one subject and counts the live ones`, async (t) => {
    const { store, wait } = await make(t)
    const alice = await Promise.all([60, 60, 60].map((expiresIn) => store.issue({ subject: 'alice', expiresIn })))
    const expiring = await store.issue({ subject: 'alice', expiresIn: 1 })
    const bob = await store.issue({ subject: 'bob', expiresIn: 60 })
    await wait(1050)
    t.equal(await store.revokeAll('alice'), 3, 'the expired one is not counted')
    for (const { token } of [...alice, expiring]) t.equal(await store.lookup(token), null)
    t.ok(await store.lookup(bob.token), 'another subject keeps its token')
    t.equal(await store.revokeAll('alice'), 0)
    t.equal(await store.revokeAll('nobody'), 0)
    const later = await store.issue({ subject: 'alice', expiresIn: 60 })
    t.ok(await store.lookup(later.token), 'a token issued after revokeAll works')
  })

  t.test(`${name}: a revoked jti is refused until its token's exp, and no other`, async (t) => {
    const { store, nowSeconds } = await make(t)
    const exp = nowSeconds() + 600
    t.equal(await store.isJwtRevoked({ jti: 'j-1', sub: 'alice', iat: nowSeconds(), exp }), false)
    await store.revokeJti('j-1', exp)
    t.equal(await store.isJwtRevoked({ jti: 'j-1', sub: 'alice', iat: nowSeconds(), exp }), true)
    t.equal(await store.isJwtRevoked({ jti: 'j-1' }), true, 'by jti alone')
    t.equal(await store.isJwtRevoked({ jti: 'j-2', sub: 'alice', iat: nowSeconds(), exp }), false)
    t.equal(await store.isJwtRevoked({}), false, 'no jti and no sub: nothing to look up')
    t.equal(await store.isJwtRevoked({ jti: 42, sub: 7 }), false, 'claims that are not strings are ignored')
    // A token long expired (beyond any clock tolerance) is not worth remembering.
    await store.revokeJti('j-old', nowSeconds() - 3600)
    t.equal(await store.isJwtRevoked({ jti: 'j-old' }), false)
  })

  t.test(`${name}: a jti stays revoked through the verifier's clock tolerance past exp`, async (t) => {
    const { store, nowSeconds } = await make(t)
    await store.revokeJti('j-grace', nowSeconds() - 10)
    t.equal(await store.isJwtRevoked({ jti: 'j-grace' }), true)
  })

  t.test(`${name}: revokeAll refuses the subject's JWTs issued until then, and later ones work`, async (t) => {
    const { store, wait, nowSeconds } = await make(t)
    const iat = nowSeconds()
    await store.revokeAll('alice')
    t.equal(await store.isJwtRevoked({ jti: 'a', sub: 'alice', iat: iat - 100 }), true, 'issued before')
    t.equal(await store.isJwtRevoked({ jti: 'b', sub: 'alice', iat }), true, 'issued in the same second')
    t.equal(await store.isJwtRevoked({ jti: 'c', sub: 'bob', iat: iat - 100 }), false, 'another subject')
    t.equal(await store.isJwtRevoked({ jti: 'd', sub: 'alice' }), false, 'no iat: only its jti can revoke it')
    await wait(1100)
    t.equal(await store.isJwtRevoked({ jti: 'e', sub: 'alice', iat: nowSeconds() }), false, 'issued after')
  })

  t.test(`${name}: a grant that cannot be issued is refused with a TypeError or RangeError`, async (t) => {
    const { store } = await make(t)
    const cases: Array<[unknown, Error]> = [
      [null, new TypeError('issue: the grant must be an object')],
      [{ subject: '', expiresIn: 60 }, new TypeError('issue: subject must be a non-empty string')],
      [{ subject: 7, expiresIn: 60 }, new TypeError('issue: subject must be a non-empty string')],
      [{ subject: 'a', expiresIn: 0 }, new RangeError('issue: expiresIn must be a whole number of seconds from 1 to 31536000')],
      [{ subject: 'a', expiresIn: 1.5 }, new RangeError('issue: expiresIn must be a whole number of seconds from 1 to 31536000')],
      [{ subject: 'a', expiresIn: 31536001 }, new RangeError('issue: expiresIn must be a whole number of seconds from 1 to 31536000')],
      [{ subject: 'a', expiresIn: 60, scopes: 'read' }, new TypeError('issue: scopes must be an array of scope tokens')],
      [{ subject: 'a', expiresIn: 60, scopes: ['a b'] }, new TypeError('issue: scopes must be an array of scope tokens')],
      [{ subject: 'a', expiresIn: 60, user: [] }, new TypeError('issue: user must be an object')],
      [{ subject: 'a', expiresIn: 60, user: null }, new TypeError('issue: user must be an object')]
    ]
    for (const [grant, error] of cases) await t.rejects(store.issue(grant as never), error, JSON.stringify(grant))
    await t.rejects(store.revokeAll(''), new TypeError('revokeAll: subject must be a non-empty string'))
    await t.rejects(store.revokeJti('', 1), new TypeError('revokeJti: jti must be a non-empty string'))
    await t.rejects(store.revokeJti('j', '1' as never), new TypeError('revokeJti: exp must be the token\'s exp, in epoch seconds'))
  })
}

t.test('MemoryTokenStore', async (t) => {
  tokenStoreSuite(t, 'memory', async () => {
    let now = Date.now()
    const store = new MemoryTokenStore({ [kTokenStoreInternals]: { now: () => now, sleep: async (ms: number) => { now += ms } } } as object)
    return {
      store,
      wait: async (ms) => { now += ms },
      nowSeconds: () => Math.floor(now / 1000)
    }
  })
})

t.test('RedisTokenStore', async (t) => {
  const server = await redisServer(t)
  let prefix = 0
  tokenStoreSuite(t, 'redis', async (t) => {
    const client = await redisClient(t, server)
    // A prefix per test: the tests share one redis-server and never see each other's keys.
    const store = new RedisTokenStore(client, { prefix: `suite${prefix++}:` })
    t.teardown(() => store.close())
    return { store, wait: (ms) => sleep(ms), nowSeconds: () => Math.floor(Date.now() / 1000) }
  })
})

t.test('MemoryTokenStore keeps at most maxTokens: expired ones go first, then the oldest issued', async (t) => {
  let now = Date.now()
  const store = new MemoryTokenStore({ maxTokens: 3, [kTokenStoreInternals]: { now: () => now } } as object)
  const short = await store.issue({ subject: 'a', expiresIn: 1 })
  const first = await store.issue({ subject: 'b', expiresIn: 60 })
  const second = await store.issue({ subject: 'b', expiresIn: 60 })
  now += 2000
  const third = await store.issue({ subject: 'c', expiresIn: 60 })
  t.equal(await store.lookup(short.token), null)
  t.ok(await store.lookup(first.token), 'expired tokens made the room')
  const fourth = await store.issue({ subject: 'c', expiresIn: 60 })
  t.equal(await store.lookup(first.token), null, 'then the oldest issued')
  for (const { token } of [second, third, fourth]) t.ok(await store.lookup(token))
  t.equal(await store.revokeAll('b'), 1)
  t.equal(await store.revokeAll('a'), 0)
})

t.test('MemoryTokenStore never forgets a live revocation: when full, revoking throws', async (t) => {
  let now = Date.now()
  const store = new MemoryTokenStore({ maxRevocations: 2, [kTokenStoreInternals]: { now: () => now } } as object)
  const exp = Math.floor(now / 1000) + 60
  await store.revokeJti('one', exp - 50)
  await store.revokeJti('two', exp)
  await t.rejects(store.revokeJti('three', exp), new RangeError('MemoryTokenStore: maxRevocations reached; no revocation has expired yet'))
  t.equal(await store.isJwtRevoked({ jti: 'one' }), true)
  await store.revokeJti('two', exp + 10)
  t.equal(await store.isJwtRevoked({ jti: 'two' }), true, 'revoking again replaces the entry')
  now += (10 + 300 + 1) * 1000
  await store.revokeJti('three', exp)
  t.equal(await store.isJwtRevoked({ jti: 'one' }), false, 'the expired revocation made the room')
  t.equal(await store.isJwtRevoked({ jti: 'two' }), true)
  t.equal(await store.isJwtRevoked({ jti: 'three' }), true)
  now += 3600 * 1000
  t.equal(await store.isJwtRevoked({ jti: 'two' }), false, 'forgotten after exp and the tolerance')
})

t.test('MemoryTokenStore refuses options that are not positive integers, and close() empties it', async (t) => {
  for (const name of ['maxTokens', 'maxRevocations', 'maxJwtLifetime']) {
    t.throws(() => new MemoryTokenStore({ [name]: 0 }), new TypeError(`${name} must be a positive integer`))
    t.throws(() => new MemoryTokenStore({ [name]: '5' } as object), new TypeError(`${name} must be a positive integer`))
  }
  const store = new MemoryTokenStore()
  const { token } = await store.issue({ subject: 'a', expiresIn: 60 })
  await store.revokeJti('j', Math.floor(Date.now() / 1000) + 60)
  await store.close()
  t.equal(await store.lookup(token), null)
  t.equal(await store.isJwtRevoked({ jti: 'j' }), false)
})
