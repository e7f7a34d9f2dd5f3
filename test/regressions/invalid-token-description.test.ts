import t from 'tap'
import Fastify from 'fastify'
import protectedRoutes, { InvalidTokenError } from '../../lib/index.js'

// InvalidTokenError is exported, so a verify function can throw one with any message. Only
// the plugin's fixed descriptions may reach the challenge and the body: anything else is
// replaced by the scheme's generic description (no header injection, no reflected input).
async function appThrowing (message: string): Promise<ReturnType<typeof Fastify>> {
  const app = Fastify()
  await app.register(protectedRoutes, {
    schemes: { bearerAuth: { type: 'bearer', verify: () => { throw new InvalidTokenError(message) } } }
  })
  app.get('/me', { config: { auth: true } }, async () => 'reached')
  return app
}

t.test('an InvalidTokenError with an app-made message is answered with the generic description', async (t) => {
  const app = await appThrowing('token abc "leaked"\r\nX-Evil: 1')
  t.teardown(() => app.close())
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer abc' } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"')
  t.same(res.json(), { statusCode: 401, code: 'FST_PROTECTED_ROUTES_INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid' })
  t.equal(res.headers['x-evil'], undefined)
})

t.test('an InvalidTokenError carrying one of the fixed descriptions keeps it', async (t) => {
  const app = await appThrowing('The access token has expired')
  t.teardown(() => app.close())
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer abc' } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token has expired"')
  t.same(res.json(), { statusCode: 401, code: 'FST_PROTECTED_ROUTES_INVALID_TOKEN', error: 'Unauthorized', message: 'The access token has expired' })
})
