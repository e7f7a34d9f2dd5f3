import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { MemoryTokenStore, RedisTokenStore, type TokenStore } from '../../lib/index.js'
import { digest, kTokenStoreInternals } from '../../lib/stores/token-store.js'
import type { ServerOptions } from '../../examples/server.js'
import { redisClient, redisServer } from '../helpers/redis.js'
import { accessToken, server } from '../examples/fixtures/helpers.js'

// Found in review: POST /logout?all=true recorded its cutoff in whole seconds and refused every
// JWT with `iat <= cutoff`, so a user who logged out everywhere and logged in again within the
// same second got an access token that was already revoked.

const redis = await redisServer(t)
const redisUrl = `redis://127.0.0.1:${redis.port}`

/** A store on a clock that only the test moves; the store's waits move it too. */
interface Clocked {
  readonly store: TokenStore
  readonly clock: { ms: number, sleeps: number }
}

type MakeStore = (t: Test, start: number, tick?: number) => Promise<Clocked>

/** `tick`: how far the clock moves at each reading (0: it stands still until someone sleeps). */
function internals (clock: { ms: number, sleeps: number }, tick: number): object {
  return {
    [kTokenStoreInternals]: {
      now: () => (clock.ms += tick) - tick,
      sleep: async (ms: number) => { clock.sleeps++; clock.ms += ms }
    }
  }
}

const memory: MakeStore = async (_t, start, tick = 0) => {
  const clock = { ms: start, sleeps: 0 }
  return { store: new MemoryTokenStore(internals(clock, tick)), clock }
}

let prefix = 0
const inRedis: MakeStore = async (t, start, tick = 0) => {
  const clock = { ms: start, sleeps: 0 }
  const store = new RedisTokenStore(await redisClient(t, redis), { prefix: `same-second${prefix++}:`, ...internals(clock, tick) })
  t.teardown(() => store.close())
  return { store, clock }
}

// 2026-01-01T00:00:00.500Z: in the middle of a second.
const T = 1_767_225_600_500

/** A JWT's revocation claims, issued at `ms` (epoch ms; `iat` a NumericDate). */
const issuedAt = (ms: number) => ({ jti: `jti-${ms}`, sub: 'alice', iat: ms / 1000 })

for (const [name, make] of [['MemoryTokenStore', memory], ['RedisTokenStore', inRedis]] as const) {
  t.test(`${name}: revokeAll refuses the JWTs issued up to its millisecond, and none issued after it`, async (t) => {
    const { store, clock } = await make(t, T)
    await store.revokeAll('alice')
    t.equal(await store.isJwtRevoked(issuedAt(T - 1000)), true, 'a second before')
    t.equal(await store.isJwtRevoked(issuedAt(T - 1)), true, 'the millisecond before')
    t.equal(await store.isJwtRevoked(issuedAt(T)), true, 'the same millisecond: before or after cannot be told, so refused')
    t.equal(await store.isJwtRevoked(issuedAt(T + 1)), false, 'the next millisecond')
    t.equal(await store.isJwtRevoked(issuedAt(T + 250)), false, 'later in the same second')
    t.equal(await store.isJwtRevoked({ jti: 'x', sub: 'bob', iat: (T - 1) / 1000 }), false, 'another user')
    t.equal(await store.isJwtRevoked({ jti: 'x', sub: 'alice' }), false, 'no iat: only its jti can revoke it')
    t.equal(clock.ms, T + 1, 'revokeAll resolved once its millisecond was over, and no later')
  })

  t.test(`${name}: a whole-second iat is refused throughout the second of the revokeAll, and not after it`, async (t) => {
    const { store } = await make(t, T)
    await store.revokeAll('alice')
    const second = Math.floor(T / 1000)
    t.equal(await store.isJwtRevoked({ jti: 'a', sub: 'alice', iat: second }), true, 'the same second (issued before or after: its iat cannot say)')
    t.equal(await store.isJwtRevoked({ jti: 'b', sub: 'alice', iat: second + 1 }), false, 'the next second')
  })

  t.test(`${name}: the edges of a second: a revokeAll at .999 and at .000`, async (t) => {
    const end = Math.floor(T / 1000) * 1000 + 999
    const late = await make(t, end)
    await late.store.revokeAll('alice')
    t.equal(await late.store.isJwtRevoked(issuedAt(end)), true, '.999, the same millisecond')
    t.equal(await late.store.isJwtRevoked(issuedAt(end + 1)), false, '.000 of the next second')
    t.equal(await late.store.isJwtRevoked({ jti: 'w', sub: 'alice', iat: (end + 1) / 1000 }), false, 'the next second, as a whole-second iat')

    const start = end + 1
    const early = await make(t, start)
    await early.store.revokeAll('bob')
    t.equal(await early.store.isJwtRevoked({ ...issuedAt(start - 1), sub: 'bob' }), true, '.999 of the second before')
    t.equal(await early.store.isJwtRevoked({ ...issuedAt(start), sub: 'bob' }), true, '.000, the same millisecond')
    t.equal(await early.store.isJwtRevoked({ ...issuedAt(start + 1), sub: 'bob' }), false, '.001')
  })

  t.test(`${name}: logout and login in one millisecond: the login that follows the logout gets a token that works`, async (t) => {
    const { store, clock } = await make(t, T)
    // A token issued in the logout's millisecond, before the logout.
    const before = issuedAt(clock.ms)
    await store.revokeAll('alice')
    // The login is made once the logout has answered: its token is issued on the store's clock.
    const after = issuedAt(clock.ms)
    t.equal(await store.isJwtRevoked(before), true)
    t.equal(await store.isJwtRevoked(after), false)
    t.equal(clock.sleeps, 1, 'one wait of one millisecond')
  })

  t.test(`${name}: a clock that stands still (or was stepped back) holds revokeAll for ten 1 ms waits at most`, async (t) => {
    const clock = { ms: T, sleeps: 0 }
    const frozen = { [kTokenStoreInternals]: { now: () => clock.ms, sleep: async () => { clock.sleeps++ } } } as object
    const store = name === 'MemoryTokenStore'
      ? new MemoryTokenStore(frozen)
      : new RedisTokenStore(await redisClient(t, redis), { prefix: `same-second${prefix++}:`, ...frozen })
    t.teardown(() => store.close())
    await store.revokeAll('alice')
    t.equal(clock.sleeps, 10)
    t.equal(await store.isJwtRevoked(issuedAt(T)), true, 'and the revocation holds')
  })

  t.test(`${name}: revokeAll does not wait when its millisecond is already over`, async (t) => {
    const { store, clock } = await make(t, T, 1)
    await store.revokeAll('alice')
    t.equal(clock.sleeps, 0)
    t.equal(await store.isJwtRevoked(issuedAt(T)), true)
    t.equal(await store.isJwtRevoked(issuedAt(clock.ms)), false)
  })
}

t.test('RedisTokenStore: a cutoff in whole seconds, as an earlier version wrote it, covers that whole second', async (t) => {
  const client = await redisClient(t, redis)
  const { store } = await inRedis(t, T)
  const key = `same-second${prefix - 1}:s:${digest('carol')}`
  await client.set(key, String(Math.floor(T / 1000)), 'PX', 60_000)
  const second = Math.floor(T / 1000) * 1000
  t.equal(await store.isJwtRevoked({ jti: 'a', sub: 'carol', iat: (second + 999) / 1000 }), true, 'the last millisecond of that second')
  t.equal(await store.isJwtRevoked({ jti: 'b', sub: 'carol', iat: (second + 1000) / 1000 }), false, 'the next second')
  await store.revokeAll('carol')
  t.equal(await client.get(key), '1767225600.500', 'written as seconds to the millisecond: still a NumericDate')
})

const me = (app: FastifyInstance, token: string) => app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })

for (const [name, options] of [
  ['JWTs, memory store', {}],
  ['opaque tokens, memory store', { tokenFormat: 'opaque' }],
  ['JWTs, Redis', { redisUrl, signingKeysSecret: 'logout-all-same-second-secret-0123456789' }],
  ['opaque tokens, Redis', { redisUrl, tokenFormat: 'opaque' }]
] as Array<[string, ServerOptions]>) {
  t.test(`${name}: a login right after POST /logout?all=true gets a token that works, and the tokens from before stay revoked`, async (t) => {
    const app = await server(t, { ...options, rateLimit: { max: 1000, timeWindow: 60_000 } })
    const revoked: string[] = []
    let token = await accessToken(app, 'alice', 'wonderland')
    // Twenty rounds of logout everywhere then log in at once: all within a second or two.
    for (let round = 0; round < 20; round++) {
      const other = await accessToken(app, 'alice', 'wonderland')
      const logout = await app.inject({ method: 'POST', url: '/logout?all=true', headers: { authorization: `Bearer ${token}` } })
      t.equal(logout.statusCode, 204)
      revoked.push(token, other)
      token = await accessToken(app, 'alice', 'wonderland')
      const res = await me(app, token)
      t.equal(res.statusCode, 200, `round ${round}: the new token works`)
    }
    for (const old of revoked) t.equal((await me(app, old)).statusCode, 401, 'every token issued before a logout is refused')
  })
}
