import t, { type Test } from 'tap'
import type { InjectOptions } from 'fastify'
import type { ApiKeySchemeOptions } from '../lib/index.js'
import { build, errorBody, listen, spyVerify } from './helpers/app.js'
import { headerValues, rawRequest } from './helpers/raw-http.js'

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const malformedBody = errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'The API key is malformed')
const duplicateBody = errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'The API key was sent more than once')
const refusedBody = errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The API key is invalid')

async function setup (t: Test, where: ApiKeySchemeOptions['in'], name: string, maxTokenLength?: number) {
  const verify = spyVerify({ 'k3y-!#$%&*+.^_`|~': { id: 1 }, key1: { id: 2 } })
  const app = await build(t, {
    schemes: { apiKey: { type: 'apiKey', in: where, name, verify } },
    ...(maxTokenLength === undefined ? {} : { maxTokenLength })
  })
  app.get('/me', { config: { auth: true } }, async (request) => ({ user: request.user, auth: request.auth }))
  const challenge = `ApiKey realm="api", in="${where}", name="${name}"`
  return {
    app,
    verify,
    challenge,
    malformed: `${challenge}, error="invalid_request", error_description="The API key is malformed"`,
    duplicate: `${challenge}, error="invalid_request", error_description="The API key was sent more than once"`
  }
}

t.test('an API key in a header is found by its name in any letter case', async (t) => {
  const { app, verify } = await setup(t, 'header', 'X-Token')
  for (const name of ['X-Token', 'x-token', 'X-TOKEN']) {
    const res = await app.inject({ url: '/me', headers: { [name]: 'key1' } })
    t.equal(res.statusCode, 200, name)
    t.same(res.json(), { user: { id: 2 }, auth: { scheme: 'apiKey', scopes: [] } })
  }
  t.same(verify.calls, ['key1', 'key1', 'key1'])
})

t.test('an API key may use every visible ASCII character', async (t) => {
  const { app, verify } = await setup(t, 'header', 'X-Token')
  const res = await app.inject({ url: '/me', headers: { 'x-token': 'k3y-!#$%&*+.^_`|~' } })
  t.equal(res.statusCode, 200)
  t.same(verify.calls, ['k3y-!#$%&*+.^_`|~'])
})

t.test('an API key in the query string is found by its exact name', async (t) => {
  const { app, verify } = await setup(t, 'query', 'api_key')
  const res = await app.inject({ url: '/me?other=1&api_key=key1' })
  t.equal(res.statusCode, 200)
  t.same(res.json().user, { id: 2 })
  const otherCase = await app.inject({ url: '/me?API_KEY=key1' })
  t.equal(otherCase.statusCode, 401, 'query names are case-sensitive')
  t.same(verify.calls, ['key1'])
})

t.test('an API key in a cookie is found among other cookies, quoted or not', async (t) => {
  const { app, verify } = await setup(t, 'cookie', 'session')
  const cookies = [
    'session=key1',
    'a=1; session=key1; b=2',
    'a=1;session=key1',
    'session="key1"',
    'flag; session=key1',
    'session_id=other; xsession=other; session=key1'
  ]
  for (const cookie of cookies) {
    const res = await app.inject({ url: '/me', headers: { cookie } })
    t.equal(res.statusCode, 200, cookie)
  }
  t.same(verify.calls, cookies.map(() => 'key1'))
})

t.test('a missing API key is a 401 whose challenge says where the key goes', async (t) => {
  const requests = [
    ['header', 'X-Token', { url: '/me', headers: { 'x-other': 'key1', authorization: 'Bearer key1' } }],
    ['query', 'api_key', { url: '/me?key=key1' }],
    ['cookie', 'session', { url: '/me', headers: { cookie: 'other=key1; sessionx=key1; flag' } }],
    ['cookie', 'session', { url: '/me' }]
  ] as const
  for (const [where, name, request] of requests) {
    const { app, verify, challenge } = await setup(t, where, name)
    const res = await app.inject(request)
    t.equal(res.statusCode, 401, `${where} ${JSON.stringify(request)}`)
    t.equal(res.headers['www-authenticate'], challenge)
    t.same(res.json(), missing)
    t.same(verify.calls, [])
  }
})

t.test("the query key is read from the URL the client sent, whatever the app's query string parser yields", async (t) => {
  const verify = spyVerify({ key1: { id: 2 } })
  const app = await build(t, { schemes: { apiKey: { type: 'apiKey', in: 'query', name: 'api_key', verify } } }, {
    routerOptions: { querystringParser: () => null as unknown as Record<string, string> }
  })
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  const res = await app.inject('/me?api_key=key1')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { id: 2 })
  t.same(verify.calls, ['key1'])
  const none = await app.inject('/me?other=key1&api_key_2=key1')
  t.equal(none.statusCode, 401, 'another parameter is no key')
  t.same(none.json(), missing)
  t.same(verify.calls, ['key1'])
})

t.test('a malformed API key is a 400 invalid_request and never reaches the verifier', async (t) => {
  const cases = [
    ['header', 'X-Token', { headers: { 'x-token': '' } }],
    ['header', 'X-Token', { headers: { 'x-token': 'key 1' } }],
    ['header', 'X-Token', { headers: { 'x-token': 'key\t1' } }],
    ['header', 'X-Token', { headers: { 'x-token': 'kéy' } }],
    ['query', 'api_key', { query: { api_key: '' } }],
    ['query', 'api_key', { query: { api_key: 'key 1' } }],
    ['query', 'api_key', { query: { api_key: 'key\n1' } }],
    ['cookie', 'session', { headers: { cookie: 'session=' } }],
    ['cookie', 'session', { headers: { cookie: 'session=""' } }],
    ['cookie', 'session', { headers: { cookie: 'session="key 1"' } }]
  ] as const
  for (const [where, name, request] of cases) {
    const { app, verify, malformed } = await setup(t, where, name)
    const res = await app.inject({ url: '/me', ...request })
    t.equal(res.statusCode, 400, `${where} ${JSON.stringify(request)}`)
    t.equal(res.headers['www-authenticate'], malformed)
    t.same(res.json(), malformedBody)
    t.same(verify.calls, [])
  }
})

t.test('an API key longer than maxTokenLength is a 400 before the verifier runs', async (t) => {
  for (const [where, name, request] of [
    ['header', 'X-Token', { headers: { 'x-token': 'abcdefghi' } }],
    ['query', 'api_key', { query: { api_key: 'abcdefghi' } }],
    ['cookie', 'session', { headers: { cookie: 'session=abcdefghi' } }]
  ] as const) {
    const { app, verify, challenge } = await setup(t, where, name, 8)
    const res = await app.inject({ url: '/me', ...request })
    t.equal(res.statusCode, 400, where)
    t.equal(res.headers['www-authenticate'], `${challenge}, error="invalid_request", error_description="The credential is too long"`)
    t.same(res.json(), errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'The credential is too long'))
    t.same(verify.calls, [])
    const atLimit = await app.inject({ url: '/me', headers: { 'x-token': 'abcdefgh', cookie: 'session=abcdefgh' }, query: { api_key: 'abcdefgh' } })
    t.equal(atLimit.statusCode, 401, 'a key at the limit is verified (and refused)')
    t.same(verify.calls, ['abcdefgh'])
  }
})

t.test('an API key sent twice in the same place is a 400', async (t) => {
  const cases: Array<[ApiKeySchemeOptions['in'], string, InjectOptions]> = [
    ['query', 'api_key', { url: '/me?api_key=key1&api_key=key1' }],
    ['query', 'api_key', { url: '/me?api_key=key1&api_key=key2' }],
    ['cookie', 'session', { url: '/me', headers: { cookie: 'session=key1; session=key1' } }],
    ['cookie', 'session', { url: '/me', headers: { cookie: 'session=key1; a=b; session=key2' } }],
    ['header', 'X-Token', { url: '/me', headers: { 'x-token': ['key1', 'key1'] } }]
  ]
  for (const [where, name, request] of cases) {
    const { app, verify, duplicate } = await setup(t, where, name)
    const res = await app.inject(request)
    t.equal(res.statusCode, 400, JSON.stringify(request))
    t.equal(res.headers['www-authenticate'], duplicate)
    t.same(res.json(), duplicateBody)
    t.same(verify.calls, [])
  }
})

t.test('two header lines carrying the API key are a 400, seen on a real socket', async (t) => {
  const { app, verify, duplicate } = await setup(t, 'header', 'X-Token')
  const port = await listen(app)
  for (const lines of [['X-Token: key1', 'X-Token: key1'], ['X-Token: key1', 'x-token: key2']]) {
    const res = await rawRequest(port, ['GET /me HTTP/1.1', ...lines])
    t.equal(res.statusCode, 400, lines.join(' + '))
    t.same(headerValues(res, 'www-authenticate'), [duplicate])
    t.same(JSON.parse(res.body), duplicateBody)
  }
  t.same(verify.calls, [])
  const one = await rawRequest(port, ['GET /me HTTP/1.1', 'X-Token: key1'])
  t.equal(one.statusCode, 200)
})

t.test('two Cookie header lines carrying the key are a 400, seen on a real socket', async (t) => {
  const { app, verify, duplicate } = await setup(t, 'cookie', 'session')
  const port = await listen(app)
  const res = await rawRequest(port, ['GET /me HTTP/1.1', 'Cookie: session=key1', 'Cookie: session=key2'])
  t.equal(res.statusCode, 400)
  t.same(headerValues(res, 'www-authenticate'), [duplicate])
  t.same(verify.calls, [])
  const split = await rawRequest(port, ['GET /me HTTP/1.1', 'Cookie: a=1', 'Cookie: session=key1'])
  t.equal(split.statusCode, 200, 'the key in a second Cookie line is found')
  t.same(verify.calls, ['key1'])
})

t.test('a refused API key is a 401 invalid_token', async (t) => {
  const { app, verify, challenge } = await setup(t, 'header', 'X-Token')
  const res = await app.inject({ url: '/me', headers: { 'x-token': 'wrong' } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], `${challenge}, error="invalid_token", error_description="The API key is invalid"`)
  t.same(res.json(), refusedBody)
  t.same(verify.calls, ['wrong'])
})

t.test('an Authorization header is not an API key, and an API key scheme may not use it', async (t) => {
  const { app } = await setup(t, 'header', 'X-Token')
  const res = await app.inject({ url: '/me', headers: { authorization: 'key1' } })
  t.equal(res.statusCode, 401)
  t.same(res.json(), missing)
})

t.test('an API key named like an Object.prototype member is read from the request only', async (t) => {
  for (const [where, name, present] of [
    ['query', 'toString', { query: { toString: 'key1' } }],
    ['query', 'constructor', { query: { constructor: 'key1' } }],
    ['header', 'constructor', { headers: { constructor: 'key1' } }],
    ['query', 'hasOwnProperty', { query: { hasOwnProperty: 'key1' } }]
  ] as const) {
    const { app, verify, challenge } = await setup(t, where, name)
    const absent = await app.inject('/me')
    t.equal(absent.statusCode, 401, `${where} ${name} absent`)
    t.equal(absent.headers['www-authenticate'], challenge)
    t.same(absent.json(), missing)
    const res = await app.inject({ url: '/me', ...present })
    t.equal(res.statusCode, 200, `${where} ${name} present`)
    t.same(verify.calls, ['key1'])
  }
})
