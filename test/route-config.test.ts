import t from 'tap'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { ProtectedRoutesOptions, RouteAuthConfig } from '../lib/index.js'
import { build, errorBody, spyVerify } from './helpers/app.js'

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const keyChallenge = 'ApiKey realm="api", in="header", name="X-Token"'

function options (extra: Partial<ProtectedRoutesOptions> = {}) {
  const bearerVerify = spyVerify({ good: { id: 'b' } })
  const keyVerify = spyVerify({ key1: { id: 'k' } })
  return {
    bearerVerify,
    keyVerify,
    options: {
      schemes: {
        bearer: { type: 'bearer', verify: bearerVerify },
        key: { type: 'apiKey', in: 'header', name: 'X-Token', verify: keyVerify }
      },
      defaultSchemes: ['bearer'],
      ...extra
    } satisfies ProtectedRoutesOptions
  }
}

const invalid: Array<[string, unknown, string]> = [
  ['a string', 'yes', 'must be true, false or an object'],
  ['null', null, 'must be true, false or an object'],
  ['an array', ['bearer'], 'must be true, false or an object'],
  ['a number', 1, 'must be true, false or an object'],
  ['an unknown key', { scheme: ['bearer'] }, "unknown key 'scheme' (known: schemes, scopes, authorize, optional, all, acr, maxAge)"],
  ['schemes as a string', { schemes: 'bearer' }, 'schemes must be an array of strings'],
  ['schemes holding a number', { schemes: ['bearer', 1] }, 'schemes must be an array of strings'],
  ['a scheme listed twice', { schemes: ['bearer', 'bearer'] }, 'schemes lists an entry twice'],
  ['no schemes', { schemes: [] }, 'schemes must name at least one scheme'],
  ['an unknown scheme', { schemes: ['bearer', 'basic'] }, "schemes names an unknown scheme 'basic'"],
  ['scopes as a string', { scopes: 'read' }, 'scopes must be an array of strings'],
  ['a scope listed twice', { scopes: ['read', 'read'] }, 'scopes lists an entry twice'],
  ['a scope with a space', { scopes: ['read write'] }, 'scopes must be RFC 6749 scope tokens (no spaces, quotes or backslashes)'],
  ['a scope with a quote', { scopes: ['read"'] }, 'scopes must be RFC 6749 scope tokens (no spaces, quotes or backslashes)'],
  ['a scope with a backslash', { scopes: ['a\\b'] }, 'scopes must be RFC 6749 scope tokens (no spaces, quotes or backslashes)'],
  ['an empty scope', { scopes: [''] }, 'scopes must be RFC 6749 scope tokens (no spaces, quotes or backslashes)'],
  ['authorize that is not a function', { authorize: true }, 'authorize must be a function'],
  ['optional that is not a boolean', { optional: 'yes' }, 'optional must be a boolean']
]

for (const [what, auth, reason] of invalid) {
  t.test(`config.auth with ${what} stops the boot`, async (t) => {
    const { options: opts, bearerVerify } = options()
    const app = await build(t, opts)
    app.register(async function routes (instance) {
      instance.get('/bad', { config: { auth: auth as RouteAuthConfig } }, async () => 'ok')
    })
    await t.rejects(async () => { await app.ready() }, {
      code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG',
      message: `Invalid config.auth on GET /bad: ${reason}`
    })
    t.same(bearerVerify.calls, [])
  })
}

t.test('an invalid config.auth declared at the top level throws where the route is declared', async (t) => {
  const { options: opts } = options()
  const app = await build(t, opts)
  t.throws(() => app.get('/bad', { config: { auth: { schemes: ['nope'] } } }, async () => 'ok'), {
    code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG',
    message: "Invalid config.auth on GET /bad: schemes names an unknown scheme 'nope'"
  })
})

t.test('the boot error names every method of a multi-method route', async (t) => {
  const { options: opts } = options()
  const app = await build(t, opts)
  t.throws(() => app.route({ method: ['GET', 'POST'], url: '/bad', config: { auth: { optional: 1 as unknown as boolean } }, handler: async () => 'ok' }), {
    message: 'Invalid config.auth on GET,POST /bad: optional must be a boolean'
  })
})

t.test('a route opts in with auth: true or an empty object, and stays public otherwise', async (t) => {
  const { options: opts, bearerVerify } = options()
  const app = await build(t, opts)
  const seen = (request: FastifyRequest) => ({ user: request.user, auth: request.auth })
  app.get('/true', { config: { auth: true } }, async (request) => seen(request))
  // The types refuse an empty object (it says nothing); at run time it means the same as true.
  app.get('/object', { config: { auth: {} as RouteAuthConfig } }, async (request) => seen(request))
  app.get('/false', { config: { auth: false } }, async (request) => seen(request))
  app.get('/other-config', { config: { rateLimit: 10 } as object }, async (request) => seen(request))
  app.get('/no-config', async (request) => seen(request))

  for (const url of ['/true', '/object']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 401, `${url} without a token`)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
    t.same(res.json(), missing)
    const ok = await app.inject({ url, headers: { authorization: 'Bearer good' } })
    t.equal(ok.statusCode, 200, `${url} with a token`)
    t.same(ok.json(), { user: { id: 'b' }, auth: { scheme: 'bearer', scopes: [] } })
  }
  for (const url of ['/false', '/other-config', '/no-config']) {
    const res = await app.inject({ url, headers: { authorization: 'Bearer good' } })
    t.equal(res.statusCode, 200, `${url} is public`)
    t.same(res.json(), { user: null, auth: null }, `${url} leaves request.user and request.auth null, even with a token`)
    t.equal(res.headers['www-authenticate'], undefined)
  }
  t.same(bearerVerify.calls, ['good', 'good'], 'public routes never run the verifier')
})

t.test('a route that names its schemes accepts only those', async (t) => {
  const { options: opts, bearerVerify, keyVerify } = options()
  const app = await build(t, opts)
  app.get('/key-only', { config: { auth: { schemes: ['key'] } } }, async (request) => request.auth)
  const bearerOnly = await app.inject({ url: '/key-only', headers: { authorization: 'Bearer good' } })
  t.equal(bearerOnly.statusCode, 401)
  t.equal(bearerOnly.headers['www-authenticate'], keyChallenge)
  t.same(bearerOnly.json(), missing)
  t.same(bearerVerify.calls, [], 'the bearer verifier is not consulted for a route that does not accept it')

  const ok = await app.inject({ url: '/key-only', headers: { 'x-token': 'key1' } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { scheme: 'key', scopes: [] })
  t.same(keyVerify.calls, ['key1'])
})

t.test('the app\'s config object is copied, never changed, and its other keys stay readable', async (t) => {
  const { options: opts } = options()
  const app = await build(t, opts)
  const config = { auth: true, feature: 'x' } as const
  app.get('/a', { config }, async (request) => ({ feature: (request.routeOptions.config as { feature?: string }).feature }))
  t.same(Object.getOwnPropertySymbols(config), [], 'no marker is written into the app\'s object')
  t.same(Object.keys(config), ['auth', 'feature'])
  const res = await app.inject({ url: '/a', headers: { authorization: 'Bearer good' } })
  t.same(res.json(), { feature: 'x' })
})

t.test('protectByDefault protects routes without config.auth and auth: false opts out', async (t) => {
  const { options: opts, bearerVerify } = options({ protectByDefault: true })
  const app = await build(t, opts)
  app.get('/default', async () => 'default')
  app.get('/config-without-auth', { config: { feature: 1 } as object }, async () => 'default')
  app.get('/public', { config: { auth: false } }, async () => 'public')
  for (const url of ['/default', '/config-without-auth']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 401, url)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
    t.same(res.json(), missing)
    t.equal((await app.inject({ url, headers: { authorization: 'Bearer good' } })).statusCode, 200)
  }
  const res = await app.inject('/public')
  t.equal(res.statusCode, 200)
  t.equal(res.body, 'public')
  t.same(bearerVerify.calls, ['good', 'good'])
})

t.test('under protectByDefault, OPTIONS-only routes let CORS preflights through and protect everything else', async (t) => {
  const { options: opts, bearerVerify } = options({ protectByDefault: true })
  const app = await build(t, opts)
  app.options('/preflight', async () => 'options')
  app.route({ method: ['OPTIONS'], url: '/preflight-array', handler: async () => 'options' })
  app.route({ method: ['GET', 'OPTIONS'], url: '/mixed', handler: async () => 'mixed' })
  const preflightHeaders = { origin: 'https://app.example', 'access-control-request-method': 'GET', authorization: 'Bearer bad!' }
  for (const url of ['/preflight', '/preflight-array']) {
    const preflight = await app.inject({ method: 'OPTIONS', url, headers: preflightHeaders })
    t.equal(preflight.statusCode, 200, `a preflight to ${url}`)
    t.equal(preflight.body, 'options')
    t.equal(preflight.headers['www-authenticate'], undefined)
    const plain = await app.inject({ method: 'OPTIONS', url })
    t.equal(plain.statusCode, 401, `a plain OPTIONS to ${url}`)
    t.same(plain.json(), missing)
  }
  const mixed = await app.inject({ method: 'OPTIONS', url: '/mixed', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } })
  t.equal(mixed.statusCode, 401, 'a preflight to a route that is also GET is protected')
  t.equal(mixed.headers['www-authenticate'], 'Bearer realm="api"')
  const get = await app.inject({ url: '/mixed', headers: { 'access-control-request-method': 'GET' } })
  t.equal(get.statusCode, 401, 'the preflight header on another method changes nothing')
  t.same(bearerVerify.calls, [], 'a preflight never reaches the verifier, whatever it carries')
})

t.test('an explicit config.auth on an OPTIONS-only route challenges preflights too', async (t) => {
  const { options: opts, bearerVerify } = options()
  const app = await build(t, opts)
  app.options('/things', { config: { auth: true } }, async (request) => ({ user: request.user }))
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/things',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' }
  })
  t.equal(preflight.statusCode, 401)
  t.same(preflight.json(), missing)
  t.equal(preflight.headers['www-authenticate'], 'Bearer realm="api"')
  const authed = await app.inject({
    method: 'OPTIONS',
    url: '/things',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', authorization: 'Bearer good' }
  })
  t.equal(authed.statusCode, 200)
  t.same(authed.json(), { user: { id: 'b' } })
  t.same(bearerVerify.calls, ['good'])
})

t.test('the automatic HEAD route of a protected GET is protected and verifies once', async (t) => {
  const { options: opts, bearerVerify } = options()
  const app = await build(t, opts)
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  const res = await app.inject({ method: 'HEAD', url: '/me' })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
  t.equal(res.body, '')
  const ok = await app.inject({ method: 'HEAD', url: '/me', headers: { authorization: 'Bearer good' } })
  t.equal(ok.statusCode, 200)
  t.same(bearerVerify.calls, ['good'])
})

t.test('routes under a prefix are protected, with and without the trailing slash', async (t) => {
  const { options: opts, bearerVerify } = options()
  const app = await build(t, opts)
  await app.register(async function v1 (instance) {
    instance.get('/', { config: { auth: true } }, async (request) => request.user)
    instance.get('/me', { config: { auth: true } }, async (request) => request.user)
    instance.get('/open', async () => 'open')
  }, { prefix: '/v1' })
  for (const url of ['/v1', '/v1/', '/v1/me']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 401, url)
    t.same(res.json(), missing)
    const ok = await app.inject({ url, headers: { authorization: 'Bearer good' } })
    t.equal(ok.statusCode, 200, url)
    t.same(ok.json(), { id: 'b' })
  }
  t.equal((await app.inject('/v1/open')).statusCode, 200)
  t.same(bearerVerify.calls, ['good', 'good', 'good'])
})

t.test("by default (hook: 'onRequest') credentials are checked before the body is read", async (t) => {
  const { options: opts } = options()
  const app = await build(t, opts)
  let parsed = 0
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    parsed++
    try {
      done(null, JSON.parse(body as string))
    } catch (err) {
      done(err as Error, undefined)
    }
  })
  app.post('/things', { config: { auth: true } }, async (request) => ({ user: request.user, body: request.body }))
  const refused = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json' }, payload: '{"a":1}' })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['www-authenticate'], 'Bearer realm="api"')
  t.equal(parsed, 0, 'the body of an unauthenticated request is never parsed')
  const ok = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json', authorization: 'Bearer good' }, payload: '{"a":1}' })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { user: { id: 'b' }, body: { a: 1 } })
  t.equal(parsed, 1)
})

t.test("with hook: 'preHandler' the body is parsed first", async (t) => {
  const { options: opts } = options({ hook: 'preHandler' })
  const app = await build(t, opts)
  app.post('/things', { config: { auth: true } }, async () => 'ok')
  const res = await app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.equal(res.statusCode, 400, 'a body error comes before authentication')
  t.equal(res.json().code, 'FST_ERR_CTP_INVALID_JSON_BODY')
})

for (const hook of ['preHandler', 'onRequest'] as const) {
  t.test(`the route's own ${hook} hooks run after authentication, whether it has one or several`, async (t) => {
    const { options: opts } = options({ hook })
    const app = await build(t, opts)
    const seen: Array<[string, unknown]> = []
    const own = (name: string) => function (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
      seen.push([name, request.user])
      done()
    }
    app.get('/one', { config: { auth: true }, [hook]: own('one') }, async () => 'ok')
    app.get('/many', { config: { auth: true }, [hook]: [own('first'), own('second')] }, async () => 'ok')

    t.equal((await app.inject('/one')).statusCode, 401)
    t.equal((await app.inject('/many')).statusCode, 401)
    t.same(seen, [], 'the route\'s hooks never run for a refused request')

    t.equal((await app.inject({ url: '/one', headers: { authorization: 'Bearer good' } })).statusCode, 200)
    t.equal((await app.inject({ url: '/many', headers: { authorization: 'Bearer good' } })).statusCode, 200)
    t.same(seen, [['one', { id: 'b' }], ['first', { id: 'b' }], ['second', { id: 'b' }]], 'and they see request.user')
  })
}
