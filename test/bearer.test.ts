import t, { type Test } from 'tap'
import type { VerifyResult } from '../lib/index.js'
import { build, errorBody, listen, spyVerify } from './helpers/app.js'
import { headerValues, rawRequest } from './helpers/raw-http.js'

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const malformedBody = errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'The Authorization header is not a valid Bearer credential')
const malformedChallenge = 'Bearer realm="api", error="invalid_request", error_description="The Authorization header is not a valid Bearer credential"'
const duplicateChallenge = 'Bearer realm="api", error="invalid_request", error_description="More than one Authorization header was sent"'
const duplicateBody = errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'More than one Authorization header was sent')

async function setup (t: Test, maxTokenLength?: number) {
  const verify = spyVerify({ good: { id: 1, name: 'Ada' }, 'a-b.c_d~e+f/g==': { id: 2 } })
  const app = await build(t, {
    schemes: { bearerAuth: { type: 'bearer', verify } },
    ...(maxTokenLength === undefined ? {} : { maxTokenLength })
  })
  app.get('/me', { config: { auth: true } }, async (request) => ({ user: request.user, auth: request.auth }))
  return { app, verify }
}

t.test('a valid bearer token reaches the handler with request.user and request.auth set', async (t) => {
  const { app, verify } = await setup(t)
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer good' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: { id: 1, name: 'Ada' }, auth: { scheme: 'bearerAuth', scopes: [] } })
  t.equal(res.headers['www-authenticate'], undefined)
  t.same(verify.calls, ['good'], 'the verifier gets the token alone')
})

t.test('every b64token character and trailing padding are accepted (RFC 6750 §2.1)', async (t) => {
  const { app, verify } = await setup(t)
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer a-b.c_d~e+f/g==' } })
  t.equal(res.statusCode, 200)
  t.same(res.json().user, { id: 2 })
  t.same(verify.calls, ['a-b.c_d~e+f/g=='])
})

t.test('the auth-scheme is matched case-insensitively and may be followed by several spaces', async (t) => {
  const { app, verify } = await setup(t)
  for (const header of ['bearer good', 'BEARER good', 'bEaReR good', 'Bearer   good']) {
    const res = await app.inject({ url: '/me', headers: { authorization: header } })
    t.equal(res.statusCode, 200, header)
  }
  t.same(verify.calls, ['good', 'good', 'good', 'good'])
})

t.test('no credential, or another auth-scheme, is a 401 with a bare challenge', async (t) => {
  const { app, verify } = await setup(t)
  const cases: Array<Record<string, string>> = [
    {},
    { authorization: 'Basic Z29vZDpwYXNz' },
    { authorization: 'Bearerx good' },
    { authorization: 'Token good' },
    { authorization: 'Digest username="good"' }
  ]
  for (const headers of cases) {
    const res = await app.inject({ url: '/me', headers })
    t.equal(res.statusCode, 401, JSON.stringify(headers))
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api"', 'no error attribute (RFC 6750 §3.1)')
    t.same(res.json(), missing)
  }
  t.same(verify.calls, [])
})

t.test('a malformed bearer credential is a 400 invalid_request and never reaches the verifier', async (t) => {
  const { app, verify } = await setup(t)
  const cases = [
    'Bearer',
    'bearer',
    'Bearer ',
    'Bearer\tgood',
    'Bearer good bad',
    'Bearer go od',
    'Bearer good,',
    'Bearer "good"',
    'Bearer =good',
    'Bearer go=od',
    'Bearer good!',
    'Bearer good%20',
    'Bearer gööd',
    'Bearer good\t',
    'Bearer  \tgood'
  ]
  for (const authorization of cases) {
    const res = await app.inject({ url: '/me', headers: { authorization } })
    t.equal(res.statusCode, 400, JSON.stringify(authorization))
    t.equal(res.headers['www-authenticate'], malformedChallenge)
    t.same(res.json(), malformedBody)
  }
  t.same(verify.calls, [])
})

t.test('a token longer than maxTokenLength is a 400 before the verifier runs; one at the limit is verified', async (t) => {
  const { app, verify } = await setup(t, 8)
  const atLimit = await app.inject({ url: '/me', headers: { authorization: 'Bearer abcdefgh' } })
  t.equal(atLimit.statusCode, 401, 'eight characters are verified (and refused)')
  t.same(verify.calls, ['abcdefgh'])

  const tooLong = await app.inject({ url: '/me', headers: { authorization: 'Bearer abcdefghi' } })
  t.equal(tooLong.statusCode, 400)
  t.equal(tooLong.headers['www-authenticate'], 'Bearer realm="api", error="invalid_request", error_description="The credential is too long"')
  t.same(tooLong.json(), errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'The credential is too long'))
  t.same(verify.calls, ['abcdefgh'], 'the verifier never saw the long token')
})

t.test('the default maxTokenLength is 8192 characters', async (t) => {
  const { app, verify } = await setup(t)
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${'a'.repeat(8192)}` } })).statusCode, 401)
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${'a'.repeat(8193)}` } })).statusCode, 400)
  t.equal(verify.calls.length, 1)
})

t.test('a refused token is a 401 invalid_token', async (t) => {
  const { app, verify } = await setup(t)
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer wrong' } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"')
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'))
  t.same(verify.calls, ['wrong'])
})

t.test('every falsy verify result refuses the token', async (t) => {
  for (const result of [null, undefined, false] as VerifyResult[]) {
    const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', verify: () => result } } })
    app.get('/me', { config: { auth: true } }, async () => 'ok')
    const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer good' } })
    t.equal(res.statusCode, 401, String(result))
    t.equal(res.json().code, 'FST_PROTECTED_ROUTES_INVALID_TOKEN')
  }
})

t.test('the verifier gets the request and may answer asynchronously', async (t) => {
  const seen: string[] = []
  const app = await build(t, {
    schemes: {
      bearerAuth: {
        type: 'bearer',
        verify: async (token, request) => {
          seen.push(`${request.method} ${request.url}`)
          return token === 'good' ? { id: 1 } : null
        }
      }
    }
  })
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  const res = await app.inject({ url: '/me?x=1', headers: { authorization: 'Bearer good' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { id: 1 })
  t.same(seen, ['GET /me?x=1'])
})

t.test('two Authorization header lines are a 400, seen on a real socket', async (t) => {
  const { app, verify } = await setup(t)
  const port = await listen(app)
  const cases = [
    ['Authorization: Bearer good', 'Authorization: Bearer good'],
    ['Authorization: Bearer good', 'authorization: Basic Z29vZDpwYXNz'],
    ['Authorization: Basic Z29vZDpwYXNz', 'Authorization: Bearer good']
  ]
  for (const lines of cases) {
    const res = await rawRequest(port, ['GET /me HTTP/1.1', ...lines])
    t.equal(res.statusCode, 400, lines.join(' + '))
    t.same(headerValues(res, 'www-authenticate'), [duplicateChallenge])
    t.same(JSON.parse(res.body), duplicateBody)
  }
  t.same(verify.calls, [])

  const single = await rawRequest(port, ['GET /me HTTP/1.1', 'Authorization: Bearer good'])
  t.equal(single.statusCode, 200, 'one line on the same socket path works')
  t.same(verify.calls, ['good'])
})

t.test('a tab after Bearer and Bearer alone are malformed on a real socket too', async (t) => {
  const { app, verify } = await setup(t)
  const port = await listen(app)
  for (const line of ['Authorization: Bearer\tgood', 'Authorization: Bearer', 'Authorization: Bearer   ']) {
    const res = await rawRequest(port, ['GET /me HTTP/1.1', line])
    t.equal(res.statusCode, 400, JSON.stringify(line))
    t.same(headerValues(res, 'www-authenticate'), [malformedChallenge])
  }
  t.same(verify.calls, [])
})

t.test('two Authorization values given to inject as an array are a 400', async (t) => {
  const { app, verify } = await setup(t)
  const res = await app.inject({ url: '/me', headers: { authorization: ['Bearer good', 'Bearer good'] as unknown as string } })
  t.equal(res.statusCode, 400)
  t.equal(res.headers['www-authenticate'], duplicateChallenge)
  t.same(res.json(), duplicateBody)
  t.same(verify.calls, [])
})

t.test('the realm option is used in every bearer challenge', async (t) => {
  const app = await build(t, { realm: 'example.com', schemes: { bearerAuth: { type: 'bearer', tokens: { good: { id: 1 } } } } })
  app.get('/me', { config: { auth: true } }, async () => 'ok')
  t.equal((await app.inject('/me')).headers['www-authenticate'], 'Bearer realm="example.com"')
  t.equal((await app.inject({ url: '/me', headers: { authorization: 'Bearer nope' } })).headers['www-authenticate'],
    'Bearer realm="example.com", error="invalid_token", error_description="The access token is invalid"')
  t.equal((await app.inject({ url: '/me', headers: { authorization: 'Bearer' } })).headers['www-authenticate'],
    'Bearer realm="example.com", error="invalid_request", error_description="The Authorization header is not a valid Bearer credential"')
})
