import { setImmediate as tick } from 'node:timers/promises'
import t from 'tap'
import { build, captureLogs, errorBody, freshWithLogs } from '../helpers/app.js'
import protectedRoutes from '../../lib/index.js'

// Regression: `authorize` was awaited with no time limit, so a predicate that never settled
// (a lost database call) held the request, its socket and its memory for as long as the
// client waited. It is now held to verifyTimeout like a verifier: 503 with Retry-After.

const unavailable = errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable')
const users = { good: { id: 'alice' } }

t.test('an authorize that never settles gives 503 within verifyTimeout', async (t) => {
  const logs = captureLogs()
  const app = freshWithLogs(t, logs)
  await app.register(protectedRoutes, { verifyTimeout: 80, schemes: { bearer: { type: 'bearer', tokens: users } } })
  let handled = 0
  app.get('/x', { config: { auth: { authorize: () => new Promise<boolean>(() => {}) } } }, async () => { handled++; return 'handler ran' })
  const started = performance.now()
  const res = await app.inject({ url: '/x', headers: { authorization: 'Bearer good' } })
  const elapsed = performance.now() - started
  t.equal(res.statusCode, 503)
  t.same(res.json(), unavailable)
  t.equal(res.headers['retry-after'], '5')
  t.equal(res.headers['www-authenticate'], undefined)
  t.ok(elapsed >= 75 && elapsed < 80 + 50, `answered after ${Math.round(elapsed)} ms`)
  t.equal(handled, 0)
  t.match(logs.lines.filter((line) => line.msg === 'authorization fault'), [{ level: 50, err: { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE' } }])
})

t.test('an authorize that allows after the 503 was sent changes nothing', async (t) => {
  let allow: (value: boolean) => void = () => {}
  let handled = 0
  const app = await build(t, { verifyTimeout: 30, schemes: { bearer: { type: 'bearer', tokens: users } } })
  app.get('/x', { config: { auth: { authorize: () => new Promise<boolean>((resolve) => { allow = resolve }) } } }, async () => { handled++; return 'handler ran' })
  const res = await app.inject({ url: '/x', headers: { authorization: 'Bearer good' } })
  t.equal(res.statusCode, 503)
  allow(true)
  for (let i = 0; i < 5; i++) await tick()
  t.equal(handled, 0)
})

t.test('a slow authorize within verifyTimeout still decides', async (t) => {
  const app = await build(t, { verifyTimeout: 1000, schemes: { bearer: { type: 'bearer', tokens: users } } })
  app.get('/yes', { config: { auth: { authorize: async () => await new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20)) } } }, async () => 'yes')
  app.get('/no', { config: { auth: { authorize: async () => await new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20)) } } }, async () => 'no')
  t.equal((await app.inject({ url: '/yes', headers: { authorization: 'Bearer good' } })).statusCode, 200)
  t.equal((await app.inject({ url: '/no', headers: { authorization: 'Bearer good' } })).statusCode, 403)
})
