import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import cors, { type FastifyCorsOptions } from '@fastify/cors'
import protectedRoutes, { type ProtectedRoutesOptions } from '../../lib/index.js'
import { errorBody, fresh, spyVerify, type VerifySpy } from '../helpers/app.js'

// @fastify/cors with the plugin: what browser code on another origin gets from a refusal.
// Browser code reads only the CORS-safelisted response headers and those named in
// Access-Control-Expose-Headers (Fetch §3.2.5): WWW-Authenticate is not safelisted.

const ORIGIN = 'https://app.example'
const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')

interface Setup {
  order?: 'cors first' | 'plugin first'
  cors?: FastifyCorsOptions
  plugin?: Partial<ProtectedRoutesOptions>
}

async function build (t: Test, setup: Setup = {}): Promise<{ app: FastifyInstance, verify: VerifySpy }> {
  const app = fresh(t)
  const verify = spyVerify({ good: { id: 1 } })
  const registerCors = async (): Promise<void> => { await app.register(cors, setup.cors ?? { origin: ORIGIN, exposedHeaders: ['WWW-Authenticate'] }) }
  const registerPlugin = async (): Promise<void> => { await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', verify } }, ...setup.plugin }) }
  if (setup.order === 'plugin first') {
    await registerPlugin()
    await registerCors()
  } else {
    await registerCors()
    await registerPlugin()
  }
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  app.get('/items', async () => [])
  await app.ready()
  return { app, verify }
}

t.test('a cross-origin 401 exposes the challenge when @fastify/cors lists WWW-Authenticate in exposedHeaders', async (t) => {
  const { app, verify } = await build(t)
  const res = await app.inject({ url: '/me', headers: { origin: ORIGIN } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['access-control-allow-origin'], ORIGIN)
  t.equal(res.headers['access-control-expose-headers'], 'WWW-Authenticate')
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(res.json(), missing)
  t.same(verify.calls, [])
  const ok = await app.inject({ url: '/me', headers: { origin: ORIGIN, authorization: 'Bearer good' } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { id: 1 })
  t.equal(ok.headers['access-control-allow-origin'], ORIGIN)
  t.same(verify.calls, ['good'])
})

t.test('without exposedHeaders the 401 is readable but its challenge is not', async (t) => {
  const { app } = await build(t, { cors: { origin: ORIGIN } })
  const res = await app.inject({ url: '/me', headers: { origin: ORIGIN } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['access-control-allow-origin'], ORIGIN, 'the status and body reach browser code')
  t.equal(res.headers['access-control-expose-headers'], undefined, 'so WWW-Authenticate, not safelisted, reads as null there')
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"', 'it is sent all the same')
  t.same(res.json(), missing)
})

t.test('a preflight to a protected route is answered without credentials, with or without protectByDefault', async (t) => {
  for (const protectByDefault of [false, true]) {
    const { app, verify } = await build(t, { plugin: { protectByDefault } })
    for (const url of ['/me', '/items']) {
      const res = await app.inject({
        method: 'OPTIONS',
        url,
        headers: { origin: ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' }
      })
      const label = `${url}${protectByDefault ? ', protectByDefault' : ''}`
      t.equal(res.statusCode, 204, label)
      t.equal(res.headers['access-control-allow-origin'], ORIGIN, label)
      t.equal(res.headers['access-control-allow-headers'], 'authorization', label)
      t.equal(res.headers['www-authenticate'], undefined, label)
      t.equal(res.body, '', label)
    }
    const actual = await app.inject({ url: '/items', headers: { origin: ORIGIN } })
    t.equal(actual.statusCode, protectByDefault ? 401 : 200, 'the request after the preflight is verified as usual')
    t.same(verify.calls, [])
    await app.close()
  }
})

t.test('registered after the plugin, @fastify/cors never sees a refused request: the 401 has no CORS headers', async (t) => {
  // A refusal in an earlier onRequest hook skips the later ones (the one @fastify/cors adds):
  // browser code gets a network error instead of the 401.
  const { app } = await build(t, { order: 'plugin first' })
  const res = await app.inject({ url: '/me', headers: { origin: ORIGIN } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['access-control-allow-origin'], undefined)
  t.equal(res.headers['access-control-expose-headers'], undefined)
  t.same(res.json(), missing)
  const ok = await app.inject({ url: '/me', headers: { origin: ORIGIN, authorization: 'Bearer good' } })
  t.equal(ok.headers['access-control-allow-origin'], ORIGIN, 'requests that pass get them')
})

t.test('with hook: \'preHandler\' the plugin verifies after every onRequest hook, whatever the order', async (t) => {
  const { app } = await build(t, { order: 'plugin first', plugin: { hook: 'preHandler' } })
  const res = await app.inject({ url: '/me', headers: { origin: ORIGIN } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['access-control-allow-origin'], ORIGIN)
  t.equal(res.headers['access-control-expose-headers'], 'WWW-Authenticate')
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(res.json(), missing)
})
