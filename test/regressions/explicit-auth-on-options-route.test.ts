import t from 'tap'
import type { RouteOptions } from 'fastify'
import { build, errorBody, spyVerify } from '../helpers/app.js'

// Regression: an OPTIONS-only route let every CORS preflight (OPTIONS with
// Access-Control-Request-Method) through unchallenged, even when the route said
// `config: { auth: true }` in so many words; its handler ran for anyone who added the header.
// The preflight exemption now belongs only to OPTIONS-only routes protected implicitly (by
// protectByDefault, with no config.auth): an explicit config.auth is obeyed for every request.
// And an implicitly protected OPTIONS-only route still authenticates a plain OPTIONS request
// (no Access-Control-Request-Method), which is no preflight and used to pass as one.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const challenge = 'Bearer realm="api"'
const preflight = { origin: 'https://app.example', 'access-control-request-method': 'GET' }
const methods: Array<RouteOptions['method']> = ['OPTIONS', ['OPTIONS']]

for (const method of methods) {
  const label = `method: ${JSON.stringify(method)}`

  t.test(`a preflight without a credential to an OPTIONS-only route with explicit auth: true gets 401 and the handler never runs (${label})`, async (t) => {
    const verify = spyVerify({ good: { id: 'alice' } })
    let handled = 0
    const app = await build(t, { schemes: { bearer: { type: 'bearer', verify } } })
    app.route({ method, url: '/export', config: { auth: true }, handler: async (request) => { handled++; return { user: request.user } } })

    const res = await app.inject({ method: 'OPTIONS', url: '/export', headers: preflight })
    t.equal(res.statusCode, 401, 'status')
    t.equal(res.headers['www-authenticate'], challenge, 'challenge')
    t.same(res.json(), missing, 'body')
    t.same(verify.calls, [], 'no verifier runs without a credential')
    t.equal(handled, 0, 'the handler never runs')
  })

  t.test(`a preflight with a refused credential to an OPTIONS-only route with explicit auth: true gets 401 invalid_token (${label})`, async (t) => {
    const verify = spyVerify({ good: { id: 'alice' } })
    let handled = 0
    const app = await build(t, { schemes: { bearer: { type: 'bearer', verify } } })
    app.route({ method, url: '/export', config: { auth: true }, handler: async (request) => { handled++; return { user: request.user } } })

    const res = await app.inject({ method: 'OPTIONS', url: '/export', headers: { ...preflight, authorization: 'Bearer bad' } })
    t.equal(res.statusCode, 401, 'status')
    t.equal(res.headers['www-authenticate'], `${challenge}, error="invalid_token", error_description="The access token is invalid"`, 'challenge')
    t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'), 'body')
    t.same(verify.calls, ['bad'], 'the credential is verified')
    t.equal(handled, 0, 'the handler never runs')
  })

  t.test(`a preflight with a valid credential to an OPTIONS-only route with explicit auth: true reaches the handler as the user (${label})`, async (t) => {
    const verify = spyVerify({ good: { id: 'alice' } })
    let handled = 0
    const app = await build(t, { schemes: { bearer: { type: 'bearer', verify } } })
    app.route({ method, url: '/export', config: { auth: true }, handler: async (request) => { handled++; return { user: request.user } } })

    const res = await app.inject({ method: 'OPTIONS', url: '/export', headers: { ...preflight, authorization: 'Bearer good' } })
    t.equal(res.statusCode, 200, 'status')
    t.same(res.json(), { user: { id: 'alice' } }, 'body')
    t.same(verify.calls, ['good'], 'the credential is verified')
    t.equal(handled, 1, 'the handler ran')
  })

  t.test(`under protectByDefault, a preflight to an OPTIONS-only route without config.auth still passes unchallenged (${label})`, async (t) => {
    const verify = spyVerify({ good: { id: 'alice' } })
    let handled = 0
    const app = await build(t, { protectByDefault: true, schemes: { bearer: { type: 'bearer', verify } } })
    app.route({ method, url: '/export', handler: async (request) => { handled++; return { user: request.user } } })

    const res = await app.inject({ method: 'OPTIONS', url: '/export', headers: preflight })
    t.equal(res.statusCode, 200, 'status')
    t.equal(res.headers['www-authenticate'], undefined, 'no challenge')
    t.same(res.json(), { user: null }, 'body')
    t.same(verify.calls, [], 'the verifier is not called')
    t.equal(handled, 1, 'the preflight handler runs')
  })

  t.test(`under protectByDefault, a plain OPTIONS request (no Access-Control-Request-Method) to an OPTIONS-only route without config.auth gets 401 (${label})`, async (t) => {
    const verify = spyVerify({ good: { id: 'alice' } })
    let handled = 0
    const app = await build(t, { protectByDefault: true, schemes: { bearer: { type: 'bearer', verify } } })
    app.route({ method, url: '/export', handler: async (request) => { handled++; return { user: request.user } } })

    for (const headers of [{}, { origin: 'https://app.example' }]) {
      const res = await app.inject({ method: 'OPTIONS', url: '/export', headers })
      t.equal(res.statusCode, 401, `status (${JSON.stringify(headers)})`)
      t.equal(res.headers['www-authenticate'], challenge, 'challenge')
      t.same(res.json(), missing, 'body')
    }
    t.same(verify.calls, [], 'no verifier runs without a credential')
    t.equal(handled, 0, 'the handler never runs')

    const authed = await app.inject({ method: 'OPTIONS', url: '/export', headers: { authorization: 'Bearer good' } })
    t.equal(authed.statusCode, 200, 'a plain OPTIONS with a valid credential goes through')
    t.same(authed.json(), { user: { id: 'alice' } }, 'the handler sees the user')
    t.same(verify.calls, ['good'], 'the credential is verified')
  })

  t.test(`under protectByDefault, an OPTIONS-only route with config.auth: false stays public for every OPTIONS request (${label})`, async (t) => {
    const verify = spyVerify({})
    const app = await build(t, { protectByDefault: true, schemes: { bearer: { type: 'bearer', verify } } })
    app.route({ method, url: '/export', config: { auth: false }, handler: async (request) => ({ user: request.user }) })
    for (const headers of [{}, preflight]) {
      const res = await app.inject({ method: 'OPTIONS', url: '/export', headers })
      t.equal(res.statusCode, 200, 'status')
      t.same(res.json(), { user: null }, 'body')
    }
    t.same(verify.calls, [], 'the verifier is not called')
  })
}
