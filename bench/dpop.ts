/**
 * What DPoP (RFC 9449) adds to a request with a cached JWT, in one process: the plugin's scheme
 * answering the same bound token as `DPoP` with a fresh ES256 proof (memory replay store, and a
 * RedisTokenStore on a redis-server of its own) against the same scheme answering an unbound
 * token as `Bearer`, beside jose's jwtVerify of the same proofs: with the proof's key imported
 * once (the signature alone) and with EmbeddedJWK (imported per proof, as a plain use of jose
 * would). The target: our overhead beyond the signature verification at most 25% of it.
 * CPU time of this process per operation, 32 in flight. The cases are interleaved batch by
 * batch (one batch of each per cycle, the order rotating), and the overhead is computed within
 * each cycle from that cycle's batches, then the median over cycles is taken: drift in the
 * machine's load hits the compared batches alike. Starts its own redis-server unless REDIS_URL is set.
 *
 *   npx tsx bench/dpop.ts [opsPerBatch=128] [cycles=80]
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import bearerAuth from '@fastify/bearer-auth'
import { calculateJwkThumbprint, EmbeddedJWK, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose'
import { createHash, randomUUID, webcrypto } from 'node:crypto'
import { Redis } from 'ioredis'
import { MemoryTokenStore, RedisTokenStore, type ProtectedRoutesOptions, type TokenStore } from '../lib/index.js'
import { DpopCredential, type Credential } from '../lib/credential.js'
import { normalizeOptions } from '../lib/options.js'
import { buildSchemes, type Scheme } from '../lib/schemes/index.js'
import { redisServer } from '../test/helpers/redis.js'

const ops = Number(process.argv[2] ?? 128)
const cycles = Number(process.argv[3] ?? 80)
const issuer = 'https://issuer.example/'
const audience = 'https://api.example/'
const htu = 'http://localhost/me'
const CONCURRENCY = 32

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const request = { raw: { method: 'GET', url: '/me' }, protocol: 'http', host: 'localhost', log: { warn () {}, error () {} } } as unknown as FastifyRequest
const reply = { header () { return reply } } as unknown as FastifyReply

function verifyOnce (scheme: Scheme, credential: Credential): Promise<void> {
  return new Promise((resolve, reject) => {
    scheme.verify(credential, request, reply, (failed, verified) => {
      if (verified === null) reject(failed ?? new Error('refused'))
      else resolve()
    })
  })
}

async function main (): Promise<void> {
  const cleanups: Array<() => unknown> = []
  let url = process.env.REDIS_URL
  if (url === undefined || url === '') {
    const server = await redisServer({ teardown: (fn) => { cleanups.push(fn) } })
    url = `redis://127.0.0.1:${server.port}`
  }
  // Auto-pipelining: concurrent commands share a write, as a busy instance's client should.
  const redis = new Redis(url, { enableAutoPipelining: true })
  const redisStore = new RedisTokenStore(redis, { prefix: `bench-${randomUUID()}:` })

  const client = await generateKeyPair('ES256', { extractable: true })
  const jwk = await exportJWK(client.publicKey)
  const jkt = await calculateJwkThumbprint(jwk)
  const imported = await importJWK(jwk, 'ES256')
  const secret = webcrypto.getRandomValues(new Uint8Array(32))
  const sign = async (claims: Record<string, unknown>): Promise<string> =>
    await new SignJWT({ scope: 'read', ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setIssuer(issuer).setAudience(audience).setSubject('bench').setIssuedAt().setExpirationTime('2h').sign(secret)
  const bound = await sign({ cnf: { jkt } })
  const bearer = await sign({})
  const ath = createHash('sha256').update(bound).digest('base64url')
  const proofs = async (count: number): Promise<string[]> => await Promise.all(Array.from({ length: count }, async () =>
    await new SignJWT({ jti: randomUUID(), htm: 'GET', htu, iat: Math.floor(Date.now() / 1000), ath })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: jwk as JWK }).sign(client.privateKey)))

  const app = Fastify()
  await app.register(bearerAuth, { keys: [], addHook: false })
  const schemeWith = async (replayStore: TokenStore): Promise<Scheme> => {
    const options = normalizeOptions({ schemes: { s: { type: 'bearer', jwt: { secret, algorithms: ['HS256'], issuer, audience }, dpop: { replayStore } } } } as ProtectedRoutesOptions)
    return (await buildSchemes(options, app.verifyBearerAuthFactory!)).get('s')!
  }
  const memory = await schemeWith(new MemoryTokenStore({ maxProofs: 1_000_000 }))
  const shared = await schemeWith(redisStore)

  // Every case accepts its credential (and the JWT caches are warm).
  await verifyOnce(memory, bearer)
  await verifyOnce(memory, new DpopCredential(bound, (await proofs(1))[0]))
  await verifyOnce(shared, new DpopCredential(bound, (await proofs(1))[0]))

  type Case = readonly [name: string, run: (proof: string) => Promise<unknown>, count: number]
  const cases: Case[] = [
    ['cached JWT as Bearer (no DPoP)', async () => await verifyOnce(memory, bearer), ops * 4],
    ['jose jwtVerify of the proof, key imported once', async (proof) => await jwtVerify(proof, imported, { typ: 'dpop+jwt', algorithms: ['ES256'] }), ops],
    ['jose jwtVerify of the proof, EmbeddedJWK', async (proof) => await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] }), ops],
    ['cached JWT as DPoP, memory replay store', async (proof) => await verifyOnce(memory, new DpopCredential(bound, proof)), ops],
    ['cached JWT as DPoP, Redis replay store', async (proof) => await verifyOnce(shared, new DpopCredential(bound, proof)), ops],
    // What the Redis replay store's one command costs the client alone: the floor of that case.
    ['ioredis SET NX PX alone (reference)', async (proof) => await redis.set(`bench-set:${proof.slice(-43)}`, '1', 'PX', 70_000, 'NX'), ops]
  ]
  // One cycle: a batch of each case, in an order that rotates from cycle to cycle.
  const perCycle: Array<Map<string, number>> = []
  for (let cycle = 0; cycle < cycles; cycle++) {
    const shift = cycle % cases.length
    const order = [...cases.slice(shift), ...cases.slice(0, shift)]
    const measured = new Map<string, number>()
    for (const [name, run, count] of order) {
      // Fresh proofs for each batch (a proof is accepted once), made before the clock starts.
      const batch = name.includes('Bearer') ? [] : await proofs(count)
      // CPU time of this process, CONCURRENCY requests in flight (as on a busy instance): a
      // Redis round trip's wait costs no CPU, its client work does.
      const start = process.cpuUsage()
      for (let i = 0; i < count; i += CONCURRENCY) await Promise.all(batch.length === 0 ? Array.from({ length: CONCURRENCY }, async () => await run('')) : batch.slice(i, i + CONCURRENCY).map(run))
      const used = process.cpuUsage(start)
      measured.set(name, (used.user + used.system) / count)
    }
    perCycle.push(measured)
  }
  const m = (name: string): number => median(perCycle.map((measured) => measured.get(name)!))
  /** The median over cycles of a figure computed from one cycle's batches. */
  const paired = (figure: (at: (name: string) => number) => number): number => median(perCycle.map((measured) => figure((name) => measured.get(name)!)))
  console.log(`node ${process.version}, ${cycles} cycles of interleaved batches, median CPU µs/op, ${CONCURRENCY} in flight`)
  for (const [name, , count] of cases) console.log(`${name.padEnd(44)} ${m(name).toFixed(2).padStart(9)} µs/op  (${count} ops/batch)`)
  const BEARER = 'cached JWT as Bearer (no DPoP)'
  const SIGNATURE = 'jose jwtVerify of the proof, key imported once'
  for (const store of ['memory', 'Redis']) {
    const DPOP = `cached JWT as DPoP, ${store} replay store`
    const added = paired((at) => at(DPOP) - at(BEARER))
    const beyond = paired((at) => (at(DPOP) - at(BEARER) - at(SIGNATURE)) / at(SIGNATURE))
    console.log(`DPoP (${store} store): ${added.toFixed(2)} µs added; beyond the signature: ${(beyond * 100).toFixed(1)}% of it (target <= 25%: ${beyond <= 0.25 ? 'met' : 'NOT met'})`)
  }
  const SET = 'ioredis SET NX PX alone (reference)'
  const ours = paired((at) => (at('cached JWT as DPoP, Redis replay store') - at(BEARER) - at(SIGNATURE) - at(SET)) / at(SIGNATURE))
  console.log(`DPoP (Redis store) beyond the signature and the client's own SET: ${(ours * 100).toFixed(1)}% of the signature`)
  await redisStore.close()
  redis.disconnect()
  await app.close()
  for (const cleanup of cleanups) await cleanup()
}

await main()
