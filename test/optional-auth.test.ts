import t from 'tap'
import type { ProtectedRoutesOptions } from '../lib/index.js'
import { build, errorBody, spyVerify } from './helpers/app.js'

function setup () {
  const bearerVerify = spyVerify({ good: { id: 'b', scopes: ['read'] } })
  const keyVerify = spyVerify({ 'key-good': { id: 'k' } })
  const options: ProtectedRoutesOptions = {
    schemes: {
      bearer: { type: 'bearer', verify: bearerVerify },
      key: { type: 'apiKey', in: 'header', name: 'X-Token', verify: keyVerify }
    }
  }
  return { options, bearerVerify, keyVerify }
}

t.test('an optional route runs its handler for an anonymous request with request.user null', async (t) => {
  const { options, bearerVerify, keyVerify } = setup()
  const app = await build(t, options)
  app.get('/feed', { config: { auth: { optional: true } } }, async (request) => ({ user: request.user, auth: request.auth }))
  for (const headers of [{}, { authorization: 'Basic eDp5' }]) {
    const res = await app.inject({ url: '/feed', headers })
    t.equal(res.statusCode, 200, JSON.stringify(headers))
    t.same(res.json(), { user: null, auth: null })
    t.equal(res.headers['www-authenticate'], undefined)
  }
  t.same([...bearerVerify.calls, ...keyVerify.calls], [])
})

t.test('an optional route sets the user from a good credential', async (t) => {
  const { options, bearerVerify } = setup()
  const app = await build(t, options)
  app.get('/feed', { config: { auth: { optional: true } } }, async (request) => ({ user: request.user, auth: request.auth }))
  const res = await app.inject({ url: '/feed', headers: { authorization: 'Bearer good' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: { id: 'b', scopes: ['read'] }, auth: { scheme: 'bearer', scopes: ['read'] } })
  t.same(bearerVerify.calls, ['good'])
})

t.test('an optional route still refuses a bad or malformed credential', async (t) => {
  const { options, bearerVerify, keyVerify } = setup()
  const app = await build(t, options)
  let handled = 0
  app.get('/feed', { config: { auth: { optional: true } } }, async () => { handled++; return 'ok' })

  const bad = await app.inject({ url: '/feed', headers: { authorization: 'Bearer bad' } })
  t.equal(bad.statusCode, 401)
  t.same(bad.headers['www-authenticate'], ['Bearer realm="api", error="invalid_token", error_description="The access token is invalid"', 'ApiKey realm="api", in="header", name="X-Token"'])
  t.same(bad.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'))

  const malformed = await app.inject({ url: '/feed', headers: { 'x-token': '' } })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.headers['www-authenticate'], 'ApiKey realm="api", in="header", name="X-Token", error="invalid_request", error_description="The API key is malformed"')

  const goodAndBad = await app.inject({ url: '/feed', headers: { authorization: 'Bearer good', 'x-token': 'key-bad' } })
  t.equal(goodAndBad.statusCode, 401, 'a bad credential is not masked by a good one on an optional route either')

  t.equal(handled, 0)
  t.same(bearerVerify.calls, ['bad', 'good'])
  t.same(keyVerify.calls, ['key-bad'])
})

t.test('scopes and authorize apply to identified users of an optional route, not to anonymous ones', async (t) => {
  const { options } = setup()
  const app = await build(t, options)
  let authorized = 0
  app.get('/feed', {
    config: { auth: { optional: true, scopes: ['admin'], authorize: () => { authorized++; return true } } }
  }, async (request) => ({ user: request.user }))
  const anonymous = await app.inject('/feed')
  t.equal(anonymous.statusCode, 200)
  t.same(anonymous.json(), { user: null })
  t.equal(authorized, 0, 'authorize is not asked about an anonymous request')

  const lacking = await app.inject({ url: '/feed', headers: { authorization: 'Bearer good' } })
  t.equal(lacking.statusCode, 403)
  t.equal(lacking.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"')
})

t.test('optional: false is the same as leaving it out', async (t) => {
  const { options } = setup()
  const app = await build(t, options)
  app.get('/x', { config: { auth: { optional: false } } }, async () => 'ok')
  const res = await app.inject('/x')
  t.equal(res.statusCode, 401)
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))
})
