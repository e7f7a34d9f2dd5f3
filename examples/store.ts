import type { FastifyInstance } from 'fastify'
import { MemoryTokenStore, RedisTokenStore, type TokenStore } from '../lib/index.js'

/** What POST /token issues: RFC 9068 JWTs (the default) or opaque tokens kept in the store. */
export type TokenFormat = 'jwt' | 'opaque'

/** What the start script takes from its environment for the token store. */
export interface StoreConfig {
  readonly redisUrl: string | undefined
  readonly tokenFormat: TokenFormat
}

/** Reads REDIS_URL (unset or empty: the memory store) and TOKEN_FORMAT ('jwt', the default, or 'opaque'). */
export function readStoreConfig (env: Readonly<Record<string, string | undefined>>): StoreConfig {
  const tokenFormat = env.TOKEN_FORMAT === undefined || env.TOKEN_FORMAT === '' ? 'jwt' : env.TOKEN_FORMAT
  if (tokenFormat !== 'jwt' && tokenFormat !== 'opaque') throw new RangeError("TOKEN_FORMAT must be 'jwt' or 'opaque'")
  return { redisUrl: env.REDIS_URL === undefined || env.REDIS_URL === '' ? undefined : env.REDIS_URL, tokenFormat }
}

/** The start script's line about tokens; never the Redis URL, which may hold a password. */
export function storeBanner ({ redisUrl, tokenFormat }: StoreConfig): string {
  return `Access tokens: ${tokenFormat === 'opaque' ? 'opaque' : 'JWT'}; token store: ${redisUrl === undefined ? 'memory (this process only)' : 'Redis (REDIS_URL)'}\n`
}

/**
 * The token store: in Redis at `redisUrl` (shared by every instance that uses it), else in this
 * process. Closed with the app. ioredis is loaded only when Redis is used: the plugin itself
 * never imports it.
 */
export async function createTokenStore (app: FastifyInstance, redisUrl: string | undefined): Promise<TokenStore> {
  if (redisUrl === undefined) {
    const store = new MemoryTokenStore()
    app.addHook('onClose', () => store.close())
    return store
  }
  const { Redis } = await import('ioredis')
  // After boot ioredis reconnects by itself (every 2 s at most); while Redis is away, the store
  // answers 503 at once instead of queueing.
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 5000 })
  // The app owns the client, so the app listens for its errors (the message only: a URL may hold a password).
  redis.on('error', (err: Error) => app.log.warn({ reason: err.message }, 'redis connection error'))
  try {
    // Fail at boot with a clear message rather than answer every request with 503.
    await redis.connect()
  } catch (err) {
    redis.disconnect()
    throw new Error('Redis at REDIS_URL is not reachable', { cause: err })
  }
  // The store's own pub/sub connection reports the same outages: its errors are not logged twice.
  const store = new RedisTokenStore(redis)
  app.addHook('onClose', async () => {
    await store.close()
    redis.disconnect()
  })
  return store
}
