import t from 'tap'
import { descriptions, jwtDescriptions } from '../lib/errors.js'
import protectedRoutes from '../lib/index.js'
import { errorBody, fresh } from './helpers/app.js'
import { assertRefused, AUDIENCE, challenge, claims, ISSUER, secret, sign } from './helpers/jwt.js'
import { answering, BASIC, CLIENT_ID, CLIENT_SECRET, introspectionApp, introspectionServer, json, NOW } from './helpers/introspection.js'

const ISS = 'https://auth.example/'
const AUD = 'https://orders.example/'
const active = (overrides: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ sub: 'alice', scope: 'read write', client_id: 'web', exp: NOW + 3600, iat: NOW - 10, iss: ISS, aud: AUD, ...overrides })

t.test('an active token is accepted: the response is the user and request.auth.claims, its scope the scopes', async (t) => {
  const server = await introspectionServer(t, answering({ 'tok-1': active() }))
  const { get } = await introspectionApp(t, { url: server.url })
  const res = await get('tok-1')
  t.equal(res.statusCode, 200)
  const response = { active: true, ...active() }
  t.same(res.json(), { user: response, auth: { scheme: 'idp', scopes: ['read', 'write'], claims: response } })
})

t.test('the request: a form POST of token and token_type_hint, client_secret_basic by default', async (t) => {
  const server = await introspectionServer(t, answering({ 'tok-1': active() }))
  const { get } = await introspectionApp(t, { url: server.url })
  t.equal((await get('tok-1')).statusCode, 200)
  t.equal(server.received.length, 1)
  const [request] = server.received
  t.equal(request!.method, 'POST')
  t.equal(request!.url, '/introspect')
  t.equal(request!.headers['content-type'], 'application/x-www-form-urlencoded')
  t.equal(request!.headers.accept, 'application/json')
  t.equal(request!.headers.authorization, BASIC)
  t.equal(request!.body, 'token=tok-1&token_type_hint=access_token')
})

// RFC 6749 §2.3.1: the id and the secret are form-urlencoded, then joined with ':' and base64-encoded.
const oddId = 'client:one é'
const oddSecret = 'p@ss wörd+/=%&:'
const formDecode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '))

t.test('client_secret_basic form-urlencodes the id and the secret before base64', async (t) => {
  const server = await introspectionServer(t, (_received, res) => json(res, { active: false }))
  const { get } = await introspectionApp(t, { url: server.url, clientId: oddId, clientSecret: oddSecret })
  await get('tok-1')
  const header = server.received[0]!.headers.authorization!
  t.equal(header, `Basic ${Buffer.from('client%3Aone+%C3%A9:p%40ss+w%C3%B6rd%2B%2F%3D%25%26%3A').toString('base64')}`)
  const [id, secret] = Buffer.from(header.slice('Basic '.length), 'base64').toString().split(':')
  t.equal(formDecode(id!), oddId, 'the server decodes the id back')
  t.equal(formDecode(secret!), oddSecret, 'and the secret')
})

t.test('client_secret_post sends the credentials in the body, and no Authorization header', async (t) => {
  const server = await introspectionServer(t, (_received, res) => json(res, { active: true, sub: 'alice' }))
  const { get } = await introspectionApp(t, { url: server.url, auth: 'client_secret_post', clientId: oddId, clientSecret: oddSecret })
  t.equal((await get('tok-1')).statusCode, 200)
  const [request] = server.received
  t.equal(request!.headers.authorization, undefined)
  t.same([...request!.form], [['token', 'tok-1'], ['token_type_hint', 'access_token'], ['client_id', oddId], ['client_secret', oddSecret]])
})

t.test('a token with characters form encoding changes reaches the server as sent', async (t) => {
  const token = 'a+b/c=='
  const server = await introspectionServer(t, answering({ [token]: active() }))
  const { get } = await introspectionApp(t, { url: server.url })
  t.equal((await get(token)).statusCode, 200)
  t.equal(server.received[0]!.body, 'token=a%2Bb%2Fc%3D%3D&token_type_hint=access_token')
})

t.test('active must be the boolean true', async (t) => {
  for (const [name, answer] of [
    ['false', { active: false }],
    ['the string "true"', { active: 'true', sub: 'alice' }],
    ['1', { active: 1, sub: 'alice' }],
    ['missing', { sub: 'alice', scope: 'read' }]
  ] as const) {
    await t.test(name, async (t) => {
      const server = await introspectionServer(t, (_received, res) => json(res, answer))
      const { get } = await introspectionApp(t, { url: server.url })
      assertRefused(t, await get('tok-1'), descriptions.invalidToken)
    })
  }
})

t.test('exp and nbf are checked when present, within the clock tolerance', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string | null]> = [
    ['expired past the tolerance', { exp: NOW - 31 }, jwtDescriptions.expired],
    ['expired within the tolerance', { exp: NOW - 29 }, null],
    ['not yet valid past the tolerance', { nbf: NOW + 31 }, jwtDescriptions.notYetValid],
    ['not yet valid within the tolerance', { nbf: NOW + 29 }, null],
    ['no exp: the server says it is active', { exp: undefined }, null],
    ['an exp that is not a number', { exp: String(NOW + 60) }, jwtDescriptions.malformed],
    ['an nbf that is not a number', { nbf: 'now' }, jwtDescriptions.malformed]
  ]
  for (const [name, overrides, refusal] of cases) {
    await t.test(name, async (t) => {
      const server = await introspectionServer(t, answering({ 'tok-1': active(overrides) }))
      const { get } = await introspectionApp(t, { url: server.url })
      const res = await get('tok-1')
      if (refusal === null) t.equal(res.statusCode, 200)
      else assertRefused(t, res, refusal)
    })
  }
  await t.test('clockTolerance: 0', async (t) => {
    const server = await introspectionServer(t, answering({ 'tok-1': active({ exp: NOW }) }))
    const { get } = await introspectionApp(t, { url: server.url, clockTolerance: 0 })
    assertRefused(t, await get('tok-1'), jwtDescriptions.expired)
  })
})

t.test('iss and aud are checked when configured', async (t) => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, string | null]> = [
    ['the issuer', { issuer: ISS }, {}, null],
    ['another issuer', { issuer: ISS }, { iss: 'https://evil.example/' }, jwtDescriptions.wrongIssuer],
    ['no iss', { issuer: ISS }, { iss: undefined }, jwtDescriptions.wrongIssuer],
    ['any iss when none is configured', {}, { iss: 'https://other.example/' }, null],
    ['the audience', { audience: AUD }, {}, null],
    ['the audience in an array', { audience: AUD }, { aud: ['x', AUD] }, null],
    ['one of the configured audiences', { audience: ['https://a.example/', AUD] }, {}, null],
    ['another audience', { audience: AUD }, { aud: 'https://other.example/' }, jwtDescriptions.wrongAudience],
    ['no aud', { audience: AUD }, { aud: undefined }, jwtDescriptions.wrongAudience],
    ['an aud that is neither a string nor an array', { audience: AUD }, { aud: { AUD } }, jwtDescriptions.wrongAudience],
    ['any aud when none is configured', {}, { aud: 'https://other.example/' }, null]
  ]
  for (const [name, options, overrides, refusal] of cases) {
    await t.test(name, async (t) => {
      const server = await introspectionServer(t, answering({ 'tok-1': active(overrides) }))
      const { get } = await introspectionApp(t, { url: server.url, ...options })
      const res = await get('tok-1')
      if (refusal === null) t.equal(res.statusCode, 200)
      else assertRefused(t, res, refusal)
    })
  }
})

t.test('a sender-constrained token is refused as bound: cnf, or token_type DPoP', async (t) => {
  for (const [name, overrides] of [
    ['cnf jkt', { cnf: { jkt: 'thumbprint' } }],
    ['cnf x5t#S256', { cnf: { 'x5t#S256': 'thumbprint' } }],
    ['token_type DPoP', { token_type: 'DPoP' }]
  ] as const) {
    await t.test(name, async (t) => {
      const server = await introspectionServer(t, answering({ 'tok-1': active(overrides) }))
      const { get } = await introspectionApp(t, { url: server.url })
      assertRefused(t, await get('tok-1'), jwtDescriptions.bound)
    })
  }
  await t.test('token_type Bearer is accepted', async (t) => {
    const server = await introspectionServer(t, answering({ 'tok-1': active({ token_type: 'Bearer' }) }))
    const { get } = await introspectionApp(t, { url: server.url })
    t.equal((await get('tok-1')).statusCode, 200)
  })
})

t.test('scopes', async (t) => {
  await t.test('a route requiring a scope the token lacks: 403 insufficient_scope', async (t) => {
    const server = await introspectionServer(t, answering({ 'tok-1': active(), 'tok-2': active({ scope: 'admin' }) }))
    const { get } = await introspectionApp(t, { url: server.url })
    const res = await get('tok-1', '/admin')
    t.equal(res.statusCode, 403)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"')
    t.equal((await get('tok-2', '/admin')).statusCode, 200)
  })
  await t.test('no scope member grants none', async (t) => {
    const server = await introspectionServer(t, answering({ 'tok-1': active({ scope: undefined }) }))
    const { get } = await introspectionApp(t, { url: server.url })
    const res = await get('tok-1')
    t.same(res.json().auth.scopes, [])
  })
  await t.test('a scope that is not a string or an array of strings: refused as malformed', async (t) => {
    const server = await introspectionServer(t, answering({ 'tok-1': active({ scope: 42 }) }))
    const { get } = await introspectionApp(t, { url: server.url })
    assertRefused(t, await get('tok-1'), jwtDescriptions.malformed)
  })
  await t.test('scopeClaim reads another member', async (t) => {
    const server = await introspectionServer(t, answering({ 'tok-1': active({ realm_access: { roles: ['admin'] } }) }))
    const { get } = await introspectionApp(t, { url: server.url, scopeClaim: 'realm_access.roles' })
    t.equal((await get('tok-1', '/admin')).statusCode, 200)
  })
  await t.test("the plugin's getScopes, when set, is given the response", async (t) => {
    const server = await introspectionServer(t, answering({ 'tok-1': active({ permissions: ['admin'] }) }))
    const { get } = await introspectionApp(t, { url: server.url }, { plugin: { getScopes: (user) => (user as { permissions: string[] }).permissions } })
    t.same((await get('tok-1', '/admin')).json().auth.scopes, ['admin'])
  })
  await t.test('a getScopes that returns no array: 500', async (t) => {
    const server = await introspectionServer(t, answering({ 'tok-1': active() }))
    const { get } = await introspectionApp(t, { url: server.url }, { plugin: { getScopes: () => 'admin' as never } })
    const res = await get('tok-1')
    t.equal(res.statusCode, 500)
    t.same(res.json(), errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed'))
  })
})

t.test('the user and request.auth are deeply frozen', async (t) => {
  const server = await introspectionServer(t, answering({ 'tok-1': active({ ext: { tenant: { id: 1 } } }) }))
  const { app } = await introspectionApp(t, { url: server.url })
  let seen: Record<string, unknown> = {}
  app.get('/mutate', { config: { auth: true } }, async (request) => {
    const user = request.user as { ext: { tenant: { id: number } } }
    seen = {
      user: Object.isFrozen(user),
      nested: Object.isFrozen(user.ext.tenant),
      auth: Object.isFrozen(request.auth),
      claims: request.auth!.claims === request.user,
      throws: (() => { try { user.ext.tenant.id = 2; return false } catch { return true } })()
    }
    return { id: user.ext.tenant.id }
  })
  const res = await app.inject({ url: '/mutate', headers: { authorization: 'Bearer tok-1' } })
  t.same(res.json(), { id: 1 })
  t.same(seen, { user: true, nested: true, auth: true, claims: true, throws: true })
})

t.test('user maps the response on every request; its scopes stay the token\'s', async (t) => {
  for (const kind of ['sync', 'async']) {
    await t.test(kind, async (t) => {
      const disabled = new Set<unknown>()
      let calls = 0
      const user = (claims: Readonly<Record<string, unknown>>) => {
        calls++
        const found = disabled.has(claims.sub) ? null : { username: claims.sub, scopes: ['admin'], profile: { team: 'a' } }
        return kind === 'sync' ? found : Promise.resolve(found)
      }
      const server = await introspectionServer(t, answering({ 'tok-1': active() }))
      const { get } = await introspectionApp(t, { url: server.url, user })
      const res = await get('tok-1')
      t.equal(res.statusCode, 200)
      t.same(res.json().user, { username: 'alice', scopes: ['admin'], profile: { team: 'a' } })
      t.same(res.json().auth.scopes, ['read', 'write'])
      t.same(res.json().auth.claims, { active: true, ...active() })
      t.equal((await get('tok-1', '/admin')).statusCode, 403, "the mapped user's scopes are not the token's")
      disabled.add('alice')
      assertRefused(t, await get('tok-1'), descriptions.invalidToken)
      t.equal(calls, 3)
      t.equal(server.received.length, 1, 'answered from the cache')
    })
  }
  await t.test('a user that is not an object: 500', async (t) => {
    const server = await introspectionServer(t, answering({ 'tok-1': active() }))
    const { get } = await introspectionApp(t, { url: server.url, user: (() => 'alice') as never })
    t.equal((await get('tok-1')).statusCode, 500)
  })
})

t.test('an introspection response too deep to freeze is no answer: 503', async (t) => {
  let deep: Record<string, unknown> = {}
  const root = deep
  for (let i = 0; i < 40; i++) deep = (deep.next = {}) as Record<string, unknown>
  const server = await introspectionServer(t, answering({ 'tok-1': active({ root }) }))
  const { get } = await introspectionApp(t, { url: server.url })
  const res = await get('tok-1')
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
})

t.test('the refusal challenge names the scheme\'s own error, exactly', async (t) => {
  const server = await introspectionServer(t, answering({}))
  const { get } = await introspectionApp(t, { url: server.url })
  const res = await get('unknown')
  t.equal(res.headers['www-authenticate'], challenge(descriptions.invalidToken))
  t.equal(server.received[0]!.headers.authorization, BASIC, 'asked with our credentials')
})

t.test('beside a JWT scheme on one route: a JWT never reaches the introspection endpoint, an opaque token never the JWT verifier', async (t) => {
  // The real clock here: tokens valid now.
  const nowSeconds = Math.floor(Date.now() / 1000)
  const server = await introspectionServer(t, answering({ 'opaque-1': active({ exp: nowSeconds + 3600 }) }))
  const key = secret()
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: {
      jwt: { type: 'bearer', jwt: { secret: key, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE } },
      idp: { type: 'bearer', introspection: { url: server.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } }
    }
  })
  app.get('/me', { config: { auth: true } }, async (request) => request.auth!.scheme)
  const get = (token: string) => app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  const valid = { iat: nowSeconds, exp: nowSeconds + 3600 }
  const jwt = await sign(key, 'HS256', claims(valid))
  t.equal((await get(jwt)).body, 'jwt')
  t.equal((await get('opaque-1')).body, 'idp')
  const foreign = await sign(key, 'HS256', claims({ ...valid, iss: 'https://other.example/' }))
  const refused = await get(foreign)
  t.equal(refused.statusCode, 401, 'a JWT of an issuer the JWT scheme does not trust is refused')
  t.same(server.received.map((entry) => entry.form.get('token')), ['opaque-1'], 'only the opaque token was introspected')
})
