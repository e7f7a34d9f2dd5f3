// Two bearer schemes on one route (an opaque session token beside a JWT from an identity
// provider, as the README's Redis block had it) answered every request 400 "The same credential
// was sent in more than one place", and a 401 carried `Bearer realm="api"` twice. The one
// Authorization credential is now offered to both in order.
import t from 'tap'
import protectedRoutes, { MemoryTokenStore, signAccessToken } from '../../lib/index.js'
import { fresh } from '../helpers/app.js'

const secret = 'a-secret-of-at-least-thirty-two-characters'

t.test('an opaque scheme and a JWT scheme both work on a route that takes every scheme', async (t) => {
  const store = new MemoryTokenStore()
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: {
      session: { type: 'bearer', opaque: { store } },
      bearerAuth: { type: 'bearer', jwt: { secret, algorithms: ['HS256'], issuer: 'https://issuer.example/', audience: 'https://api.example/' } }
    }
  })
  app.get('/me', { config: { auth: true } }, async (request) => ({ scheme: request.auth?.scheme }))

  const { token: opaque } = await store.issue({ subject: 'alice', scopes: [], expiresIn: 600 })
  const jwt = await signAccessToken({ key: new TextEncoder().encode(secret), algorithm: 'HS256', issuer: 'https://issuer.example/', audience: 'https://api.example/', subject: 'bob', expiresIn: 600 })
  for (const [token, scheme] of [[opaque, 'session'], [jwt, 'bearerAuth']] as const) {
    const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200, scheme)
    t.same(res.json(), { scheme })
  }
  const missing = await app.inject('/me')
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"', 'one challenge, once')
})
