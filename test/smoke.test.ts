import t from 'tap'
import Fastify from 'fastify'
import protectedRoutes from '../lib/index.js'

t.test('a protected route refuses a request without a token', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', tokens: { abc: { username: 'a' } } } } })
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  const res = await app.inject('/me')
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
})
