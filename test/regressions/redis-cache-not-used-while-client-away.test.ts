// Right after Redis went away, a store whose subscription had not noticed yet answered a cached
// token from its local cache (200) while the other instances answered 503, and a revocation made
// meanwhile could not have reached that cache. The cache answers only while the client is ready.
import t from 'tap'
import { RedisTokenStore, VerifierUnavailableError } from '../../lib/index.js'
import { redisClient, redisServer, until } from '../helpers/redis.js'

const server = await redisServer(t)

t.test('a cached token is not answered from the cache once the client is away', async (t) => {
  const client = await redisClient(t, server)
  const store = new RedisTokenStore(client, { prefix: `reg-${Date.now()}:` })
  t.teardown(() => store.close())
  await until(() => store.subscribed)
  const { token } = await store.issue({ subject: 'alice', expiresIn: 60 })
  t.ok(await store.lookup(token), 'found, and now cached')
  // The store's own client goes away; its subscriber connection is still subscribed.
  client.disconnect()
  await until(() => client.status !== 'ready')
  t.ok(store.subscribed, 'the subscription has not noticed')
  const err = await store.lookup(token).then(() => null, (e: unknown) => e)
  t.ok(err instanceof VerifierUnavailableError, 'fail closed: 503, not the cached record')
})
