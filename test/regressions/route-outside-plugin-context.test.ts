import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import protectedRoutes, { type ProtectedRoutesOptions } from '../../lib/index.js'
import { errorBody, fresh, spyVerify, type VerifySpy } from '../helpers/app.js'

// Regression: with the plugin registered in a child context, a route that asks for
// `config: { auth: true }` outside that context (at the root, or in a sibling context) was
// never seen by the plugin's hooks and answered 200 to anyone, although its config says it
// needs a credential. Such a route must never run its handler: a request to one declared
// before the plugin loaded gets 500 ROUTE_OUTSIDE_PLUGIN, and one declared after it stops
// the boot with INVALID_ROUTE_CONFIG. Routes that ask for nothing are left alone, and two
// plugin instances in sibling contexts do not refuse each other's routes.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const outside = errorBody(500, 'FST_PROTECTED_ROUTES_ROUTE_OUTSIDE_PLUGIN',
  'This route asks for authentication outside the context fastify-protected-routes is registered in')
const good = { authorization: 'Bearer good' }

interface Setup {
  app: FastifyInstance
  verify: VerifySpy
  options: ProtectedRoutesOptions
  handled: Record<string, number>
  /** A handler that counts its runs under `name` and answers the user. */
  handler: (name: string) => () => Promise<{ route: string }>
}

function setup (t: Test): Setup {
  const verify = spyVerify({ good: { id: 'alice' } })
  const handled: Record<string, number> = {}
  const handler = (name: string) => async () => {
    handled[name] = (handled[name] ?? 0) + 1
    return { route: name }
  }
  return { app: fresh(t), verify, options: { schemes: { bearer: { type: 'bearer', verify } } }, handled, handler }
}

/** The plugin in a child context of its own, with one protected route `/in`. */
function registerApi ({ app, options, handler }: Setup): void {
  app.register(async function api (api) {
    await api.register(protectedRoutes, options)
    api.get('/in', { config: { auth: true } }, handler('in'))
  })
}

async function expectOutside (t: Test, app: FastifyInstance, url: string): Promise<void> {
  for (const headers of [{}, good, { authorization: 'Bearer bad' }]) {
    const res = await app.inject({ url, headers })
    t.equal(res.statusCode, 500, `${url} ${JSON.stringify(headers)}: never 200`)
    t.equal(res.headers['www-authenticate'], undefined, 'a fault, not a challenge')
    t.same(res.json(), outside, 'the ROUTE_OUTSIDE_PLUGIN body')
  }
}

async function expectIn (t: Test, app: FastifyInstance, verify: VerifySpy): Promise<void> {
  verify.calls.length = 0
  const res = await app.inject('/in')
  t.equal(res.statusCode, 401, '/in without a token')
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(res.json(), missing)
  const ok = await app.inject({ url: '/in', headers: good })
  t.equal(ok.statusCode, 200, '/in with a token')
  t.same(ok.json(), { route: 'in' })
  t.same(verify.calls, ['good'], 'the plugin verified /in once')
}

t.test('a protected root route declared before the plugin\'s child context answers 500, never 200', async (t) => {
  const s = setup(t)
  s.app.get('/root', { config: { auth: true } }, s.handler('root'))
  registerApi(s)
  await s.app.ready()
  await expectOutside(t, s.app, '/root')
  t.equal(s.handled.root, undefined, 'the root handler never runs')
  t.same(s.verify.calls, [], 'no verifier runs for a route outside the plugin')
  await expectIn(t, s.app, s.verify)
})

t.test('a protected route in a sibling context registered before the plugin\'s context answers 500, never 200', async (t) => {
  const s = setup(t)
  s.app.register(async function earlySibling (sibling) {
    sibling.get('/sibling', { config: { auth: true } }, s.handler('sibling'))
    sibling.get('/sibling-scoped', { config: { auth: { scopes: ['admin'] } } }, s.handler('sibling-scoped'))
  })
  registerApi(s)
  await s.app.ready()
  await expectOutside(t, s.app, '/sibling')
  await expectOutside(t, s.app, '/sibling-scoped')
  t.equal(s.handled.sibling, undefined, 'the sibling handler never runs')
  t.equal(s.handled['sibling-scoped'], undefined)
  t.same(s.verify.calls, [])
  await expectIn(t, s.app, s.verify)
})

t.test('a protected route in a sibling context registered after the plugin\'s context stops the boot', async (t) => {
  const s = setup(t)
  registerApi(s)
  s.app.register(async function lateSibling (sibling) {
    sibling.get('/late', { config: { auth: true } }, s.handler('late'))
  })
  await t.rejects(async () => { await s.app.ready() }, {
    code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG',
    message: /outside the context fastify-protected-routes is registered in/
  })
  t.equal(s.handled.late, undefined)
})

t.test('the boot error names every method of a route declared with several', async (t) => {
  const s = setup(t)
  registerApi(s)
  s.app.register(async function lateSibling (sibling) {
    sibling.route({ method: ['GET', 'POST'], url: '/late', config: { auth: true }, handler: s.handler('late') })
  })
  await t.rejects(async () => { await s.app.ready() }, {
    code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG',
    message: /^Invalid config\.auth on GET,POST \/late: this route is outside the context fastify-protected-routes is registered in/
  })
})

t.test('routes outside the plugin\'s context with auth: false or no auth are untouched', async (t) => {
  const s = setup(t)
  s.app.get('/root-open', s.handler('root-open'))
  s.app.get('/root-false', { config: { auth: false } }, s.handler('root-false'))
  s.app.register(async function earlySibling (sibling) {
    sibling.get('/early-open', s.handler('early-open'))
    sibling.get('/early-false', { config: { auth: false } }, s.handler('early-false'))
  })
  registerApi(s)
  s.app.register(async function lateSibling (sibling) {
    sibling.get('/late-open', s.handler('late-open'))
    sibling.get('/late-false', { config: { auth: false } }, s.handler('late-false'))
  })
  await s.app.ready()
  for (const name of ['root-open', 'root-false', 'early-open', 'early-false', 'late-open', 'late-false']) {
    const res = await s.app.inject(`/${name}`)
    t.equal(res.statusCode, 200, name)
    t.equal(res.headers['www-authenticate'], undefined)
    t.same(res.json(), { route: name })
    t.equal(s.handled[name], 1)
  }
  t.same(s.verify.calls, [], 'no verifier runs on routes that ask for nothing')
  await expectIn(t, s.app, s.verify)
})

t.test('two plugin instances in sibling contexts each protect their own routes and refuse neither\'s', async (t) => {
  const app = fresh(t)
  const bearer = spyVerify({ 'a-token': { id: 'alice' } })
  const apiKey = spyVerify({ 'b-key': { id: 'service' } })
  const handled = { a: 0, b: 0 }
  app.register(async function contextA (a) {
    await a.register(protectedRoutes, { schemes: { bearer: { type: 'bearer', verify: bearer } } })
    a.get('/a', { config: { auth: true } }, async (request) => { handled.a++; return { user: request.user } })
  })
  app.register(async function contextB (b) {
    await b.register(protectedRoutes, { schemes: { key: { type: 'apiKey', in: 'header', name: 'X-Key', verify: apiKey } } })
    b.get('/b', { config: { auth: true } }, async (request) => { handled.b++; return { user: request.user } })
  })
  await app.ready()

  const a = await app.inject('/a')
  t.equal(a.statusCode, 401, '/a without a credential')
  t.equal(a.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(a.json(), missing)
  const aWithKey = await app.inject({ url: '/a', headers: { 'x-key': 'b-key' } })
  t.equal(aWithKey.statusCode, 401, '/a does not take the other instance\'s credential')
  t.equal(aWithKey.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(aWithKey.json(), missing)
  const aOk = await app.inject({ url: '/a', headers: { authorization: 'Bearer a-token' } })
  t.equal(aOk.statusCode, 200)
  t.same(aOk.json(), { user: { id: 'alice' } })

  const b = await app.inject('/b')
  t.equal(b.statusCode, 401, '/b without a credential')
  t.equal(b.headers['www-authenticate'], 'ApiKey realm="api", in="header", name="X-Key"')
  t.same(b.json(), missing)
  const bWithBearer = await app.inject({ url: '/b', headers: { authorization: 'Bearer a-token' } })
  t.equal(bWithBearer.statusCode, 401, '/b does not take the other instance\'s credential')
  t.equal(bWithBearer.headers['www-authenticate'], 'ApiKey realm="api", in="header", name="X-Key"')
  t.same(bWithBearer.json(), missing)
  const bOk = await app.inject({ url: '/b', headers: { 'x-key': 'b-key' } })
  t.equal(bOk.statusCode, 200)
  t.same(bOk.json(), { user: { id: 'service' } })

  t.same(bearer.calls, ['a-token'], 'each verifier saw only its own routes\' requests')
  t.same(apiKey.calls, ['b-key'])
  t.same(handled, { a: 1, b: 1 })
})
