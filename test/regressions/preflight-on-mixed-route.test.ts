import t from 'tap'
import { build, errorBody, spyVerify } from '../helpers/app.js'

// Regression: any OPTIONS request with Access-Control-Request-Method skipped authentication,
// so on a protected route whose handler also answers GET (method: ['GET', 'OPTIONS']) anyone
// could run that handler without a credential by adding the header, and get a 200 with
// whatever it returns. Now only OPTIONS-only routes (CORS preflight handlers) let preflights
// through; elsewhere a preflight is authenticated like any request.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const preflight = { origin: 'https://evil.example', 'access-control-request-method': 'GET' }

for (const protectByDefault of [false, true]) {
  t.test(`a preflight to a protected GET+OPTIONS route is refused like a GET${protectByDefault ? ' (protectByDefault)' : ''}`, async (t) => {
    const verify = spyVerify({ good: { id: 'alice' } })
    let handled = 0
    const app = await build(t, { protectByDefault, schemes: { bearer: { type: 'bearer', verify } } })
    app.route({
      method: ['GET', 'OPTIONS'],
      url: '/export',
      ...(protectByDefault ? {} : { config: { auth: true } }),
      handler: async (request) => { handled++; return { secret: 'every record', user: request.user } }
    })
    const res = await app.inject({ method: 'OPTIONS', url: '/export', headers: preflight })
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
    t.same(res.json(), missing)
    t.equal(handled, 0, 'the handler never runs')

    const authed = await app.inject({ method: 'OPTIONS', url: '/export', headers: { ...preflight, authorization: 'Bearer good' } })
    t.equal(authed.statusCode, 200, 'a preflight with a valid credential goes through')
    t.same(authed.json(), { secret: 'every record', user: { id: 'alice' } })
  })
}

t.test('a preflight to a protected OPTIONS-only route still goes through unchallenged', async (t) => {
  const verify = spyVerify({})
  const app = await build(t, { schemes: { bearer: { type: 'bearer', verify } } })
  app.route({ method: ['OPTIONS'], url: '/export', config: { auth: true }, handler: async (request) => ({ user: request.user }) })
  const res = await app.inject({ method: 'OPTIONS', url: '/export', headers: { ...preflight, authorization: 'Bearer bad' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: null })
  t.same(verify.calls, [])
})
