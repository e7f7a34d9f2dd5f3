import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import protectedRoutes, { type ProtectedRoutesOptions, type TokenStore } from '../../lib/index.js'
import { kJwtInternals } from '../../lib/verifiers/jwt.js'
import type { JwtOptions } from '../../lib/verifiers/jwt-options.js'
import { AUDIENCE, claims, ISSUER, jwksServer, keyPair, sign } from '../helpers/jwt.js'
import { parseResponse, sendBytes, values, type WireResponse } from './fixtures/wire.js'
import { watch } from './fixtures/watch.js'

// Faults behind the verifier, seen from a socket: slow and hanging verifiers, a JWKS endpoint
// that fails, slows or vanishes, clients that leave mid-verification. Each must fail closed,
// on time, and leave nothing behind (the watch's final test).
const w = watch()
const TIMEOUT = 100

type RouteAuth = NonNullable<NonNullable<Parameters<FastifyInstance['get']>[1]>['config']>['auth']

/** A listening app with the plugin and GET /x; `setup` runs before it listens. */
async function app (t: Test, options: ProtectedRoutesOptions, routeAuth: RouteAuth = true, setup?: (app: FastifyInstance) => void): Promise<{ app: FastifyInstance, port: number }> {
  const server = Fastify({ logger: { level: 'trace', stream: w.stream }, forceCloseConnections: true })
  t.teardown(() => server.close())
  // Before the plugin: hooks added after it run after verification.
  setup?.(server)
  await server.register(protectedRoutes, options)
  server.get('/x', { config: { auth: routeAuth } }, async (request) => ({ user: request.user }))
  await server.listen({ port: 0, host: '127.0.0.1' })
  return { app: server, port: (server.server.address() as AddressInfo).port }
}

async function get (port: number, headers: Record<string, string>): Promise<WireResponse & { ms: number }> {
  const head = ['GET /x HTTP/1.1', 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'Connection: close', '', '']
  const started = performance.now()
  const res = parseResponse(await sendBytes(port, Buffer.from(head.join('\r\n'), 'latin1')))
  return { ...res, ms: performance.now() - started }
}

function code (res: WireResponse): unknown {
  return (JSON.parse(res.body) as { code?: string }).code
}

const never = (): Promise<never> => new Promise(() => {})
const hanging: TokenStore = {
  lookup: never,
  issue: never,
  revoke: never,
  revokeAll: never,
  revokeJti: never,
  isJwtRevoked: never,
  close: async () => {}
} as unknown as TokenStore

t.test('every kind of verifier that hangs gives 503 within verifyTimeout plus 50 ms', async (t) => {
  const hs = { secret: 'a-secret-of-at-least-thirty-two-bytes!', algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }
  const now = Math.floor(Date.now() / 1000)
  const token = await sign(new TextEncoder().encode(hs.secret), 'HS256', claims({ iat: now, exp: now + 600 }))
  const kinds: Array<[string, ProtectedRoutesOptions, Record<string, string>, unknown?]> = [
    ['bearer verify', { verifyTimeout: TIMEOUT, schemes: { s: { type: 'bearer', verify: never } } }, { Authorization: 'Bearer abc' }],
    ['API-key verify', { verifyTimeout: TIMEOUT, schemes: { s: { type: 'apiKey', in: 'header', name: 'X-Key', verify: never } } }, { 'X-Key': 'abc' }],
    ['JWT isRevoked', { verifyTimeout: TIMEOUT, schemes: { s: { type: 'bearer', jwt: { ...hs, isRevoked: never } } } }, { Authorization: `Bearer ${token}` }],
    ['JWT user mapping', { verifyTimeout: TIMEOUT, schemes: { s: { type: 'bearer', jwt: { ...hs, user: never } } } }, { Authorization: `Bearer ${token}` }],
    ['opaque token store', { verifyTimeout: TIMEOUT, schemes: { s: { type: 'bearer', opaque: { store: hanging } } } }, { Authorization: 'Bearer abc' }],
    ['authorize', { verifyTimeout: TIMEOUT, schemes: { s: { type: 'bearer', tokens: { abc: { id: 'a' } } } } }, { Authorization: 'Bearer abc' }, { authorize: never }]
  ]
  for (const [what, options, headers, routeAuth] of kinds) {
    await t.test(what, async (t) => {
      const { port } = await app(t, options, (routeAuth ?? true) as never)
      const times: number[] = []
      for (let i = 0; i < 5; i++) {
        const res = await get(port, headers)
        t.equal(res.status, 503)
        t.equal(code(res), 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE')
        t.same(values(res, 'retry-after'), ['5'])
        t.same(values(res, 'www-authenticate'), [])
        times.push(res.ms)
      }
      times.sort((a, b) => a - b)
      // Never early; on time at the median (a loaded CI machine may delay one answer).
      t.ok(times[0]! >= TIMEOUT - 1, `never before verifyTimeout (${times.map(Math.round).join(', ')} ms)`)
      t.ok(times[2]! < TIMEOUT + 50, `within verifyTimeout + 50 ms (median ${Math.round(times[2]!)} ms)`)
      t.ok(times[4]! < TIMEOUT + 1000, 'no answer waits for anything but the timeout')
    })
  }
})

t.test('no timer is left after many verifications that answered, timed out or failed', async (t) => {
  let n = 0
  const { app: server } = await app(t, {
    verifyTimeout: 30,
    schemes: {
      s: {
        type: 'bearer',
        verify: async (token) => {
          n++
          if (token === 'hang') return await never()
          if (token === 'fail') throw new Error('backend down')
          return { id: token }
        }
      }
    }
  })
  const timers = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length
  const before = timers()
  const answers = await Promise.all(Array.from({ length: 300 }, (_, i) =>
    server.inject({ url: '/x', headers: { authorization: `Bearer ${['ok', 'hang', 'fail'][i % 3]!}` } })))
  t.same([...new Set(answers.map((res) => res.statusCode))].sort(), [200, 500, 503])
  t.equal(n, 300)
  t.equal(timers(), before, 'every verifyTimeout timer was cleared')
})

t.test('a JWKS endpoint that fails, slows or vanishes: warm keys keep working, cold fails closed', async (t) => {
  const rsa = await keyPair('RS256', 'k1')
  const stranger = await keyPair('RS256', 'k2')
  const valid = await sign(rsa.privateKey, 'RS256', claims({ exp: Math.floor(Date.now() / 1000) + 600, iat: Math.floor(Date.now() / 1000) }), { kid: 'k1' })
  const forged = await sign(stranger.privateKey, 'RS256', claims({ exp: Math.floor(Date.now() / 1000) + 600, iat: Math.floor(Date.now() / 1000) }), { kid: 'k1' })
  const jwt = (url: string): JwtOptions => ({
    jwksUrl: url,
    algorithms: ['RS256'],
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksTimeout: 100,
    jwksCooldown: 0,
    jwksCacheMaxAge: 0, // refetch on every verification: every request meets the endpoint's state
    cache: false,
    [kJwtInternals]: {}
  } as JwtOptions)

  for (const failure of ['error', 'slow', 'gone'] as const) {
    await t.test(`${failure}: warm`, async (t) => {
      const jwks = await jwksServer(t, [rsa.publicJwk])
      const { port } = await app(t, { verifyTimeout: 1000, schemes: { s: { type: 'bearer', jwt: jwt(jwks.url) } } })
      t.equal((await get(port, { Authorization: `Bearer ${valid}` })).status, 200, 'the keys are fetched')
      if (failure === 'gone') await jwks.stop()
      else jwks.mode(failure, 5000)
      const hits = jwks.hits()
      const res = await get(port, { Authorization: `Bearer ${valid}` })
      t.equal(res.status, 200, 'the fetched key still verifies')
      t.ok(res.ms < 100 + 150, `without waiting past jwksTimeout (${Math.round(res.ms)} ms)`)
      if (failure !== 'gone') t.ok(jwks.hits() > hits, 'a refetch was tried')
      const refused = await get(port, { Authorization: `Bearer ${forged}` })
      t.equal(refused.status, 401, 'a forged token is still refused')
      t.equal(code(refused), 'FST_PROTECTED_ROUTES_INVALID_TOKEN')
    })
    await t.test(`${failure}: cold`, async (t) => {
      const jwks = await jwksServer(t, [rsa.publicJwk])
      if (failure === 'gone') await jwks.stop()
      else jwks.mode(failure, 5000)
      const { port } = await app(t, { verifyTimeout: 1000, schemes: { s: { type: 'bearer', jwt: jwt(jwks.url) } } })
      for (const token of [valid, forged]) {
        const res = await get(port, { Authorization: `Bearer ${token}` })
        t.equal(res.status, 503, 'no key was ever fetched: 503, never 2xx')
        t.equal(code(res), 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE')
        t.same(values(res, 'retry-after'), ['5'])
        t.ok(res.ms < 100 + 150, `within jwksTimeout (${Math.round(res.ms)} ms)`)
      }
    })
  }
})

/** Sends a request, waits until its verification has started, then destroys the socket. */
async function leaveMidVerification (port: number, headers: string, started: Promise<void>): Promise<void> {
  const socket = net.connect(port, '127.0.0.1', () => {
    socket.write(`GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n\r\n`)
  })
  socket.on('error', () => {})
  await started
  socket.destroy()
  await new Promise((resolve) => socket.once('close', resolve))
}

for (const outcome of ['resolves with a user', 'resolves null', 'rejects', 'times out'] as const) {
  t.test(`a verifier that ${outcome} after the client left writes nothing and leaves no trace`, async (t) => {
    let begin: () => void = () => {}
    const started = new Promise<void>((resolve) => { begin = resolve })
    let settle: () => void = () => {}
    const writesAfterLeaving: string[] = []
    let left = false
    // Counts writes to a live response once the client has gone. (Fastify still runs the rest of
    // the lifecycle, as for any request whose client leaves; the response it ends is destroyed,
    // so no byte can reach the wire.)
    let serverSawClose: () => void = () => {}
    const closed = new Promise<void>((resolve) => { serverSawClose = resolve })
    const spyOnWrites = (server: FastifyInstance): void => {
      server.addHook('onRequest', async (_request, reply) => {
        const raw = reply.raw
        raw.once('close', () => serverSawClose())
        const write = raw.write.bind(raw)
        const end = raw.end.bind(raw)
        raw.write = ((...args: Parameters<typeof write>) => {
          if (left && !raw.destroyed) writesAfterLeaving.push('write')
          return write(...args)
        }) as typeof write
        raw.end = ((...args: Parameters<typeof end>) => {
          if (left && !raw.destroyed) writesAfterLeaving.push('end')
          return end(...args)
        }) as typeof end
      })
    }
    const { port } = await app(t, {
      verifyTimeout: outcome === 'times out' ? 50 : 5000,
      schemes: {
        s: {
          type: 'bearer',
          verify: (token) => token === 'ok'
            ? { id: 'next' }
            : new Promise((resolve, reject) => {
              settle = () => outcome === 'rejects' ? reject(new Error('backend down')) : resolve(outcome === 'resolves null' ? null : { id: 'late' })
              begin()
            })
        }
      }
    }, true, spyOnWrites)
    const logs = w.logsFrom()
    await leaveMidVerification(port, 'Authorization: Bearer slow', started)
    await closed
    left = true
    if (outcome === 'times out') await sleep(80)
    else settle()
    await sleep(50)
    t.same(writesAfterLeaving, [], 'nothing is written to a live response')
    // The fault is logged (by the plugin, then by Fastify's error handler); nothing else is.
    const errors = logs().split('\n').filter((line) => line !== '' && (JSON.parse(line) as { level: number }).level >= 40 && !line.includes('"code":"FST_PROTECTED_ROUTES_'))
    t.same(errors, [], 'no error or warning beyond the fault itself is logged')
    const next = await get(port, { Authorization: 'Bearer ok' })
    t.equal(next.status, 200, 'the server goes on answering')
  })
}

t.test('a client that leaves while the JWKS is being fetched leaves no trace', async (t) => {
  const rsa = await keyPair('RS256', 'k1')
  const now = Math.floor(Date.now() / 1000)
  const valid = await sign(rsa.privateKey, 'RS256', claims({ iat: now, exp: now + 600 }), { kid: 'k1' })
  const jwks = await jwksServer(t, [rsa.publicJwk])
  jwks.mode('slow', 150)
  const { port } = await app(t, { schemes: { s: { type: 'bearer', jwt: { jwksUrl: jwks.url, algorithms: ['RS256'], issuer: ISSUER, audience: AUDIENCE } } } })
  let hit: () => void = () => {}
  const fetching = new Promise<void>((resolve) => { hit = resolve })
  const poll = setInterval(() => { if (jwks.hits() > 0) hit() }, 5)
  await leaveMidVerification(port, `Authorization: Bearer ${valid}`, fetching)
  clearInterval(poll)
  await sleep(250)
  const res = await get(port, { Authorization: `Bearer ${valid}` })
  t.equal(res.status, 200, 'the keys the abandoned request fetched serve the next one')
  t.equal(jwks.hits(), 1)
})

w.check(t)
