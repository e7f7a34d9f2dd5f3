import t, { type Test } from 'tap'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { setImmediate } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { jtiRevocation, RedisTokenStore, signAccessToken, type SchemeOptions } from '../lib/index.js'
import { build, errorBody } from './helpers/app.js'
import { redisClient, redisServer, until } from './helpers/redis.js'

const server = await redisServer(t)
const invalidChallenge = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'
const revokedChallenge = 'Bearer realm="api", error="invalid_token", error_description="The access token has been revoked"'
const unavailableBody = errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable')

interface Instance {
  readonly app: FastifyInstance
  readonly store: RedisTokenStore
  readonly client: Redis
}

let prefixes = 0

/**
 * Two instances of one app: each its own Fastify, ioredis client and store, on one Redis and one
 * prefix. `scheme` builds the bearer scheme from the instance's store.
 */
async function twoInstances (t: Test, scheme: (store: RedisTokenStore) => SchemeOptions): Promise<[Instance, Instance]> {
  const prefix = `i${prefixes++}:`
  async function instance (): Promise<Instance> {
    const client = await redisClient(t, server)
    const store = new RedisTokenStore(client, { prefix, timeout: 200 })
    t.teardown(() => store.close())
    const app = await build(t, { schemes: { bearerAuth: scheme(store) }, verifyTimeout: 500 })
    app.get('/me', { config: { auth: true } }, async (request) => request.user)
    await until(() => store.subscribed)
    return { app, store, client }
  }
  return [await instance(), await instance()]
}

const get = (app: FastifyInstance, token: string) => app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })

/** Polls `app` until the token is refused; returns the ms from the call to the first refusal. */
async function timeToRefusal (app: FastifyInstance, token: string): Promise<number> {
  const start = process.hrtime.bigint()
  while ((await get(app, token)).statusCode === 200) {
    if (process.hrtime.bigint() - start > 1_000_000_000n) throw new Error('still accepted after 1 s')
    // inject() never waits for I/O, and a cache hit neither: let the pub/sub socket be read
    // between two requests, as it is between two requests that come over the network.
    await setImmediate()
  }
  return Number(process.hrtime.bigint() - start) / 1e6
}

function summary (times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b)
  return `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms (n=${sorted.length})`
}

t.test('opaque tokens: issued on A works on B; revoked on B, refused on A within 100 ms', async (t) => {
  const [a, b] = await twoInstances(t, (store) => ({ type: 'bearer', opaque: { store } }))
  const times: number[] = []
  for (let i = 0; i < 10; i++) {
    const { token } = await a.store.issue({ subject: 'alice', scopes: ['me:read'], expiresIn: 60, user: { username: 'alice' } })
    const onB = await get(b.app, token)
    t.equal(onB.statusCode, 200)
    t.same(onB.json(), { username: 'alice' })
    t.equal((await get(a.app, token)).statusCode, 200, 'and on A, which now has it in its cache')
    t.equal(await b.store.revoke(token), true)
    times.push(await timeToRefusal(a.app, token))
    const refused = await get(a.app, token)
    t.equal(refused.headers['www-authenticate'], invalidChallenge)
    t.same(refused.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'))
  }
  t.comment(`opaque revoke on B -> refused on A: ${summary(times)}`)
  t.ok(Math.max(...times) < 100)

  const tokens = await Promise.all([1, 2, 3].map(() => b.store.issue({ subject: 'bob', expiresIn: 60 })))
  for (const { token } of tokens) t.equal((await get(a.app, token)).statusCode, 200)
  t.equal(await a.store.revokeAll('bob'), 3)
  for (const { token } of tokens) t.equal((await get(b.app, token)).statusCode, 401, 'revokeAll on A: refused on B')
})

t.test('JWTs: revoked on B (jti or revokeAll), refused on A within 100 ms', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const [a, b] = await twoInstances(t, (store) => ({
    type: 'bearer',
    jwt: { publicKey, algorithms: ['ES256'], issuer: 'iss', audience: 'aud', requiredClaims: ['jti'], isRevoked: jtiRevocation(store) }
  }))
  const sign = (key: KeyObject, subject: string) => signAccessToken({ key, algorithm: 'ES256', issuer: 'iss', audience: 'aud', subject, expiresIn: 60 })
  const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string, exp: number }

  const times: number[] = []
  for (let i = 0; i < 10; i++) {
    const token = await sign(privateKey, `user${i}`)
    t.equal((await get(a.app, token)).statusCode, 200)
    const { jti, exp } = claims(token)
    await b.store.revokeJti(jti, exp)
    times.push(await timeToRefusal(a.app, token))
    t.equal((await get(a.app, token)).headers['www-authenticate'], revokedChallenge)
  }
  t.comment(`JWT jti revoke on B -> refused on A: ${summary(times)}`)
  t.ok(Math.max(...times) < 100)

  const carol = await sign(privateKey, 'carol')
  t.equal((await get(a.app, carol)).statusCode, 200)
  await b.store.revokeAll('carol')
  const ms = await timeToRefusal(a.app, carol)
  t.comment(`JWT revokeAll on B -> refused on A: ${ms.toFixed(2)} ms`)
  t.ok(ms < 100)
})

t.test('Redis stopped: both instances answer 503 with Retry-After at once; they recover when it is back', async (t) => {
  const [a, b] = await twoInstances(t, (store) => ({ type: 'bearer', opaque: { store } }))
  const { token } = await a.store.issue({ subject: 'alice', expiresIn: 60 })
  t.equal((await get(a.app, token)).statusCode, 200, 'cached on A')
  t.equal((await get(b.app, token)).statusCode, 200, 'cached on B')

  await server.stop()
  await until(() => a.client.status !== 'ready' && b.client.status !== 'ready')
  for (const { app } of [a, b]) {
    const start = Date.now()
    const res = await get(app, token)
    t.ok(Date.now() - start < 100, 'no request waits: the store knows Redis is away')
    t.equal(res.statusCode, 503, 'fail closed, cache or not')
    t.equal(res.headers['retry-after'], '5')
    t.equal(res.headers['www-authenticate'], undefined)
    t.same(res.json(), unavailableBody)
  }

  await server.start()
  const start = Date.now()
  await until(() => a.client.status === 'ready' && b.client.status === 'ready' && a.store.subscribed && b.store.subscribed)
  t.comment(`reconnected and resubscribed ${Date.now() - start} ms after redis-server answered PING`)
  // This redis-server keeps nothing on disk: the old token is gone, and refused as unknown.
  t.equal((await get(b.app, token)).statusCode, 401)
  const fresh = await b.store.issue({ subject: 'alice', expiresIn: 60 })
  t.equal((await get(a.app, fresh.token)).statusCode, 200)
  await a.store.revoke(fresh.token)
  t.ok(await timeToRefusal(b.app, fresh.token) < 100, 'revocations propagate again')
})
