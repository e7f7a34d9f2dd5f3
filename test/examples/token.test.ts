import t, { type Test } from 'tap'
import { createPublicKey } from 'node:crypto'
import { decodeProtectedHeader, jwtVerify } from 'jose'
import { ALGORITHM, AUDIENCE, ISSUER } from '../../examples/server.js'
import { accessToken, errorBody, p256, postForm, server } from './fixtures/helpers.js'

type Pairs = Array<[string, string]>

const password = (username = 'alice', secret = 'wonderland'): Pairs => [['grant_type', 'password'], ['username', username], ['password', secret]]

/** Every /token answer carries these (RFC 6749 §5.1), refusals included. */
function assertNoStore (t: Test, headers: Record<string, unknown>): void {
  t.equal(headers['cache-control'], 'no-store')
  t.equal(headers.pragma, 'no-cache')
}

t.test('the password grant issues an at+jwt access token with the user\'s full scope', async (t) => {
  const key = p256()
  const app = await server(t, { signingKey: key })
  const res = await postForm(app, password())
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  assertNoStore(t, res.headers)
  const body = res.json() as Record<string, unknown>
  t.same(Object.keys(body), ['access_token', 'token_type', 'expires_in', 'scope'])
  t.same({ ...body, access_token: typeof body.access_token }, { access_token: 'string', token_type: 'Bearer', expires_in: 900, scope: 'me:read items:read items:write' })

  const token = body.access_token as string
  t.same(decodeProtectedHeader(token), { alg: 'ES256', typ: 'at+jwt' })
  const { payload } = await jwtVerify(token, createPublicKey(key), { algorithms: [ALGORITHM], issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt' })
  t.equal(payload.sub, 'alice')
  t.equal(payload.scope, 'me:read items:read items:write')
  // iat to the millisecond (RFC 7519 §2 allows a fractional NumericDate); exp in whole seconds.
  const iat = payload.iat as number
  t.match(String(iat), /^\d+(\.\d{1,3})?$/, 'iat: epoch seconds to the millisecond')
  t.ok(Math.abs(iat * 1000 - Date.now()) < 5000, 'iat is now')
  t.equal((payload.exp as number) - Math.floor(iat), 900)
  t.type(payload.jti, 'string')
  t.notOk(JSON.stringify(payload).includes('wonderland'), 'the password is not in the token')
})

t.test('tokenLifetime sets exp and expires_in', async (t) => {
  const key = p256()
  const app = await server(t, { signingKey: key, tokenLifetime: 60 })
  const res = await postForm(app, password('bob', 'builder'))
  t.equal(res.statusCode, 200)
  const body = res.json() as { access_token: string, expires_in: number, scope: string }
  t.equal(body.expires_in, 60)
  t.equal(body.scope, 'me:read items:read')
  const { payload } = await jwtVerify(body.access_token, createPublicKey(key), { algorithms: [ALGORITHM], issuer: ISSUER, audience: AUDIENCE })
  t.equal((payload.exp as number) - Math.floor(payload.iat as number), 60)
})

t.test('a requested scope within the user\'s is granted, in the user\'s order', async (t) => {
  const app = await server(t)
  const cases: Array<[string, string]> = [
    ['items:write me:read', 'me:read items:write'],
    ['items:read', 'items:read'],
    ['items:read items:read', 'items:read']
  ]
  for (const [requested, granted] of cases) {
    const res = await postForm(app, [...password(), ['scope', requested]])
    t.equal(res.statusCode, 200, requested)
    t.equal((res.json() as { scope: string }).scope, granted, requested)
  }
})

t.test('an empty scope parameter counts as none (RFC 6749 §3.1): the full scope', async (t) => {
  const app = await server(t)
  const res = await postForm(app, [...password('bob', 'builder'), ['scope', '']])
  t.equal(res.statusCode, 200)
  t.equal((res.json() as { scope: string }).scope, 'me:read items:read')
})

t.test('form values are percent-decoded, and parameters this endpoint does not know are ignored', async (t) => {
  const app = await server(t)
  const res = await app.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
    payload: 'client_id=cli&grant_type=password&username=alice&password=wonder%6Cand&scope=me%3Aread+items%3Aread&client_id=again'
  })
  t.equal(res.statusCode, 200)
  t.equal((res.json() as { scope: string }).scope, 'me:read items:read')
})

t.test('a wrong password, an unknown user and a disabled account get the same invalid_grant', async (t) => {
  const app = await server(t)
  const expected = { error: 'invalid_grant', error_description: 'The username or password is incorrect' }
  const cases: Array<[string, Pairs]> = [
    ['wrong password', password('alice', 'wonderlan')],
    ['another user\'s password', password('alice', 'builder')],
    ['unknown user', password('mallory', 'wonderland')],
    ['user names are case-sensitive', password('Alice', 'wonderland')],
    ['disabled account, right password', password('carol', 'disabled')]
  ]
  for (const [what, pairs] of cases) {
    const res = await postForm(app, pairs)
    t.equal(res.statusCode, 400, what)
    assertNoStore(t, res.headers)
    t.same(res.json(), expected, what)
    t.equal(res.body, JSON.stringify(expected), what)
  }
})

t.test('missing, empty or repeated parameters are invalid_request', async (t) => {
  const app = await server(t)
  const cases: Array<[Pairs, string]> = [
    [[['username', 'alice'], ['password', 'wonderland']], 'The grant_type parameter is missing'],
    [[['grant_type', ''], ['username', 'alice'], ['password', 'wonderland']], 'The grant_type parameter is missing'],
    [[['grant_type', 'password'], ['password', 'wonderland']], 'The username parameter is missing'],
    [[['grant_type', 'password'], ['username', ''], ['password', 'wonderland']], 'The username parameter is missing'],
    [[['grant_type', 'password'], ['username', 'alice']], 'The password parameter is missing'],
    [[['grant_type', 'password'], ['username', 'alice'], ['password', '']], 'The password parameter is missing'],
    [[['grant_type', 'password'], ['grant_type', 'password'], ['username', 'alice'], ['password', 'wonderland']], 'The grant_type parameter is repeated'],
    [[['grant_type', 'password'], ['username', 'alice'], ['username', 'alice'], ['password', 'wonderland']], 'The username parameter is repeated'],
    [[['grant_type', 'password'], ['username', 'alice'], ['password', 'x'], ['password', 'wonderland']], 'The password parameter is repeated'],
    [[...password(), ['scope', 'me:read'], ['scope', 'items:read']], 'The scope parameter is repeated']
  ]
  for (const [pairs, description] of cases) {
    const res = await postForm(app, pairs)
    t.equal(res.statusCode, 400, description)
    assertNoStore(t, res.headers)
    t.same(res.json(), { error: 'invalid_request', error_description: description }, description)
  }
})

t.test('a body that is not a form is invalid_request', async (t) => {
  const app = await server(t)
  const expected = { error: 'invalid_request', error_description: 'The request body must be application/x-www-form-urlencoded' }
  const requests = [
    { what: 'JSON', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ grant_type: 'password', username: 'alice', password: 'wonderland' }) },
    { what: 'text', headers: { 'content-type': 'text/plain' }, payload: 'grant_type=password&username=alice&password=wonderland' },
    { what: 'no body', headers: {}, payload: undefined }
  ]
  for (const { what, headers, payload } of requests) {
    const res = await app.inject({ method: 'POST', url: '/token', headers, ...(payload === undefined ? {} : { payload }) })
    t.equal(res.statusCode, 400, what)
    assertNoStore(t, res.headers)
    t.same(res.json(), expected, what)
  }
})

t.test('a body over 4 KiB is refused unread', async (t) => {
  const app = await server(t)
  const res = await postForm(app, [...password(), ['padding', 'x'.repeat(4096)]])
  t.equal(res.statusCode, 413)
  assertNoStore(t, res.headers)
  t.same(res.json(), errorBody(413, 'FST_ERR_CTP_BODY_TOO_LARGE', 'Request body is too large'))
})

t.test('another grant type is unsupported_grant_type', async (t) => {
  const app = await server(t)
  for (const grantType of ['client_credentials', 'authorization_code', 'Password']) {
    const res = await postForm(app, [['grant_type', grantType], ['username', 'alice'], ['password', 'wonderland']])
    t.equal(res.statusCode, 400, grantType)
    assertNoStore(t, res.headers)
    t.same(res.json(), { error: 'unsupported_grant_type', error_description: 'Only the password grant type is supported' }, grantType)
  }
})

t.test('a scope beyond the user\'s is invalid_scope', async (t) => {
  const app = await server(t)
  const expected = { error: 'invalid_scope', error_description: 'The requested scope exceeds the scope granted to the user' }
  const cases: Array<[string, Pairs]> = [
    ['bob asks for items:write', [...password('bob', 'builder'), ['scope', 'items:read items:write']]],
    ['alice asks for a scope that does not exist', [...password(), ['scope', 'me:read admin']]]
  ]
  for (const [what, pairs] of cases) {
    const res = await postForm(app, pairs)
    t.equal(res.statusCode, 400, what)
    assertNoStore(t, res.headers)
    t.same(res.json(), expected, what)
  }
})

t.test('a scope that is not a space-delimited list of scope tokens is invalid_scope', async (t) => {
  const app = await server(t)
  for (const scope of ['me:read  items:read', ' me:read', 'me:read ', 'me"read', 'me\\read', 'me:read\titems:read', 'é']) {
    const res = await postForm(app, [...password(), ['scope', scope]])
    t.equal(res.statusCode, 400, JSON.stringify(scope))
    t.same(res.json(), { error: 'invalid_scope', error_description: 'The scope parameter is malformed' }, JSON.stringify(scope))
  }
})

t.test('a wrong password is told apart from nothing else: scope errors only come once the user is known', async (t) => {
  const app = await server(t)
  const res = await postForm(app, [...password('bob', 'wrong'), ['scope', 'items:write']])
  t.equal(res.statusCode, 400)
  t.same(res.json(), { error: 'invalid_grant', error_description: 'The username or password is incorrect' })
})

t.test('POST /token is rate limited per client: 429 with Retry-After', async (t) => {
  const app = await server(t, { rateLimit: { max: 2, timeWindow: 60_000 } })
  // Cheap refusals (no scrypt) count like any other request.
  for (let i = 0; i < 2; i++) {
    const res = await postForm(app, [['grant_type', 'client_credentials']])
    t.equal(res.statusCode, 400)
    t.equal(res.headers['x-ratelimit-limit'], '2')
    t.equal(res.headers['x-ratelimit-remaining'], String(1 - i))
  }
  const limited = await postForm(app, password())
  t.equal(limited.statusCode, 429)
  t.equal(limited.headers['retry-after'], '60')
  t.equal(limited.headers['x-ratelimit-remaining'], '0')
  assertNoStore(t, limited.headers)
  t.same(limited.json(), { statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded, retry in 1 minute' })

  // Only /token is limited.
  const other = await app.inject('/public')
  t.equal(other.statusCode, 200)
  t.equal(other.headers['x-ratelimit-limit'], undefined)
})

t.test('the default rate limit is 10 requests a minute', async (t) => {
  const app = await server(t)
  const res = await postForm(app, [['grant_type', 'client_credentials']])
  t.equal(res.headers['x-ratelimit-limit'], '10')
  t.equal(res.headers['x-ratelimit-reset'], '60')
})

t.test('no other route parses forms', async (t) => {
  const app = await server(t)
  const token = await accessToken(app, 'alice', 'wonderland')
  const res = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` }, payload: 'name=x' })
  t.equal(res.statusCode, 415)
  t.same(res.json(), errorBody(415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE', 'Unsupported Media Type'))
})
