import t from 'tap'
import fastifyJwt from '@fastify/jwt'
import protectedRoutes, { InvalidOptionError, requireUser, type ProtectedRoutesOptions } from '../lib/index.js'
import { build, errorBody, fresh, spyVerify } from './helpers/app.js'

// The option is untyped here: the types tie it to a FastifyProtectedRoutes declaration
// (test/types/user-property), and this file checks the runtime for every value.
function withUserProperty (userProperty: unknown): ProtectedRoutesOptions {
  return { schemes: { bearerAuth: { type: 'bearer', tokens: { 'alice-token': { username: 'alice', scopes: ['me:read'] } } } }, userProperty } as unknown as ProtectedRoutesOptions
}

const userRequired = errorBody(500, 'FST_PROTECTED_ROUTES_USER_REQUIRED', 'This handler requires a verified user but the request has none; protect its route with config.auth')

t.test('by default the user is request.user, and request.auth.user is the same object', async (t) => {
  const app = await build(t, withUserProperty(undefined))
  app.get('/me', { config: { auth: true } }, async (request) => ({
    user: request.user,
    same: request.user === request.auth?.user,
    // JSON of request.auth is what it was before it carried the user.
    auth: JSON.parse(JSON.stringify(request.auth)) as unknown
  }))
  app.get('/public', async (request) => ({ user: request.user, auth: request.auth }))
  const me = await app.inject({ url: '/me', headers: { authorization: 'Bearer alice-token' } })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { user: { username: 'alice', scopes: ['me:read'] }, same: true, auth: { scheme: 'bearerAuth', scopes: ['me:read'] } })
  const pub = await app.inject({ url: '/public', headers: { authorization: 'Bearer alice-token' } })
  t.same(pub.json(), { user: null, auth: null })
})

t.test('with userProperty the user goes there and request.user is not decorated at all', async (t) => {
  const app = await build(t, withUserProperty('identity'))
  t.equal(app.hasRequestDecorator('identity'), true)
  t.equal(app.hasRequestDecorator('user'), false)
  app.get('/me', { config: { auth: true } }, async (request) => {
    const record = request as unknown as Record<string, unknown>
    return { identity: record.identity, hasUser: 'user' in request, authUser: request.auth?.user }
  })
  app.get('/public', async (request) => ({ identity: (request as unknown as Record<string, unknown>).identity }))
  const me = await app.inject({ url: '/me', headers: { authorization: 'Bearer alice-token' } })
  t.equal(me.statusCode, 200)
  const alice = { username: 'alice', scopes: ['me:read'] }
  t.same(me.json(), { identity: alice, hasUser: false, authUser: alice })
  t.same((await app.inject('/public')).json(), { identity: null })
})

t.test('the user property cannot be reassigned by a hook or a handler', async (t) => {
  const app = await build(t, withUserProperty(undefined))
  app.get('/me', {
    config: { auth: true },
    preHandler: async (request) => { (request as unknown as Record<string, unknown>).user = { username: 'mallory' } }
  }, async (request) => request.user)
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer alice-token' } })
  t.equal(res.statusCode, 500)
  t.match(res.json(), { statusCode: 500, message: /which has only a getter/ })
  t.notMatch(res.body, /mallory/)
})

t.test('userProperty is validated at boot', async (t) => {
  const badName = "userProperty must be a property name such as 'identity' (letters, digits, '_' or '$', not starting with a digit)"
  const taken = (name: string): string => `Invalid fastify-protected-routes option: userProperty '${name}': the request already has a property of that name (Fastify's own, another plugin's decorator such as @fastify/jwt's or @fastify/passport's 'user', or this plugin registered twice in one context); choose another name, e.g. 'identity'`
  const cases: Array<[unknown, string]> = [
    ['', `Invalid fastify-protected-routes option: ${badName}`],
    ['1st', `Invalid fastify-protected-routes option: ${badName}`],
    ['my-user', `Invalid fastify-protected-routes option: ${badName}`],
    ['user.name', `Invalid fastify-protected-routes option: ${badName}`],
    [42, `Invalid fastify-protected-routes option: ${badName}`],
    [Symbol('user'), `Invalid fastify-protected-routes option: ${badName}`],
    ['auth', "Invalid fastify-protected-routes option: userProperty cannot be 'auth': request.auth is this plugin's own (it carries the user too)"],
    // Fastify's own request properties: instance fields, getters and Object.prototype's.
    ...['headers', 'raw', 'body', 'query', 'params', 'id', 'log', 'routeOptions', 'ip', 'constructor', '__proto__', 'toString'].map((name): [string, string] => [name, taken(name)])
  ]
  for (const [userProperty, message] of cases) {
    const app = fresh(t)
    await t.rejects(async () => { await app.register(protectedRoutes, withUserProperty(userProperty)) }, { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message }, String(userProperty))
  }
})

t.test('beside @fastify/jwt, the default userProperty fails the boot saying what to set', async (t) => {
  const app = fresh(t)
  await app.register(fastifyJwt, { secret: 'a-secret-for-the-test-that-is-long-enough' })
  await t.rejects(async () => { await app.register(protectedRoutes, withUserProperty(undefined)) }, new InvalidOptionError("userProperty 'user': the request already has a property of that name (Fastify's own, another plugin's decorator such as @fastify/jwt's or @fastify/passport's 'user', or this plugin registered twice in one context); choose another name, e.g. 'identity'"))
})

t.test('requireUser gives the verified user on a protected route, whatever userProperty says', async (t) => {
  for (const userProperty of [undefined, 'identity']) {
    const app = await build(t, withUserProperty(userProperty))
    app.get('/me', { config: { auth: true } }, async (request) => requireUser(request))
    const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer alice-token' } })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { username: 'alice', scopes: ['me:read'] })
  }
})

t.test('requireUser fails closed with 500 wherever there is no verified user, and the handler does not go on', async (t) => {
  const verify = spyVerify({ 'alice-token': { username: 'alice' } })
  const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', verify } } })
  const reached: string[] = []
  const handler = async (request: Parameters<typeof requireUser>[0]): Promise<unknown> => {
    const user = requireUser(request)
    reached.push(request.url)
    return user
  }
  app.get('/public', handler)
  app.get('/optional', { config: { auth: { optional: true } } }, handler)
  // Some other code put an object of its own on request.auth.
  app.get('/forged', { preHandler: async (request) => { request.auth = { scheme: 'x', scopes: [], user: { username: 'mallory' } } } }, handler)
  for (const url of ['/public', '/optional', '/forged']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 500, url)
    t.same(res.json(), userRequired, url)
  }
  t.same(reached, [])
  t.same(verify.calls, [])

  // An app where the plugin is not registered at all: request.auth is undefined.
  const bare = fresh(t)
  bare.get('/me', handler)
  const res = await bare.inject('/me')
  t.equal(res.statusCode, 500)
  t.same(res.json(), userRequired)
  t.same(reached, [])
})
