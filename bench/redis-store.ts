/**
 * Cost of one token-store check per request: an opaque-token lookup and a JWT revocation check,
 * in the memory store, and in the Redis store with its local cache (a hit) and without it (one
 * round trip to a redis-server on loopback). Sequential (the latency one request pays) and 64 at
 * a time (what a busy instance pays per request). Alternating rounds; the medians are printed.
 * Starts its own redis-server (Debian: apt-get install redis-server) unless REDIS_URL is set.
 *
 *   npx tsx bench/redis-store.ts [opsPerRound=20000] [rounds=7]
 */
import { Redis } from 'ioredis'
import { MemoryTokenStore, RedisTokenStore, type TokenStore } from '../lib/index.js'
import { redisServer } from '../test/helpers/redis.js'

const ops = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 7)

type Case = readonly [name: string, run: () => Promise<unknown>, opsPerRound: number, concurrency: number]

/** Microseconds per operation, `concurrency` operations in flight at a time. */
async function time (run: () => Promise<unknown>, count: number, concurrency: number): Promise<number> {
  const start = process.hrtime.bigint()
  for (let done = 0; done < count; done += concurrency) {
    if (concurrency === 1) await run()
    else await Promise.all(Array.from({ length: concurrency }, run))
  }
  return Number(process.hrtime.bigint() - start) / 1000 / count
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function main (): Promise<void> {
  const cleanups: Array<() => unknown> = []
  let url = process.env.REDIS_URL
  if (url === undefined || url === '') {
    const server = await redisServer({ teardown: (fn) => { cleanups.push(fn) } })
    url = `redis://127.0.0.1:${server.port}`
  }
  const clients = [new Redis(url), new Redis(url)]
  const cached = new RedisTokenStore(clients[0]!, { prefix: 'bench:' })
  const uncached = new RedisTokenStore(clients[1]!, { prefix: 'bench:', cache: false })
  const memory = new MemoryTokenStore()
  while (!cached.subscribed || !uncached.subscribed) await new Promise((resolve) => setTimeout(resolve, 10))

  const { token } = await cached.issue({ subject: 'bench', scopes: ['read'], expiresIn: 3600 })
  const { token: memoryToken } = await memory.issue({ subject: 'bench', scopes: ['read'], expiresIn: 3600 })
  const claims = { jti: 'bench-jti', sub: 'bench', iat: Math.floor(Date.now() / 1000) }
  const lookup = (store: TokenStore, presented: string) => async () => {
    if (await store.lookup(presented) === null) throw new Error('the bench token was refused')
  }
  const revoked = (store: TokenStore) => async () => {
    if (await store.isJwtRevoked(claims)) throw new Error('the bench JWT counts as revoked')
  }
  const slow = Math.max(64, Math.floor(ops / 4))
  const cases: Case[] = [
    ['opaque lookup, memory store', lookup(memory, memoryToken), ops, 1],
    ['opaque lookup, Redis, local cache hit', lookup(cached, token), ops, 1],
    ['opaque lookup, Redis, no cache (GET)', lookup(uncached, token), slow, 1],
    ['opaque lookup, Redis, no cache, 64 in flight', lookup(uncached, token), slow, 64],
    ['JWT revocation check, memory store', revoked(memory), ops, 1],
    ['JWT revocation check, Redis, local cache hit', revoked(cached), ops, 1],
    ['JWT revocation check, Redis, no cache (MGET)', revoked(uncached), slow, 1]
  ]
  for (const [, run] of cases) await run()

  const results = new Map<string, number[]>(cases.map(([name]) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    for (const [name, run, count, concurrency] of cases) results.get(name)!.push(await time(run, count, concurrency))
  }

  console.log(`node ${process.version}, ${rounds} alternating rounds, median µs per operation`)
  for (const [name, values] of results) console.log(`${name.padEnd(48)} ${median(values).toFixed(2).padStart(8)} µs`)

  await cached.close()
  await uncached.close()
  for (const client of clients) client.disconnect()
  for (const cleanup of cleanups) await cleanup()
}

await main()
