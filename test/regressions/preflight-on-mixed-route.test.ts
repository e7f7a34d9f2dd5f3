import t from 'tap'
import { build, errorBody, spyVerify } from '../helpers/app.js'

// Regression: any OPTIONS request with Access-Control-Request-Method skipped authentication,
// so on a protected route whose handler also answers GET (method: ['GET', 'OPTIONS']) anyone
// could run that handler without a credential by adding the header, and get a 200 with
// whatever it returns. Now only OPTIONS-only routes protected by default (CORS preflight
// handlers with no config.auth of their own) let preflights through; elsewhere a preflight is
// authenticated like any request.

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

// An OPTIONS-only route protected implicitly (protectByDefault, no config.auth) is a CORS
// preflight handler: preflights to it pass unchallenged. One that says config.auth explicitly
// authenticates preflights too (explicit-auth-on-options-route.test.ts).
t.test('a preflight to an OPTIONS-only route protected by default still goes through unchallenged', async (t) => {
  const verify = spyVerify({})
  let handled = 0
  const app = await build(t, { protectByDefault: true, schemes: { bearer: { type: 'bearer', verify } } })
  app.route({ method: ['OPTIONS'], url: '/export', handler: async (request) => { handled++; return { user: request.user } } })
  const res = await app.inject({ method: 'OPTIONS', url: '/export', headers: { ...preflight, authorization: 'Bearer bad' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['www-authenticate'], undefined)
  t.same(res.json(), { user: null })
  t.same(verify.calls, [], 'the verifier is not called')
  t.equal(handled, 1, 'the preflight handler runs')
})
