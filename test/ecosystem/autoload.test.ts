import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { captureLogs, errorBody } from '../helpers/app.js'
import { buildApp } from './fixtures/autoload/app.js'

// An @fastify/autoload app (test/ecosystem/fixtures/autoload): the plugin and @fastify/sensible
// in plugins/, routes in nested folders with autohooks, protectByDefault.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const alice = { authorization: 'Bearer alice-token' }
const root = { authorization: 'Bearer root-token' }

async function start (t: Test): Promise<{ app: FastifyInstance, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs()
  const app = await buildApp({ logger: { level: 'trace', stream: logs.stream } })
  t.teardown(() => app.close())
  await app.ready()
  return { app, logs }
}

t.test('routes of the routes folder are protected by default', async (t) => {
  const { app } = await start(t)
  for (const url of ['/users/me', '/users/alice', '/admin/stats']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 401, url)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api"', url)
    t.same(res.json(), missing, url)
  }
  const bad = await app.inject({ url: '/users/me', headers: { authorization: 'Bearer nope' } })
  t.equal(bad.statusCode, 401)
  t.equal(bad.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"')
  t.same(bad.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'))
})

t.test('with a credential, handlers and the folder\'s autohooks see the user', async (t) => {
  const { app } = await start(t)
  const me = await app.inject({ url: '/users/me', headers: alice })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { username: 'alice', scopes: ['users:read'] })
  t.equal(me.headers['x-user'], 'alice', 'a users/autohooks preHandler ran after verification')
  t.notOk(me.headers['www-authenticate'])
})

t.test('@fastify/sensible\'s reply helpers answer after verification, and never before it', async (t) => {
  const { app } = await start(t)
  const found = await app.inject({ url: '/users/bob', headers: alice })
  t.equal(found.statusCode, 404)
  t.same(found.json(), { statusCode: 404, error: 'Not Found', message: 'No such user' })
  const anonymous = await app.inject('/users/bob')
  t.equal(anonymous.statusCode, 401, 'no credential: refused before the handler could say whether bob exists')
  t.same(anonymous.json(), missing)
})

t.test('an autohooks onRoute that sets config.auth for its folder is honoured', async (t) => {
  const { app } = await start(t)
  const forbidden = await app.inject({ url: '/admin/stats', headers: alice })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"')
  t.same(forbidden.json(), errorBody(403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', 'The access token does not grant the required scope'))
  const allowed = await app.inject({ url: '/admin/stats', headers: root })
  t.equal(allowed.statusCode, 200)
  t.same(allowed.json(), { users: 2 })
})

t.test('config.auth: false and publicRoutes stay public', async (t) => {
  const { app } = await start(t)
  const home = await app.inject('/')
  t.equal(home.statusCode, 200)
  t.same(home.json(), { hello: 'world' })
  t.notOk(home.headers['www-authenticate'])
  const health = await app.inject('/health')
  t.equal(health.statusCode, 200)
  t.same(health.json(), { ok: true })
  const unknown = await app.inject('/healthx')
  t.equal(unknown.statusCode, 404, 'an unknown route is not refused: there is nothing to protect')
})

t.test('the layout loads the plugin before every route: no route is resolved late', async (t) => {
  const { app, logs } = await start(t)
  await app.inject('/users/me')
  await app.inject({ url: '/admin/stats', headers: root })
  t.same(logs.lines.filter((line) => String(line.msg).startsWith('fastify-protected-routes: the plugin loaded after')), [])
})
