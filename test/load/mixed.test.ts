import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import autocannon from 'autocannon'
import Fastify, { type FastifyRequest } from 'fastify'
import { SignJWT } from 'jose'
import t from 'tap'
import protectedRoutes from '../../lib/index.js'

// A bounded load run on 127.0.0.1: mixed requests (valid, invalid, missing, malformed, wrong
// scope, static keys, JWTs from a pool larger than the JWT cache, a fresh random token on
// every refusal), each carrying what it deserves. The server counts every answer that differs
// from it; the run must end with no wrong decision, no 5xx and a bounded heap.
//
// LOAD_REQUESTS (default 20000, `npm run test:load`: 200000) and LOAD_CONNECTIONS (default 100).
const REQUESTS = Number(process.env.LOAD_REQUESTS ?? 20_000)
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 100)
const JWT_CACHE = 1000
const JWT_POOL = 3000 // three times the cache: it must evict, not grow
const HEAP_BOUND = 32 * 1024 * 1024

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function heapAfterGc (): number {
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}

const ISSUER = 'https://issuer.load.example/'
const AUDIENCE = 'https://api.load.example/'
const secret = randomBytes(32)
const now = Math.floor(Date.now() / 1000)
const sign = async (claims: Record<string, unknown>, alg = 'HS256'): Promise<string> =>
  await new SignJWT({ iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 3600, ...claims }).setProtectedHeader({ alg, typ: 'at+jwt' }).sign(secret)

/** One kind of request: how to make it and what it deserves. */
interface Kind {
  readonly name: string
  readonly path: string
  readonly status: number
  /** The user a 2xx must have been answered for. */
  readonly user?: string
  readonly headers: () => Record<string, string>
}

t.test(`${REQUESTS} mixed requests at concurrency ${CONNECTIONS}: no wrong decision, no 5xx, bounded heap`, async (t) => {
  const pool = await Promise.all(Array.from({ length: JWT_POOL }, async (_, i) => await sign({ sub: `user-${i}`, scope: 'read', jti: String(i) })))
  const expired = await sign({ sub: 'late', scope: 'read', iat: now - 7200, exp: now - 3600 })
  const unsigned = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${(pool[0]!).split('.')[1]!}.`
  const random = (): string => randomBytes(24).toString('base64url')
  let next = 0
  const pick = (): [string, string] => {
    const i = next++ % JWT_POOL
    return [pool[i]!, `user-${i}`]
  }

  const users: Record<string, { id: string, scopes: string[] }> = {
    'alice-token': { id: 'alice', scopes: ['read', 'write'] },
    'bob-token': { id: 'bob', scopes: ['read'] }
  }
  const app = Fastify({ logger: false, forceCloseConnections: true })
  t.teardown(() => app.close())
  await app.register(protectedRoutes, {
    schemes: {
      bearer: { type: 'bearer', verify: async (token) => users[token] ?? null },
      key: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { 'static-key-0123456789': { id: 'service', scopes: ['read'] } } },
      jwt: { type: 'bearer', jwt: { secret, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt', cache: { max: JWT_CACHE } } }
    }
  })

  const tally = { answers: 0, wrong: 0, wrongUser: 0, serverErrors: 0, byStatus: new Map<number, number>() }
  const handler = async (request: FastifyRequest) => {
    const user = request.user as { id?: string, sub?: string } | null
    const who = user === null ? 'anonymous' : String(user.id ?? user.sub)
    if (who !== (request.headers['x-expect-user'] ?? 'anonymous')) tally.wrongUser++
    return { user: who }
  }
  app.get('/public', handler)
  app.get('/bearer/write', { config: { auth: { schemes: ['bearer'], scopes: ['write'] } } }, handler)
  app.get('/key', { config: { auth: { schemes: ['key'] } } }, handler)
  app.get('/jwt/read', { config: { auth: { schemes: ['jwt'], scopes: ['read'] } } }, handler)
  app.get('/jwt/admin', { config: { auth: { schemes: ['jwt'], scopes: ['admin'] } } }, handler)
  app.addHook('onResponse', async (request, reply) => {
    tally.answers++
    tally.byStatus.set(reply.statusCode, (tally.byStatus.get(reply.statusCode) ?? 0) + 1)
    if (reply.statusCode >= 500) tally.serverErrors++
    if (String(reply.statusCode) !== request.headers['x-expect-status']) tally.wrong++
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port

  const kinds: Kind[] = [
    { name: 'valid bearer, enough scope', path: '/bearer/write', status: 200, user: 'alice', headers: () => ({ authorization: 'Bearer alice-token' }) },
    { name: 'valid bearer, wrong scope', path: '/bearer/write', status: 403, headers: () => ({ authorization: 'Bearer bob-token' }) },
    { name: 'invalid bearer (fresh random)', path: '/bearer/write', status: 401, headers: () => ({ authorization: `Bearer ${random()}` }) },
    { name: 'missing credential', path: '/bearer/write', status: 401, headers: () => ({}) },
    { name: 'malformed bearer', path: '/bearer/write', status: 400, headers: () => ({ authorization: 'Bearer a b' }) },
    { name: 'public route', path: '/public', status: 200, headers: () => ({}) },
    { name: 'valid static key', path: '/key', status: 200, user: 'service', headers: () => ({ 'x-token': 'static-key-0123456789' }) },
    { name: 'static key near miss', path: '/key', status: 401, headers: () => ({ 'x-token': 'static-key-0123456788' }) },
    { name: 'valid JWT (pool larger than the cache)', path: '/jwt/read', status: 200, headers: () => ({}) },
    { name: 'valid JWT, wrong scope', path: '/jwt/admin', status: 403, headers: () => ({ authorization: `Bearer ${pick()[0]}` }) },
    { name: 'forged JWT (fresh random signature)', path: '/jwt/read', status: 401, headers: () => ({ authorization: `Bearer ${pool[0]!.slice(0, pool[0]!.lastIndexOf('.') + 1)}${randomBytes(32).toString('base64url')}` }) },
    { name: 'expired JWT', path: '/jwt/read', status: 401, headers: () => ({ authorization: `Bearer ${expired}` }) },
    { name: 'alg none JWT', path: '/jwt/read', status: 401, headers: () => ({ authorization: `Bearer ${unsigned}` }) }
  ]
  const sent = new Map<string, number>()
  let clientMismatches = 0
  const requests = kinds.map((kind) => ({
    method: 'GET' as const,
    path: kind.path,
    setupRequest: (request: autocannon.Request, context: Record<string, unknown>) => {
      sent.set(kind.name, (sent.get(kind.name) ?? 0) + 1)
      let headers = kind.headers()
      let user = kind.user
      if (kind.name.startsWith('valid JWT (')) {
        const [token, sub] = pick()
        headers = { authorization: `Bearer ${token}` }
        user = sub
      }
      context.expected = kind.status
      return {
        ...request,
        headers: {
          ...headers,
          'x-expect-status': String(kind.status),
          ...(user === undefined ? {} : { 'x-expect-user': user })
        }
      }
    },
    onResponse: (status: number, _body: string, context: Record<string, unknown>) => {
      if (status !== context.expected) clientMismatches++
    }
  }))

  // Warm up (JIT, the first JWTs), then measure the heap from a settled state.
  await autocannon({ url: `http://127.0.0.1:${port}`, connections: 10, amount: 2000, requests: requests as autocannon.Request[] })
  tally.answers = 0
  tally.wrong = 0
  tally.wrongUser = 0
  tally.serverErrors = 0
  tally.byStatus.clear()
  sent.clear()
  clientMismatches = 0
  const heapBefore = heapAfterGc()

  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    amount: REQUESTS,
    timeout: 30,
    requests: requests as autocannon.Request[]
  })
  const heapAfter = heapAfterGc()

  const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`
  const figures = {
    requests: result.requests.total,
    connections: CONNECTIONS,
    seconds: result.duration,
    'req/s (mean)': Math.round(result.requests.average),
    'latency p99 ms': result.latency.p99,
    wrongDecisions: tally.wrong + tally.wrongUser + clientMismatches,
    serverSide: { answers: tally.answers, wrongStatus: tally.wrong, wrongUser: tally.wrongUser, '5xx': tally.serverErrors },
    clientSide: { mismatches: clientMismatches, '5xx': result['5xx'], errors: result.errors, timeouts: result.timeouts },
    statuses: Object.fromEntries([...tally.byStatus].sort(([a], [b]) => a - b)),
    heap: { before: mb(heapBefore), after: mb(heapAfter), growth: mb(heapAfter - heapBefore) }
  }
  t.comment(JSON.stringify(figures))

  t.equal(result.errors, 0, 'no connection error')
  t.equal(result.timeouts, 0, 'no timeout')
  t.equal(tally.answers, REQUESTS, 'every request was answered')
  t.equal(tally.wrong, 0, 'no answer with another status than its credential deserves')
  t.equal(tally.wrongUser, 0, 'no 2xx for another user than its credential names')
  t.equal(clientMismatches, 0, 'the client saw the same')
  t.equal(tally.serverErrors + result['5xx'], 0, 'no 5xx')
  t.same([...sent.keys()].sort(), kinds.map((kind) => kind.name).sort(), 'every kind of request was sent')
  t.ok(heapAfter - heapBefore < HEAP_BOUND, `heap growth ${mb(heapAfter - heapBefore)} under ${mb(HEAP_BOUND)}`)
})
