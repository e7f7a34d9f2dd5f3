import t from 'tap'
import protectedRoutes, {
  AccessDeniedError,
  InsufficientScopeError,
  InvalidOptionError,
  InvalidRequestError,
  InvalidRouteConfigError,
  InvalidTokenError,
  MissingCredentialsError,
  RouteNotPreparedError,
  VerifierFailedError,
  VerifierUnavailableError,
  type ProtectedRoutesErrorCode,
  type ProtectedRoutesOptions
} from '../lib/index.js'
import { build, captureLogs, errorBody, fresh, freshWithLogs, spyVerify } from './helpers/app.js'

const bearerChallenge = 'Bearer realm="api"'
const keyChallenge = 'ApiKey realm="api", in="header", name="X-Token"'
const queryChallenge = 'ApiKey realm="api", in="query", name="key"'
const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')

function twoSchemes (extra: Partial<ProtectedRoutesOptions> = {}) {
  const bearerVerify = spyVerify({ 'bearer-good': { id: 'b', scopes: ['read'] } })
  const keyVerify = spyVerify({ 'key-good': { id: 'k' }, 'query-good': { id: 'q' } })
  const queryVerify = spyVerify({ 'query-good': { id: 'q' } })
  const options: ProtectedRoutesOptions = {
    schemes: {
      bearer: { type: 'bearer', verify: bearerVerify },
      key: { type: 'apiKey', in: 'header', name: 'X-Token', verify: keyVerify },
      query: { type: 'apiKey', in: 'query', name: 'key', verify: queryVerify }
    },
    defaultSchemes: ['bearer', 'key'],
    ...extra
  }
  return { options, bearerVerify, keyVerify, queryVerify }
}

t.test('every error is exported with a stable code, status and fixed message', async (t) => {
  const expected: Array<[Error & { code: string, statusCode?: number }, ProtectedRoutesErrorCode, number, string]> = [
    [new MissingCredentialsError(), 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 401, 'Authentication is required'],
    [new InvalidRequestError('why'), 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 400, 'why'],
    [new InvalidTokenError('why'), 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 401, 'why'],
    [new InsufficientScopeError(), 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', 403, 'The access token does not grant the required scope'],
    [new AccessDeniedError(), 'FST_PROTECTED_ROUTES_ACCESS_DENIED', 403, 'Access to this resource is not allowed'],
    [new VerifierFailedError(), 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 500, 'Authentication could not be completed'],
    [new VerifierUnavailableError(), 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 503, 'Authentication is temporarily unavailable'],
    [new RouteNotPreparedError(), 'FST_PROTECTED_ROUTES_ROUTE_NOT_PREPARED', 500, 'This route asks for authentication but its config.auth is invalid; await app.register(protectedRoutes, …) before declaring routes to see the error at startup'],
    [new InvalidOptionError('why'), 'FST_PROTECTED_ROUTES_INVALID_OPTION', 500, 'Invalid fastify-protected-routes option: why'],
    [new InvalidRouteConfigError('GET', '/x', 'why'), 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG', 500, 'Invalid config.auth on GET /x: why']
  ]
  for (const [err, code, statusCode, message] of expected) {
    t.match(err, { code, statusCode, message }, code)
  }
})

t.test('a route accepting several schemes sends one challenge per scheme, one header line each, in route order', async (t) => {
  const { options, bearerVerify, keyVerify } = twoSchemes()
  const app = await build(t, options)
  app.get('/default', { config: { auth: true } }, async () => 'ok')
  app.get('/reversed', { config: { auth: { schemes: ['query', 'key', 'bearer'] } } }, async () => 'ok')
  const res = await app.inject('/default')
  t.equal(res.statusCode, 401)
  t.same(res.headers['www-authenticate'], [bearerChallenge, keyChallenge])
  t.same(res.json(), missing)
  const reversed = await app.inject({ url: '/reversed', headers: { authorization: 'Basic eDp5' } })
  t.equal(reversed.statusCode, 401)
  t.same(reversed.headers['www-authenticate'], [queryChallenge, keyChallenge, bearerChallenge])
  t.same(reversed.json(), missing)
  t.same([...bearerVerify.calls, ...keyVerify.calls], [])
})

t.test('a refused credential on a multi-scheme route marks only its own challenge', async (t) => {
  const { options } = twoSchemes()
  const app = await build(t, options)
  app.get('/x', { config: { auth: true } }, async () => 'ok')
  const bearer = await app.inject({ url: '/x', headers: { authorization: 'Bearer nope' } })
  t.equal(bearer.statusCode, 401)
  t.same(bearer.headers['www-authenticate'], [`${bearerChallenge}, error="invalid_token", error_description="The access token is invalid"`, keyChallenge])
  t.same(bearer.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'))
  const key = await app.inject({ url: '/x', headers: { 'x-token': 'nope' } })
  t.equal(key.statusCode, 401)
  t.same(key.headers['www-authenticate'], [bearerChallenge, `${keyChallenge}, error="invalid_token", error_description="The API key is invalid"`])
  t.same(key.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The API key is invalid'))
})

t.test('credentials for two accepted schemes must both verify; the first in route order identifies the user', async (t) => {
  const { options, bearerVerify, keyVerify } = twoSchemes()
  const app = await build(t, options)
  app.get('/x', { config: { auth: true } }, async (request) => ({ user: request.user, auth: request.auth }))
  const res = await app.inject({ url: '/x', headers: { authorization: 'Bearer bearer-good', 'x-token': 'key-good' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: { id: 'b', scopes: ['read'] }, auth: { scheme: 'bearer', scopes: ['read'] } })
  t.same(bearerVerify.calls, ['bearer-good'])
  t.same(keyVerify.calls, ['key-good'])
})

t.test('a bad credential is never masked by a good one, whichever comes first', async (t) => {
  const { options, bearerVerify, keyVerify } = twoSchemes()
  const app = await build(t, options)
  app.get('/x', { config: { auth: true } }, async () => 'handler ran')

  const badKey = await app.inject({ url: '/x', headers: { authorization: 'Bearer bearer-good', 'x-token': 'key-bad' } })
  t.equal(badKey.statusCode, 401)
  t.same(badKey.headers['www-authenticate'], [bearerChallenge, `${keyChallenge}, error="invalid_token", error_description="The API key is invalid"`])
  t.same(badKey.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The API key is invalid'))

  const badBearer = await app.inject({ url: '/x', headers: { authorization: 'Bearer bearer-bad', 'x-token': 'key-good' } })
  t.equal(badBearer.statusCode, 401)
  t.same(badBearer.headers['www-authenticate'], [`${bearerChallenge}, error="invalid_token", error_description="The access token is invalid"`, keyChallenge])
  t.same(bearerVerify.calls, ['bearer-good', 'bearer-bad'])
  t.same(keyVerify.calls, ['key-bad'], 'after a refusal nothing more is verified')
})

t.test('a malformed credential for any accepted scheme is a 400 before anything is verified', async (t) => {
  const { options, bearerVerify, keyVerify } = twoSchemes()
  const app = await build(t, options)
  app.get('/x', { config: { auth: true } }, async () => 'ok')
  const badKey = await app.inject({ url: '/x', headers: { authorization: 'Bearer bearer-good', 'x-token': 'key good' } })
  t.equal(badKey.statusCode, 400)
  t.equal(badKey.headers['www-authenticate'], `${keyChallenge}, error="invalid_request", error_description="The API key is malformed"`)
  t.same(badKey.json(), errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'The API key is malformed'))
  const badBearer = await app.inject({ url: '/x', headers: { authorization: 'Bearer bearer good', 'x-token': 'key-good' } })
  t.equal(badBearer.statusCode, 400)
  t.equal(badBearer.headers['www-authenticate'], `${bearerChallenge}, error="invalid_request", error_description="The Authorization header is not a valid Bearer credential"`)
  t.same([...bearerVerify.calls, ...keyVerify.calls], [])
})

t.test('the same credential sent in two places is a 400', async (t) => {
  const { options, bearerVerify, keyVerify, queryVerify } = twoSchemes()
  const app = await build(t, options)
  app.get('/x', { config: { auth: { schemes: ['bearer', 'key', 'query'] } } }, async () => 'ok')
  const description = 'The same credential was sent in more than one place'
  const cases: Array<[Record<string, string>, string, string]> = [
    [{ authorization: 'Bearer key-good', 'x-token': 'key-good' }, '/x', keyChallenge],
    [{ authorization: 'Bearer query-good' }, '/x?key=query-good', queryChallenge],
    [{ authorization: 'Bearer bearer-good', 'x-token': 'query-good' }, '/x?key=query-good', queryChallenge]
  ]
  for (const [headers, url, challenge] of cases) {
    const res = await app.inject({ url, headers })
    t.equal(res.statusCode, 400, JSON.stringify([headers, url]))
    t.equal(res.headers['www-authenticate'], `${challenge}, error="invalid_request", error_description="${description}"`)
    t.same(res.json(), errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', description))
  }
  t.same([...bearerVerify.calls, ...keyVerify.calls, ...queryVerify.calls], [])

  const three = await app.inject({ url: '/x?key=query-good', headers: { authorization: 'Bearer bearer-good', 'x-token': 'key-good' } })
  t.equal(three.statusCode, 200, 'three different credentials that all verify are accepted')
  t.same([bearerVerify.calls, keyVerify.calls, queryVerify.calls], [['bearer-good'], ['key-good'], ['query-good']])
})

t.test('a verifier may refuse with InvalidTokenError and one of the fixed descriptions', async (t) => {
  const app = await build(t, {
    schemes: { bearer: { type: 'bearer', verify: () => { throw new InvalidTokenError('The access token has expired') } } }
  })
  app.get('/x', { config: { auth: true } }, async () => 'ok')
  const res = await app.inject({ url: '/x', headers: { authorization: 'Bearer abc' } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], `${bearerChallenge}, error="invalid_token", error_description="The access token has expired"`)
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token has expired'))
})

t.test('setErrorHandler can reshape every refusal and the WWW-Authenticate header stays', async (t) => {
  const { options } = twoSchemes()
  const app = await build(t, options)
  app.setErrorHandler((err: Error & { code?: string, statusCode?: number }, _request, reply) => {
    reply.code(err.statusCode ?? 500).send({ problem: err.code })
  })
  app.get('/x', { config: { auth: true } }, async () => 'ok')
  app.get('/scoped', { config: { auth: { scopes: ['admin'] } } }, async () => 'ok')
  const cases: Array<[string, Record<string, string>, number, string, string | string[]]> = [
    ['/x', {}, 401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', [bearerChallenge, keyChallenge]],
    ['/x', { authorization: 'Bearer' }, 400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', `${bearerChallenge}, error="invalid_request", error_description="The Authorization header is not a valid Bearer credential"`],
    ['/x', { authorization: 'Bearer nope' }, 401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', [`${bearerChallenge}, error="invalid_token", error_description="The access token is invalid"`, keyChallenge]],
    ['/scoped', { authorization: 'Bearer bearer-good' }, 403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', `${bearerChallenge}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"`]
  ]
  for (const [url, headers, statusCode, code, challenge] of cases) {
    const res = await app.inject({ url, headers })
    t.equal(res.statusCode, statusCode, code)
    t.same(res.json(), { problem: code })
    t.same(res.headers['www-authenticate'], challenge)
  }
})

t.test('each refusal is logged once, by Fastify, with its code and scheme but never the credential', async (t) => {
  const logs = captureLogs()
  const app = freshWithLogs(t, logs)
  await app.register(protectedRoutes, twoSchemes().options)
  app.get('/x', { config: { auth: true } }, async () => 'ok')
  await app.inject('/x')
  await app.inject({ url: '/x', headers: { authorization: 'Bearer secret-bearer-value' } })
  await app.inject({ url: '/x', headers: { 'x-token': 'secret key value' } })
  // Every line about a refusal: Fastify's error log line, with the error.
  const refusals = logs.lines.filter((line) => line.err !== undefined || line.msg === 'authentication refused')
  t.match(refusals, [
    { level: 30, msg: 'Authentication is required', err: { code: 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS' } },
    { level: 30, msg: 'The access token is invalid', err: { code: 'FST_PROTECTED_ROUTES_INVALID_TOKEN', scheme: 'bearer' } },
    { level: 30, err: { code: 'FST_PROTECTED_ROUTES_INVALID_REQUEST', scheme: 'key' } }
  ])
  t.equal(refusals.length, 3, 'one line per refusal')
  t.notOk('scheme' in ((refusals[0] as { err: object }).err), 'no scheme is named when no credential was sent')
  t.notMatch(logs.text(), 'secret')
})

t.test('with a logLevel, the plugin adds a line of its own at that level, with the reason and scheme', async (t) => {
  for (const [logLevel, level] of [['debug', 20], ['warn', 40]] as const) {
    const logs = captureLogs()
    const app = freshWithLogs(t, logs)
    await app.register(protectedRoutes, twoSchemes({ logLevel }).options)
    app.get('/x', { config: { auth: true } }, async () => 'ok')
    await app.inject('/x')
    await app.inject({ url: '/x', headers: { authorization: 'Bearer secret-bearer-value' } })
    await app.inject({ url: '/x', headers: { 'x-token': 'secret key value' } })
    const refusals = logs.lines.filter((line) => line.msg === 'authentication refused')
    t.match(refusals, [
      { level, reason: 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS' },
      { level, reason: 'FST_PROTECTED_ROUTES_INVALID_TOKEN', scheme: 'bearer' },
      { level, reason: 'FST_PROTECTED_ROUTES_INVALID_REQUEST', scheme: 'key' }
    ], logLevel)
    t.equal(refusals.length, 3)
    t.notOk('scheme' in (refusals[0] as object), 'no scheme is named when no credential was sent')
    t.notMatch(logs.text(), 'secret')
  }
})

t.test("logLevel: 'silent' logs no refusal and still refuses, with or without a logger", async (t) => {
  const logs = captureLogs()
  const withLogger = freshWithLogs(t, logs)
  const withoutLogger = fresh(t)
  for (const app of [withLogger, withoutLogger]) {
    await app.register(protectedRoutes, { logLevel: 'silent', schemes: { bearer: { type: 'bearer', tokens: { good: {} } } } })
    app.get('/x', { config: { auth: true } }, async () => 'ok')
    for (const authorization of [undefined, 'Bearer bad', 'Bearer']) {
      const res = await app.inject({ url: '/x', headers: authorization === undefined ? {} : { authorization } })
      t.equal(res.statusCode, authorization === 'Bearer' ? 400 : 401, String(authorization))
      t.ok(res.headers['www-authenticate'])
    }
  }
  t.same(logs.lines.filter((line) => line.msg === 'authentication refused'), [])
})
