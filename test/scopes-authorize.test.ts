import t from 'tap'
import type { AuthorizeFunction, AuthUser, ProtectedRoutesOptions } from '../lib/index.js'
import { build, captureLogs, errorBody, freshWithLogs } from './helpers/app.js'
import protectedRoutes from '../lib/index.js'

const insufficient = errorBody(403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', 'The access token does not grant the required scope')
const denied = errorBody(403, 'FST_PROTECTED_ROUTES_ACCESS_DENIED', 'Access to this resource is not allowed')

const users = {
  reader: { id: 'r', scopes: ['read'] },
  writer: { id: 'w', scope: 'read write' },
  admin: { id: 'a', scopes: ['read', 'write', 'admin'] },
  nobody: { id: 'n' }
}

const options: ProtectedRoutesOptions = {
  schemes: {
    bearer: { type: 'bearer', tokens: users },
    key: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { 'key-reader': users.reader } }
  },
  defaultSchemes: ['bearer', 'key']
}

function authorizeSpy (answer: (user: AuthUser) => unknown) {
  const calls: unknown[] = []
  const authorize = ((request, user) => {
    calls.push([request.url, user])
    return answer(user)
  }) as AuthorizeFunction
  return { authorize, calls }
}

t.test('a user with every required scope gets through', async (t) => {
  const app = await build(t, options)
  app.get('/write', { config: { auth: { scopes: ['read', 'write'] } } }, async (request) => request.auth)
  for (const [token, scopes] of [['writer', ['read', 'write']], ['admin', ['read', 'write', 'admin']]] as const) {
    const res = await app.inject({ url: '/write', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200, token)
    t.same(res.json(), { scheme: 'bearer', scopes })
  }
})

t.test('a missing scope is a 403 insufficient_scope naming every required scope', async (t) => {
  const app = await build(t, options)
  app.get('/write', { config: { auth: { scopes: ['read', 'write'] } } }, async () => 'ok')
  for (const token of ['reader', 'nobody']) {
    const res = await app.inject({ url: '/write', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 403, token)
    t.equal(res.headers['www-authenticate'],
      'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="read write"')
    t.same(res.json(), insufficient)
  }
})

t.test('the 403 challenge is that of the scheme that identified the user', async (t) => {
  const app = await build(t, options)
  app.get('/write', { config: { auth: { scopes: ['write'] } } }, async () => 'ok')
  const res = await app.inject({ url: '/write', headers: { 'x-token': 'key-reader' } })
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'],
    'ApiKey realm="api", in="header", name="X-Token", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="write"')
  t.same(res.json(), insufficient)
})

t.test('authorize sees the request and the user, and true lets the request through', async (t) => {
  const app = await build(t, options)
  const spy = authorizeSpy(async (user) => (user as { id: string }).id === 'w')
  app.get('/owned', { config: { auth: { authorize: spy.authorize } } }, async (request) => request.user)
  const res = await app.inject({ url: '/owned', headers: { authorization: 'Bearer writer' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), users.writer)
  t.same(spy.calls, [['/owned', users.writer]])
})

t.test('authorize refusing is a 403, with no scope attribute when the route names no scopes', async (t) => {
  const app = await build(t, options)
  const answers = [false, undefined, null, 1, 'true', {}, Promise.resolve('true')]
  answers.forEach((answer, i) => {
    app.get(`/refuse/${i}`, { config: { auth: { authorize: () => answer as boolean } } }, async () => 'ok')
  })
  for (const [i, answer] of answers.entries()) {
    const res = await app.inject({ url: `/refuse/${i}`, headers: { authorization: 'Bearer admin' } })
    t.equal(res.statusCode, 403, `${String(answer)}: only true allows`)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="Access to this resource is not allowed"')
    t.same(res.json(), denied)
  }
})

t.test('authorize refusing on a route with scopes names them in the challenge', async (t) => {
  const app = await build(t, options)
  app.get('/x', { config: { auth: { scopes: ['read'], authorize: () => false } } }, async () => 'ok')
  const res = await app.inject({ url: '/x', headers: { authorization: 'Bearer admin' } })
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="Access to this resource is not allowed", scope="read"')
  t.same(res.json(), denied)
})

t.test('scopes are checked before authorize, which never sees a user lacking them', async (t) => {
  const app = await build(t, options)
  const spy = authorizeSpy(() => true)
  app.get('/x', { config: { auth: { scopes: ['admin'], authorize: spy.authorize } } }, async () => 'ok')
  t.equal((await app.inject({ url: '/x', headers: { authorization: 'Bearer writer' } })).statusCode, 403)
  t.same(spy.calls, [])
  t.equal((await app.inject({ url: '/x', headers: { authorization: 'Bearer admin' } })).statusCode, 200)
  t.equal(spy.calls.length, 1)
})

t.test('authorize throwing or rejecting is a 500 that hides the reason and logs it', async (t) => {
  for (const authorize of [
    () => { throw new Error('db down while authorizing') },
    async () => { throw new Error('db down while authorizing') }
  ] as AuthorizeFunction[]) {
    const logs = captureLogs()
    const app = freshWithLogs(t, logs)
    await app.register(protectedRoutes, options)
    let handled = 0
    app.get('/x', { config: { auth: { authorize } } }, async () => { handled++; return 'ok' })
    const res = await app.inject({ url: '/x', headers: { authorization: 'Bearer admin' } })
    t.equal(res.statusCode, 500)
    t.same(res.json(), errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed'))
    t.equal(res.headers['www-authenticate'], undefined)
    t.notMatch(res.body, 'db down')
    t.equal(handled, 0)
    const fault = logs.lines.find((line) => line.msg === 'authorization fault')
    t.match(fault, { level: 50, scheme: 'bearer', err: { code: 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', message: /db down while authorizing/ } })
    t.notMatch(logs.text(), 'Bearer admin')
  }
})

t.test('request.auth carries the scopes the user was granted, not the ones the route asked for', async (t) => {
  const app = await build(t, options)
  app.get('/x', { config: { auth: { scopes: ['read'] } } }, async (request) => request.auth)
  t.same((await app.inject({ url: '/x', headers: { authorization: 'Bearer admin' } })).json(), { scheme: 'bearer', scopes: ['read', 'write', 'admin'] })
})

t.test('a getScopes that returns a string is a fault, never a substring match', async (t) => {
  const app = await build(t, {
    getScopes: (user) => (user as { scope: string }).scope as unknown as string[],
    schemes: { bearer: { type: 'bearer', verify: () => ({ id: 1, scope: 'readonly' }) } }
  })
  let handled = 0
  app.get('/read', { config: { auth: { scopes: ['read'] } } }, async () => { handled++; return 'granted' })
  const res = await app.inject({ url: '/read', headers: { authorization: 'Bearer abc' } })
  t.equal(res.statusCode, 500)
  t.same(res.json(), errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed'))
  t.equal(handled, 0)
})
