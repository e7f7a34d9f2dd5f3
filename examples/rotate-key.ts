import { Redis } from 'ioredis'
import { retentionFor, SharedKeySet } from './key-set.js'
import { DEFAULT_TOKEN_LIFETIME } from './server.js'
import { readRotationConfig } from './store.js'

// `npx tsx examples/rotate-key.ts`: adds a signing key to the set the instances on REDIS_URL
// share. It is in their JWKS at once and signs from ACTIVATE_IN seconds later (default 122:
// past every instance's JWKS refresh); the key it replaces keeps verifying until the tokens it
// signed have expired, and a later rotation removes it. No instance is restarted. Tests run it
// as a child process and never import it.
async function rotate (env: NodeJS.ProcessEnv): Promise<string> {
  const { redisUrl, signingKeysSecret, activateIn } = readRotationConfig(env)
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 1 })
  // Failures surface through the commands; the message only would name the host.
  redis.on('error', () => {})
  try {
    await redis.connect().catch((err: unknown) => { throw new Error('Redis at REDIS_URL is not reachable', { cause: err }) })
    const keys = await SharedKeySet.open(redis, { secret: signingKeysSecret, retention: retentionFor(DEFAULT_TOKEN_LIFETIME) })
    const { kid, signFrom, removed } = await keys.rotate({ activateIn })
    return `New signing key ${kid}: in the JWKS now, signing from ${new Date(signFrom).toISOString()}\n` +
      `Retired keys removed: ${removed.length === 0 ? 'none' : removed.join(' ')}\n`
  } finally {
    redis.disconnect()
  }
}

try {
  process.stdout.write(await rotate(process.env))
} catch (err) {
  process.stderr.write(`Key rotation failed: ${(err as Error).message}\n`)
  process.exitCode = 1
}
