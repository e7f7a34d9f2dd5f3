// A DPoP proof is single-use across a deployment when the instances share their replay store:
// two Fastify instances, each with its own ioredis client and RedisTokenStore on one real
// redis-server, and proofs signed by oauth4webapi for tokens from oidc-provider.
import { test, type Test } from 'tap'
import protectedRoutes, { MemoryTokenStore, RedisTokenStore, type JwtOptions, type TokenStore } from '../../lib/index.js'
import { dpopDescriptions } from '../../lib/errors.js'
import { fresh, listen } from '../helpers/app.js'
import { assertAnswer, BEARER, dpopError } from '../helpers/dpop-app.js'
import { dpopKey, dpopProof, wireRequest } from '../helpers/dpop-client.js'
import { JWT_RESOURCE, startIssuer, type Issuer } from '../helpers/oidc-provider.js'
import { redisClient, redisServer, until, type RedisServer } from '../helpers/redis.js'

const REPLAYED = dpopDescriptions.replayed
let prefixes = 0

/** One instance of the app: its own Fastify; `replayStore` shared or not. Its URL differs by port only. */
async function instance (t: Test, as: Issuer, replayStore: TokenStore) {
  const jwt = { jwksUrl: as.jwksUri, issuer: as.issuer, audience: JWT_RESOURCE, algorithms: ['RS256'] } as JwtOptions
  const app = fresh(t)
  // Both instances are reached at one public origin, as behind a load balancer: one proof fits both.
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', jwt, dpop: { replayStore, origin: 'https://api.example' } } } })
  let handled = 0
  app.get('/me', { config: { auth: true } }, async () => {
    handled++
    return 'ok'
  })
  return { port: await listen(app), handled: () => handled }
}

async function redisStore (t: Test, server: RedisServer, prefix: string): Promise<RedisTokenStore> {
  const store = new RedisTokenStore(await redisClient(t, server), { prefix })
  t.teardown(() => store.close())
  await until(() => store.subscribed)
  return store
}

test('a proof accepted by instance A is refused when replayed to instance B: one Redis, two stores', async (t) => {
  const server = await redisServer(t)
  const as = await startIssuer(t, { dpop: true })
  const prefix = `dpop${prefixes++}:`
  const a = await instance(t, as, await redisStore(t, server, prefix))
  const b = await instance(t, as, await redisStore(t, server, prefix))
  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  const url = 'https://api.example/me'

  for (const [first, second] of [[a, b], [b, a]] as const) {
    const headers = { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', url, token) }
    t.equal((await wireRequest('GET', url, headers, { via: first.port })).status, 200, 'accepted where it is first used')
    const replayed = await wireRequest('GET', url, headers, { via: second.port })
    assertAnswer(t, replayed, 'invalid_dpop_proof', REPLAYED, [BEARER, dpopError('invalid_dpop_proof', REPLAYED)])
  }
  t.equal(a.handled() + b.handled(), 2, 'each proof ran a handler once')
})

test('the control: with a memory store each, the replay to the other instance gets through', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const a = await instance(t, as, new MemoryTokenStore())
  const b = await instance(t, as, new MemoryTokenStore())
  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  const url = 'https://api.example/me'
  const headers = { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', url, token) }
  t.equal((await wireRequest('GET', url, headers, { via: a.port })).status, 200)
  t.equal((await wireRequest('GET', url, headers, { via: b.port })).status, 200, 'B has not seen the jti: what a shared store is for')
  const again = await wireRequest('GET', url, headers, { via: a.port })
  assertAnswer(t, again, 'invalid_dpop_proof', REPLAYED, [BEARER, dpopError('invalid_dpop_proof', REPLAYED)])
})
