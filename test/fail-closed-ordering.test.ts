import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import protectedRoutes, { type ProtectedRoutesOptions, type RouteAuthConfig } from '../lib/index.js'
import { captureLogs, errorBody, freshWithLogs, spyVerify } from './helpers/app.js'

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const notPrepared = errorBody(500, 'FST_PROTECTED_ROUTES_ROUTE_NOT_PREPARED',
  'This route asks for authentication but its config.auth is invalid; await app.register(protectedRoutes, …) before declaring routes to see the error at startup')
const good = { authorization: 'Bearer good' }
const EARLY_WARNING = 'fastify-protected-routes: the plugin loaded after this route was declared (the route was declared before app.register(protectedRoutes, …) was awaited, or in a context registered before the plugin), so its config.auth was read at its first request instead of at startup, and the route is missing from the OpenAPI document; it is protected as declared. Await app.register(protectedRoutes, …) at the root before declaring routes and registering route plugins.'

function setup (t: Test, extra: Partial<ProtectedRoutesOptions> = {}) {
  const verify = spyVerify({ good: { id: 1, scopes: ['read'] } })
  const logs = captureLogs()
  const app = freshWithLogs(t, logs)
  const options: ProtectedRoutesOptions = { schemes: { bearer: { type: 'bearer', verify } }, ...extra }
  return { app, logs, verify, options }
}

async function expectProtected (t: Test, app: FastifyInstance, url: string, method: 'GET' | 'HEAD' = 'GET') {
  const res = await app.inject({ method, url })
  t.equal(res.statusCode, 401, `${method} ${url} without a token`)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
  if (method === 'GET') t.same(res.json(), missing)
  const ok = await app.inject({ method, url, headers: good })
  t.equal(ok.statusCode, 200, `${method} ${url} with a token`)
  return ok
}

t.test('a route declared right after a register() that was not awaited is protected as declared', async (t) => {
  const { app, logs, verify, options } = setup(t)
  app.register(protectedRoutes, options)
  app.get('/me', { config: { auth: true } }, async (request) => ({ user: request.user, auth: request.auth }))
  app.get('/scoped', { config: { auth: { scopes: ['admin'] } } }, async () => 'ok')
  app.get('/public', async (request) => ({ user: request.user }))

  const ok = await expectProtected(t, app, '/me')
  t.same(ok.json(), { user: { id: 1, scopes: ['read'] }, auth: { scheme: 'bearer', scopes: ['read'] } })
  await expectProtected(t, app, '/me')
  t.same(verify.calls, ['good', 'good'], 'verified once per request')

  const scoped = await app.inject({ url: '/scoped', headers: good })
  t.equal(scoped.statusCode, 403, 'the early route keeps its scopes')
  t.equal(scoped.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"')

  const open = await app.inject('/public')
  t.equal(open.statusCode, 200, 'an early public route stays public')
  t.same(open.json(), { user: null })

  const warnings = logs.lines.filter((line) => line.msg === EARLY_WARNING)
  t.match(warnings, [{ level: 40, method: 'GET', url: '/me' }, { level: 40, method: 'GET', url: '/scoped' }], 'one warning per early protected route, however many requests')
  t.equal(warnings.length, 2)
})

t.test('a route declared before the plugin never answers 2xx without a credential', async (t) => {
  const { app, verify, options } = setup(t)
  app.get('/early', { config: { auth: true } }, async () => 'leaked')
  app.post('/early', { config: { auth: true } }, async () => 'leaked')
  await app.register(protectedRoutes, options)
  for (const method of ['GET', 'POST', 'HEAD'] as const) {
    for (const headers of [{}, { authorization: 'Bearer bad' }, { authorization: 'Bearer' }, { authorization: 'Basic eDp5' }]) {
      const res = await app.inject({ method, url: '/early', headers })
      t.ok(res.statusCode >= 400, `${method} ${JSON.stringify(headers)}: ${res.statusCode}`)
      t.notMatch(res.body, 'leaked')
    }
  }
  t.same(verify.calls, ['bad', 'bad', 'bad'])
  await expectProtected(t, app, '/early', 'HEAD')
})

t.test('routes in a child plugin registered before the plugin are protected and verified once', async (t) => {
  const { app, verify, options } = setup(t)
  app.register(async function early (child) {
    child.get('/child', { config: { auth: true } }, async (request) => request.user)
    child.get('/child-public', async () => 'public')
    child.register(async function grandchild (inner) {
      inner.get('/grandchild', { config: { auth: true } }, async (request) => request.user)
    }, { prefix: '/deep' })
  }, { prefix: '/v1' })
  app.register(async function alsoEarly (child) {
    child.get('/sibling', { config: { auth: { scopes: ['read'] } } }, async (request) => request.user)
  })
  await app.register(protectedRoutes, options)
  app.register(async function late (child) {
    child.get('/late', { config: { auth: true } }, async (request) => request.user)
  })

  for (const url of ['/v1/child', '/v1/deep/grandchild', '/sibling', '/late']) {
    verify.calls.length = 0
    const ok = await expectProtected(t, app, url)
    t.same(ok.json(), { id: 1, scopes: ['read'] })
    t.same(verify.calls, ['good'], `${url}: the verifier ran once`)
  }
  t.equal((await app.inject('/v1/child-public')).statusCode, 200)
})

t.test('an early child route with an invalid config.auth answers 500 and never runs its handler', async (t) => {
  const { app, logs, verify, options } = setup(t)
  let handled = 0
  app.register(async function early (child) {
    child.get('/bad', { config: { auth: { schemes: ['nope'] } } }, async () => { handled++; return 'leaked' })
    child.get('/worse', { config: { auth: 'yes' as unknown as RouteAuthConfig } }, async () => { handled++; return 'leaked' })
  })
  await app.register(protectedRoutes, options)
  await app.ready()
  for (const url of ['/bad', '/bad', '/worse']) {
    const res = await app.inject({ url, headers: good })
    t.equal(res.statusCode, 500, url)
    t.same(res.json(), notPrepared)
    t.equal(res.headers['www-authenticate'], undefined)
  }
  t.equal(handled, 0)
  t.same(verify.calls, [])
  const errors = logs.lines.filter((line) => line.msg === 'fastify-protected-routes: invalid config.auth on a route declared before the plugin loaded')
  t.match(errors, [
    { level: 50, method: 'GET', url: '/bad', reason: "schemes names an unknown scheme 'nope'" },
    { level: 50, method: 'GET', url: '/worse', reason: 'must be true, false or an object' }
  ])
  t.equal(errors.length, 2, 'logged once per route')
})

t.test('an invalid config.auth on a route declared after the plugin stops the boot', async (t) => {
  const { app, options } = setup(t)
  await app.register(protectedRoutes, options)
  app.register(async function late (child) {
    child.get('/bad', { config: { auth: { schemes: ['nope'] } } }, async () => 'ok')
  })
  await t.rejects(async () => { await app.ready() }, {
    code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG',
    message: "Invalid config.auth on GET /bad: schemes names an unknown scheme 'nope'"
  })
})

t.test('under protectByDefault, early routes without config are protected and auth: false still opts out', async (t) => {
  const { app, verify, options } = setup(t, { protectByDefault: true })
  app.register(protectedRoutes, options)
  app.get('/default', async (request) => request.user)
  app.get('/public', { config: { auth: false } }, async () => 'public')
  app.options('/default', async () => 'preflight')
  await expectProtected(t, app, '/default')
  const open = await app.inject('/public')
  t.equal(open.statusCode, 200)
  t.equal(open.body, 'public')
  const options_ = await app.inject({ method: 'OPTIONS', url: '/default' })
  t.equal(options_.statusCode, 401, 'an early OPTIONS route is protected by default too')
  const preflight = await app.inject({ method: 'OPTIONS', url: '/default', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } })
  t.equal(preflight.statusCode, 200, 'but a CORS preflight to it passes unchallenged')
  t.equal(preflight.body, 'preflight')
  const notFound = await app.inject('/nowhere')
  t.equal(notFound.statusCode, 404, 'an unknown URL is a 404, not a challenge')
  t.equal(notFound.headers['www-authenticate'], undefined)
  t.same(verify.calls, ['good'])
})

t.test("early routes are protected with hook: 'onRequest' too", async (t) => {
  const { app, verify, options } = setup(t, { hook: 'onRequest' })
  let parsed = 0
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    parsed++
    done(null, JSON.parse(body as string))
  })
  app.post('/early', { config: { auth: true } }, async (request) => request.body)
  app.register(async (child) => {
    child.get('/child', { config: { auth: true } }, async () => 'ok')
  })
  await app.register(protectedRoutes, options)
  const refused = await app.inject({ method: 'POST', url: '/early', headers: { 'content-type': 'application/json' }, payload: '{}' })
  t.equal(refused.statusCode, 401)
  t.equal(parsed, 0, 'refused before the body is read')
  const ok = await app.inject({ method: 'POST', url: '/early', headers: { ...good, 'content-type': 'application/json' }, payload: '{"a":1}' })
  t.same(ok.json(), { a: 1 })
  await expectProtected(t, app, '/child')
  t.same(verify.calls, ['good', 'good'])
})

t.test('a config object shared by a route declared before the plugin and one after does not leak protection state', async (t) => {
  const { app, verify, options } = setup(t)
  const shared = { auth: true }
  const sharedScoped = { auth: { scopes: ['admin'] } }
  app.get('/early', { config: shared }, async () => 'early')
  app.get('/early-scoped', { config: sharedScoped }, async () => 'early')
  await app.register(protectedRoutes, options)
  app.get('/late', { config: shared }, async () => 'late')
  app.get('/late-scoped', { config: sharedScoped }, async () => 'late')
  app.get('/late-public', { config: { ...shared, auth: false } }, async () => 'public')

  for (const url of ['/early', '/late']) {
    verify.calls.length = 0
    await expectProtected(t, app, url)
    t.same(verify.calls, ['good'], `${url} verified once`)
  }
  for (const url of ['/early-scoped', '/late-scoped']) {
    const res = await app.inject({ url, headers: good })
    t.equal(res.statusCode, 403, `${url} keeps its scopes`)
  }
  t.equal((await app.inject('/late-public')).statusCode, 200)
  t.same(shared, { auth: true }, 'the shared object is unchanged')
  t.same(Object.getOwnPropertySymbols(shared), [])
})

t.test('a route declared before the plugin in another encapsulated context answers 500, never 2xx', async (t) => {
  const { app, verify, options } = setup(t)
  app.register(async function elsewhere (child) {
    child.get('/elsewhere', { config: { auth: true } }, async () => 'not ours')
  })
  app.register(async function api (child) {
    await child.register(protectedRoutes, options)
    child.get('/api', { config: { auth: true } }, async () => 'ok')
  })
  await expectProtected(t, app, '/api')
  const res = await app.inject('/elsewhere')
  t.equal(res.statusCode, 500, 'nothing outside the plugin context can verify it')
  t.same(res.json(), errorBody(500, 'FST_PROTECTED_ROUTES_ROUTE_OUTSIDE_PLUGIN', 'This route asks for authentication outside the context fastify-protected-routes is registered in'))
  t.same(verify.calls, ['good'])
})
