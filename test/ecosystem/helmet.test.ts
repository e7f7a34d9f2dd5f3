import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import helmet from '@fastify/helmet'
import protectedRoutes, { type ProtectedRoutesOptions } from '../../lib/index.js'
import { errorBody, fresh } from '../helpers/app.js'

// @fastify/helmet with the plugin: its security headers on refusals too.

const tokens = { good: { id: 1, scopes: [] } }
const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')

async function build (t: Test, order: 'helmet first' | 'plugin first', plugin: Partial<ProtectedRoutesOptions> = {}): Promise<FastifyInstance> {
  const app = fresh(t)
  const registerHelmet = async (): Promise<void> => { await app.register(helmet) }
  const registerPlugin = async (): Promise<void> => { await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', tokens } }, ...plugin }) }
  if (order === 'plugin first') {
    await registerPlugin()
    await registerHelmet()
  } else {
    await registerHelmet()
    await registerPlugin()
  }
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  app.get('/admin', { config: { auth: { scopes: ['admin'] } } }, async () => 'ok')
  await app.ready()
  return app
}

/** A few of the headers @fastify/helmet sets by default. */
function helmetHeaders (headers: Record<string, unknown>): Record<string, unknown> {
  return {
    'content-security-policy': typeof headers['content-security-policy'],
    'strict-transport-security': headers['strict-transport-security'],
    'x-content-type-options': headers['x-content-type-options'],
    'x-frame-options': headers['x-frame-options']
  }
}
const expected = {
  'content-security-policy': 'string',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'SAMEORIGIN'
}

t.test('registered before the plugin, @fastify/helmet\'s headers are on 400, 401 and 403 as on 200', async (t) => {
  const app = await build(t, 'helmet first')
  const unauthorized = await app.inject('/me')
  t.equal(unauthorized.statusCode, 401)
  t.equal(unauthorized.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(unauthorized.json(), missing)
  t.same(helmetHeaders(unauthorized.headers), expected, '401')
  const malformed = await app.inject({ url: '/me', headers: { authorization: 'Bearer a b' } })
  t.equal(malformed.statusCode, 400)
  t.same(helmetHeaders(malformed.headers), expected, '400')
  const forbidden = await app.inject({ url: '/admin', headers: { authorization: 'Bearer good' } })
  t.equal(forbidden.statusCode, 403)
  t.same(helmetHeaders(forbidden.headers), expected, '403')
  const ok = await app.inject({ url: '/me', headers: { authorization: 'Bearer good' } })
  t.equal(ok.statusCode, 200)
  t.same(helmetHeaders(ok.headers), expected, '200')
})

t.test('registered after the plugin, @fastify/helmet never sees a refused request', async (t) => {
  // A refusal in an earlier onRequest hook skips @fastify/helmet's: the 401 goes out without them.
  const app = await build(t, 'plugin first')
  const unauthorized = await app.inject('/me')
  t.equal(unauthorized.statusCode, 401)
  t.same(unauthorized.json(), missing)
  t.same(helmetHeaders(unauthorized.headers), { 'content-security-policy': 'undefined', 'strict-transport-security': undefined, 'x-content-type-options': undefined, 'x-frame-options': undefined })
  const ok = await app.inject({ url: '/me', headers: { authorization: 'Bearer good' } })
  t.same(helmetHeaders(ok.headers), expected, 'requests that pass get them')
})

t.test('with hook: \'preHandler\' the refusals get @fastify/helmet\'s headers whatever the order', async (t) => {
  const app = await build(t, 'plugin first', { hook: 'preHandler' })
  const unauthorized = await app.inject('/me')
  t.equal(unauthorized.statusCode, 401)
  t.equal(unauthorized.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(helmetHeaders(unauthorized.headers), expected)
})
