import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { MemoryTokenStore, RedisTokenStore, type TokenStore } from '../lib/index.js'
import type { ReplayCache } from './dpop-proof.js'
import { KEY_PUBLISH_AHEAD } from './key-set.js'

/** What POST /token issues: RFC 9068 JWTs (the default) or opaque tokens kept in the store. */
export type TokenFormat = 'jwt' | 'opaque'

/** The example's token store: either of the plugin's, both of which record DPoP proof ids (`useOnce`). */
export type ExampleStore = TokenStore & ReplayCache

/** What the start script takes from its environment for the token store. */
export interface StoreConfig {
  readonly redisUrl: string | undefined
  readonly tokenFormat: TokenFormat
  /** Seals the JWT signing keys shared through Redis (SIGNING_KEYS_SECRET). */
  readonly signingKeysSecret: string | undefined
}

const unlessEmpty = (value: string | undefined): string | undefined => value === '' ? undefined : value

/**
 * Reads REDIS_URL (unset or empty: the memory store), TOKEN_FORMAT ('jwt', the default, or
 * 'opaque') and SIGNING_KEYS_SECRET (needed with REDIS_URL and JWTs).
 */
export function readStoreConfig (env: Readonly<Record<string, string | undefined>>): StoreConfig {
  const tokenFormat = unlessEmpty(env.TOKEN_FORMAT) ?? 'jwt'
  if (tokenFormat !== 'jwt' && tokenFormat !== 'opaque') throw new RangeError("TOKEN_FORMAT must be 'jwt' or 'opaque'")
  return { redisUrl: unlessEmpty(env.REDIS_URL), tokenFormat, signingKeysSecret: unlessEmpty(env.SIGNING_KEYS_SECRET) }
}

/** What the key rotation script takes from its environment. */
export interface RotationConfig {
  readonly redisUrl: string
  readonly signingKeysSecret: string
  /** Ms from now until the new key signs. */
  readonly activateIn: number
}

/**
 * Reads REDIS_URL and SIGNING_KEYS_SECRET (both needed: the instances' own), and ACTIVATE_IN,
 * the whole seconds until the new key signs (default {@link KEY_PUBLISH_AHEAD}; 0 at once).
 */
export function readRotationConfig (env: Readonly<Record<string, string | undefined>>): RotationConfig {
  const { redisUrl, signingKeysSecret } = readStoreConfig({ REDIS_URL: env.REDIS_URL, SIGNING_KEYS_SECRET: env.SIGNING_KEYS_SECRET })
  if (redisUrl === undefined) throw new RangeError('REDIS_URL must name the Redis the instances share')
  if (signingKeysSecret === undefined) throw new RangeError('SIGNING_KEYS_SECRET must be the instances\' secret')
  const seconds = unlessEmpty(env.ACTIVATE_IN) ?? String(KEY_PUBLISH_AHEAD / 1000)
  if (!/^\d{1,7}$/.test(seconds)) throw new RangeError('ACTIVATE_IN must be a whole number of seconds')
  return { redisUrl, signingKeysSecret, activateIn: Number(seconds) * 1000 }
}

/** The start script's line about tokens; never the Redis URL, which may hold a password, nor the secret. */
export function storeBanner ({ redisUrl, tokenFormat }: StoreConfig): string {
  return `Access tokens: ${tokenFormat === 'opaque' ? 'opaque' : 'JWT'}; token store: ${redisUrl === undefined ? 'memory (this process only)' : 'Redis (REDIS_URL)'}\n`
}

/**
 * The token store: in Redis at `redisUrl` (shared by every instance that uses it), else in this
 * process; and the app's Redis client, for the signing keys. Closed with the app. ioredis is
 * loaded only when Redis is used: the plugin itself never imports it.
 */
export async function createTokenStore (app: FastifyInstance, redisUrl: string | undefined): Promise<{ store: ExampleStore, redis?: Redis }> {
  if (redisUrl === undefined) {
    const store = new MemoryTokenStore()
    app.addHook('onClose', () => store.close())
    return { store }
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
  return { store, redis }
}
