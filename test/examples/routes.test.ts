import t from 'tap'
import { SignJWT } from 'jose'
import { signAccessToken } from '../../lib/index.js'
import { ALGORITHM, AUDIENCE, ISSUER } from '../../examples/server.js'
import { accessToken, errorBody, p256, server } from './fixtures/helpers.js'

const bearer = 'Bearer realm="example"'
// The bearer scheme also takes DPoP-bound tokens: a 401 offers DPoP on a line of its own (RFC 9449 §7.1).
const dpop = 'DPoP algs="ES256 PS256 EdDSA RS256"'
const bearerChallenges = [bearer, dpop]
const apiKey = 'ApiKey realm="example", in="header", name="X-Token"'
const invalidToken = (description: string): string[] => [`${bearer}, error="invalid_token", error_description="${description}"`, dpop]
const insufficientScope = (scope: string): string =>
  `${bearer}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="${scope}"`
const missingCredentials = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const refusedToken = (description: string): Record<string, unknown> => errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', description)
const scopeRefusal = errorBody(403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', 'The access token does not grant the required scope')

const alice = { username: 'alice', full_name: 'Alice Liddell', email: 'alice@example.com', scopes: ['me:read', 'items:read', 'items:write'] }
const bob = { username: 'bob', full_name: 'Bob Builder', email: 'bob@example.com', scopes: ['me:read', 'items:read'] }
const seedItems = [
  { id: 1, name: 'Looking glass', description: 'Leads to a room that is not quite this one', owner: 'alice' },
  { id: 2, name: 'Spirit level', owner: 'bob' }
]

t.test('GET /public answers anyone', async (t) => {
  const app = await server(t)
  const res = await app.inject('/public')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { message: 'Welcome to the public route!' })
  t.equal(res.headers['www-authenticate'], undefined)
})

t.test('GET /protected', async (t) => {
  t.test('opens to the default X-Token', async (t) => {
    const app = await server(t)
    const res = await app.inject({ url: '/protected', headers: { 'x-token': 'mysecrettoken' } })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { message: 'You have access to the protected route!' })
  })

  t.test('without X-Token is 401 with the ApiKey challenge', async (t) => {
    const app = await server(t)
    const res = await app.inject('/protected')
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], apiKey)
    t.same(res.json(), missingCredentials)
  })

  t.test('with a wrong X-Token is 401 invalid_token', async (t) => {
    const app = await server(t)
    const res = await app.inject({ url: '/protected', headers: { 'x-token': 'mysecrettoken2' } })
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], `${apiKey}, error="invalid_token", error_description="The API key is invalid"`)
    t.same(res.json(), refusedToken('The API key is invalid'))
  })

  t.test('does not take a bearer token instead of the X-Token', async (t) => {
    const app = await server(t)
    const token = await accessToken(app, 'alice', 'wonderland')
    const res = await app.inject({ url: '/protected', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], apiKey)
  })

  t.test('a configured secretToken replaces the default', async (t) => {
    const app = await server(t, { secretToken: 's3cret-from-env' })
    const old = await app.inject({ url: '/protected', headers: { 'x-token': 'mysecrettoken' } })
    t.equal(old.statusCode, 401)
    const res = await app.inject({ url: '/protected', headers: { 'x-token': 's3cret-from-env' } })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { message: 'You have access to the protected route!' })
  })
})

t.test('GET /users/me', async (t) => {
  t.test('answers the user of the token, without hash or disabled flag', async (t) => {
    const app = await server(t)
    const token = await accessToken(app, 'alice', 'wonderland')
    const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200)
    t.same(res.json(), alice)
    t.same(Object.keys(res.json()), ['username', 'full_name', 'email', 'scopes'])
  })

  t.test('shows the user\'s scopes, whatever the token was granted', async (t) => {
    const app = await server(t)
    const token = await accessToken(app, 'bob', 'builder', 'me:read')
    const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200)
    t.same(res.json(), bob)
  })

  t.test('without a token is 401 with the Bearer challenge', async (t) => {
    const app = await server(t)
    const res = await app.inject('/users/me')
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], bearerChallenges)
    t.same(res.json(), missingCredentials)
  })

  t.test('does not take the X-Token', async (t) => {
    const app = await server(t)
    const res = await app.inject({ url: '/users/me', headers: { 'x-token': 'mysecrettoken' } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], bearerChallenges)
  })

  t.test('with a token that is not a JWT is 401 invalid_token', async (t) => {
    const app = await server(t)
    const res = await app.inject({ url: '/users/me', headers: { authorization: 'Bearer not-a-jwt' } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], invalidToken('The access token is malformed'))
    t.same(res.json(), refusedToken('The access token is malformed'))
  })

  t.test('with a token from another server (another key) is 401 invalid_token', async (t) => {
    const other = await server(t)
    const app = await server(t)
    const token = await accessToken(other, 'alice', 'wonderland')
    const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], invalidToken('The access token signature is invalid'))
    t.same(res.json(), refusedToken('The access token signature is invalid'))
  })

  t.test('with an expired token is 401 invalid_token', async (t) => {
    const key = p256()
    const app = await server(t, { signingKey: key })
    const issuedAt = Math.floor(Date.now() / 1000) - 3600
    const token = await new SignJWT({ scope: 'me:read' })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('alice')
      .setJti('expired-1')
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 900)
      .sign(key)
    const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], invalidToken('The access token has expired'))
    t.same(res.json(), refusedToken('The access token has expired'))
  })

  t.test('with a plain JWT instead of an at+jwt access token is 401 invalid_token', async (t) => {
    const key = p256()
    const app = await server(t, { signingKey: key })
    const token = await new SignJWT({ scope: 'me:read' })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('alice')
      .setJti('plain-1')
      .setIssuedAt()
      .setExpirationTime('15m')
      .sign(key)
    const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], invalidToken('The access token type is not accepted'))
  })

  t.test('a disabled user is 401 even with a token signed by this server', async (t) => {
    const key = p256()
    const app = await server(t, { signingKey: key })
    // POST /token never issues carol a token; this one stands for a token issued before her account was disabled.
    const token = await signAccessToken({ key, algorithm: ALGORITHM, issuer: ISSUER, audience: AUDIENCE, subject: 'carol', scope: 'me:read' })
    const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], invalidToken('The access token is invalid'))
    t.same(res.json(), refusedToken('The access token is invalid'))
  })

  t.test('a user who no longer exists is 401', async (t) => {
    const key = p256()
    const app = await server(t, { signingKey: key })
    const token = await signAccessToken({ key, algorithm: ALGORITHM, issuer: ISSUER, audience: AUDIENCE, subject: 'mallory', scope: 'me:read' })
    const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], invalidToken('The access token is invalid'))
  })

  t.test('a token without me:read is 403 insufficient_scope', async (t) => {
    const app = await server(t)
    const token = await accessToken(app, 'alice', 'wonderland', 'items:read')
    const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 403)
    t.equal(res.headers['www-authenticate'], insufficientScope('me:read'))
    t.same(res.json(), scopeRefusal)
  })
})

t.test('GET /items', async (t) => {
  t.test('lists the items for a token with items:read', async (t) => {
    const app = await server(t)
    for (const [username, password] of [['alice', 'wonderland'], ['bob', 'builder']] as const) {
      const token = await accessToken(app, username, password)
      const res = await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })
      t.equal(res.statusCode, 200, username)
      t.same(res.json(), seedItems, username)
    }
  })

  t.test('is 403 insufficient_scope for a token without items:read', async (t) => {
    const app = await server(t)
    const token = await accessToken(app, 'alice', 'wonderland', 'me:read')
    const res = await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 403)
    t.equal(res.headers['www-authenticate'], insufficientScope('items:read'))
    t.same(res.json(), scopeRefusal)
  })

  t.test('is 401 without a token', async (t) => {
    const app = await server(t)
    const res = await app.inject('/items')
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], bearerChallenges)
    t.same(res.json(), missingCredentials)
  })
})

t.test('POST /items', async (t) => {
  t.test('creates an item owned by the user, listed afterwards', async (t) => {
    const app = await server(t)
    const token = await accessToken(app, 'alice', 'wonderland')
    const res = await app.inject({ method: 'POST', url: '/items', headers: { authorization: `Bearer ${token}` }, payload: { name: 'Pocket watch', description: 'Always late' } })
    t.equal(res.statusCode, 201)
    t.same(res.json(), { id: 3, name: 'Pocket watch', description: 'Always late', owner: 'alice' })
    const second = await app.inject({ method: 'POST', url: '/items', headers: { authorization: `Bearer ${token}` }, payload: { name: 'Tart' } })
    t.equal(second.statusCode, 201)
    t.same(second.json(), { id: 4, name: 'Tart', owner: 'alice' })
    const list = await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })
    t.same(list.json(), [...seedItems, { id: 3, name: 'Pocket watch', description: 'Always late', owner: 'alice' }, { id: 4, name: 'Tart', owner: 'alice' }])
  })

  t.test('is 403 insufficient_scope for bob, and nothing is created', async (t) => {
    const app = await server(t)
    const token = await accessToken(app, 'bob', 'builder')
    const res = await app.inject({ method: 'POST', url: '/items', headers: { authorization: `Bearer ${token}` }, payload: { name: 'Hard hat' } })
    t.equal(res.statusCode, 403)
    t.equal(res.headers['www-authenticate'], insufficientScope('items:write'))
    t.same(res.json(), scopeRefusal)
    const list = await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })
    t.same(list.json(), seedItems)
  })

  t.test('is 403 for alice when her token was granted items:read only', async (t) => {
    const app = await server(t)
    const token = await accessToken(app, 'alice', 'wonderland', 'items:read')
    const res = await app.inject({ method: 'POST', url: '/items', headers: { authorization: `Bearer ${token}` }, payload: { name: 'Hatter\'s hat' } })
    t.equal(res.statusCode, 403)
    t.equal(res.headers['www-authenticate'], insufficientScope('items:write'))
  })

  t.test('refuses before reading the body: 401 and 403 come before 400', async (t) => {
    const app = await server(t)
    const anonymous = await app.inject({ method: 'POST', url: '/items', payload: { nope: true } })
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.headers['www-authenticate'], bearerChallenges)
    const token = await accessToken(app, 'bob', 'builder')
    const forbidden = await app.inject({ method: 'POST', url: '/items', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '{not json' })
    t.equal(forbidden.statusCode, 403)
  })

  t.test('validates the body strictly', async (t) => {
    const app = await server(t)
    const token = await accessToken(app, 'alice', 'wonderland')
    const cases: Array<[string, unknown, string]> = [
      ['a missing name', { description: 'x' }, 'body must have required property \'name\''],
      ['an empty name', { name: '' }, 'body/name must NOT have fewer than 1 characters'],
      ['a name that is not a string (no coercion)', { name: 42 }, 'body/name must be string'],
      ['an unknown property (not silently dropped)', { name: 'x', owner: 'bob' }, 'body must NOT have additional properties'],
      ['a body that is not an object', ['x'], 'body must be object']
    ]
    for (const [what, payload, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/items', headers: { authorization: `Bearer ${token}` }, payload: payload as object })
      t.equal(res.statusCode, 400, what)
      t.same(res.json(), errorBody(400, 'FST_ERR_VALIDATION', message), what)
    }
    const list = await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })
    t.same(list.json(), seedItems)
  })
})

t.test('an unknown route is 404, not a challenge', async (t) => {
  const app = await server(t)
  const res = await app.inject('/admin')
  t.equal(res.statusCode, 404)
  t.equal(res.headers['www-authenticate'], undefined)
})
