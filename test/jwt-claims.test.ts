import t from 'tap'
import { jwtDescriptions } from '../lib/verifiers/jwt-refusals.js'
import { assertRefused, AUDIENCE, claims, ISSUER, jwtApp, NOW, secret, sign } from './helpers/jwt.js'

const key = secret()
const hs256 = { secret: key, algorithms: ['HS256'] }

t.test('exp is required and a token whose exp equals now is expired', async (t) => {
  await t.test('with no clock tolerance', async (t) => {
    const { get, clock } = await jwtApp(t, { ...hs256, clockTolerance: 0 })
    assertRefused(t, await get(await sign(key, 'HS256', claims({ exp: NOW }))), jwtDescriptions.expired)
    t.equal((await get(await sign(key, 'HS256', claims({ exp: NOW + 1 })))).statusCode, 200, 'one second before exp')
    clock.ms = (NOW + 1) * 1000 - 1
    t.equal((await get(await sign(key, 'HS256', claims({ exp: NOW + 1, jti: 'b' })))).statusCode, 200, 'one ms before exp')
    clock.ms = (NOW + 1) * 1000
    assertRefused(t, await get(await sign(key, 'HS256', claims({ exp: NOW + 1, jti: 'c' }))), jwtDescriptions.expired)
  })
  await t.test('with the default tolerance of 30 seconds', async (t) => {
    const { get } = await jwtApp(t, hs256)
    assertRefused(t, await get(await sign(key, 'HS256', claims({ exp: NOW - 30 }))), jwtDescriptions.expired)
    t.equal((await get(await sign(key, 'HS256', claims({ exp: NOW - 29 })))).statusCode, 200)
  })
  await t.test('without exp', async (t) => {
    const { get } = await jwtApp(t, hs256)
    assertRefused(t, await get(await sign(key, 'HS256', claims({ exp: undefined }))), jwtDescriptions.missingClaim)
  })
  await t.test('with an exp that is not a number', async (t) => {
    const { get } = await jwtApp(t, hs256)
    assertRefused(t, await get(await sign(key, 'HS256', claims({ exp: String(NOW + 600) }))), jwtDescriptions.malformed)
  })
})

t.test('nbf in the future beyond the tolerance is not yet valid', async (t) => {
  const { get } = await jwtApp(t, hs256)
  assertRefused(t, await get(await sign(key, 'HS256', claims({ nbf: NOW + 31 }))), jwtDescriptions.notYetValid)
  t.equal((await get(await sign(key, 'HS256', claims({ nbf: NOW + 30 })))).statusCode, 200, 'within the tolerance')
  assertRefused(t, await get(await sign(key, 'HS256', claims({ nbf: 'now' }))), jwtDescriptions.malformed)
})

t.test('iat in the future beyond the tolerance is refused', async (t) => {
  await t.test('without maxTokenAge', async (t) => {
    const { get } = await jwtApp(t, { ...hs256, clockTolerance: 5 })
    assertRefused(t, await get(await sign(key, 'HS256', claims({ iat: NOW + 6 }))), jwtDescriptions.issuedInFuture)
    t.equal((await get(await sign(key, 'HS256', claims({ iat: NOW + 5 })))).statusCode, 200, 'within the tolerance')
    t.equal((await get(await sign(key, 'HS256', claims({ iat: undefined })))).statusCode, 200, 'iat is optional')
  })
  await t.test('with maxTokenAge', async (t) => {
    const { get } = await jwtApp(t, { ...hs256, clockTolerance: 5, maxTokenAge: 60 })
    assertRefused(t, await get(await sign(key, 'HS256', claims({ iat: NOW + 6 }))), jwtDescriptions.issuedInFuture)
  })
})

t.test('maxTokenAge refuses tokens issued too long ago and requires iat', async (t) => {
  const { get } = await jwtApp(t, { ...hs256, clockTolerance: 0, maxTokenAge: 3600 })
  assertRefused(t, await get(await sign(key, 'HS256', claims({ iat: NOW - 3601 }))), jwtDescriptions.tooOld)
  t.equal((await get(await sign(key, 'HS256', claims({ iat: NOW - 3600 })))).statusCode, 200)
  assertRefused(t, await get(await sign(key, 'HS256', claims({ iat: undefined }))), jwtDescriptions.missingClaim)
})

t.test('iss must equal the issuer exactly', async (t) => {
  const { get } = await jwtApp(t, hs256)
  for (const iss of ['https://issuer.example', 'https://issuer.example//', 'HTTPS://ISSUER.EXAMPLE/', 'https://Issuer.example/', ` ${ISSUER}`, [ISSUER], 'https://evil.example/"x"']) {
    assertRefused(t, await get(await sign(key, 'HS256', claims({ iss }))), jwtDescriptions.wrongIssuer)
  }
  assertRefused(t, await get(await sign(key, 'HS256', claims({ iss: undefined }))), jwtDescriptions.wrongIssuer)
  t.equal((await get(await sign(key, 'HS256', claims({ iss: ISSUER })))).statusCode, 200)
})

t.test('aud must contain the audience', async (t) => {
  const { get } = await jwtApp(t, hs256)
  for (const aud of ['https://other.example/', 'https://api.example', AUDIENCE.toUpperCase(), ['https://a.example/', 'https://b.example/'], [], 42]) {
    assertRefused(t, await get(await sign(key, 'HS256', claims({ aud }))), jwtDescriptions.wrongAudience)
  }
  assertRefused(t, await get(await sign(key, 'HS256', claims({ aud: undefined }))), jwtDescriptions.wrongAudience)
  t.equal((await get(await sign(key, 'HS256', claims({ aud: ['https://other.example/', AUDIENCE] })))).statusCode, 200, 'an array holding ours')
})

t.test('typ is enforced when configured', async (t) => {
  await t.test('typ: at+jwt refuses other and missing types', async (t) => {
    const { get } = await jwtApp(t, { ...hs256, typ: 'at+jwt' })
    assertRefused(t, await get(await sign(key, 'HS256', claims(), { typ: 'JWT' })), jwtDescriptions.wrongType)
    assertRefused(t, await get(await sign(key, 'HS256', claims(), { typ: 'application/jwt' })), jwtDescriptions.wrongType)
    assertRefused(t, await get(await sign(key, 'HS256', claims(), { typ: undefined } as never)), jwtDescriptions.wrongType)
    t.equal((await get(await sign(key, 'HS256', claims(), { typ: 'AT+JWT' }))).statusCode, 200, 'case-insensitive')
    t.equal((await get(await sign(key, 'HS256', claims(), { typ: 'application/at+jwt' }))).statusCode, 200, 'media type prefix')
  })
  await t.test('without typ any type is accepted', async (t) => {
    const { get } = await jwtApp(t, hs256)
    t.equal((await get(await sign(key, 'HS256', claims(), { typ: 'JWT' }))).statusCode, 200)
  })
})

t.test('requiredClaims must be present', async (t) => {
  const { get } = await jwtApp(t, { ...hs256, requiredClaims: ['client_id', 'sub'] })
  assertRefused(t, await get(await sign(key, 'HS256', claims())), jwtDescriptions.missingClaim)
  t.equal((await get(await sign(key, 'HS256', claims({ client_id: 'app' })))).statusCode, 200)
})

t.test('scopes come from scope, scp or permissions', async (t) => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, string[]]> = [
    ['a space-delimited scope', {}, { scope: ' read  admin ' }, ['read', 'admin']],
    ['a scope array', {}, { scope: ['read', 'admin'] }, ['read', 'admin']],
    ['scp when there is no scope', {}, { scope: undefined, scp: ['admin'] }, ['admin']],
    ['a space-delimited scp', {}, { scope: undefined, scp: 'admin read' }, ['admin', 'read']],
    ['permissions when there is neither', {}, { scope: undefined, permissions: ['admin'] }, ['admin']],
    ['no scope claim at all', {}, { scope: undefined }, []],
    ['scope before scp', {}, { scope: 'read', scp: ['admin'] }, ['read']],
    ['scopeClaim: scp reads scp only', { scopeClaim: 'scp' }, { scope: 'admin', scp: ['read'] }, ['read']],
    ['scopeClaim: permissions, absent', { scopeClaim: 'permissions' }, { scope: 'admin' }, []]
  ]
  for (const [name, options, overrides, scopes] of cases) {
    await t.test(name, async (t) => {
      const { get } = await jwtApp(t, { ...hs256, ...options })
      const res = await get(await sign(key, 'HS256', claims(overrides)))
      t.equal(res.statusCode, 200)
      t.same(res.json().auth.scopes, scopes)
      t.equal((await get(await sign(key, 'HS256', claims(overrides)), '/admin')).statusCode, scopes.includes('admin') ? 200 : 403)
    })
  }
  await t.test('a scope claim of the wrong type is malformed', async (t) => {
    const { get } = await jwtApp(t, hs256)
    assertRefused(t, await get(await sign(key, 'HS256', claims({ scope: 42 }))), jwtDescriptions.malformed)
    assertRefused(t, await get(await sign(key, 'HS256', claims({ scope: ['read', 1] }))), jwtDescriptions.malformed)
  })
})

t.test('a missing scope is 403 insufficient_scope, not 401', async (t) => {
  const { get } = await jwtApp(t, hs256)
  const res = await get(await sign(key, 'HS256', claims({ scope: 'read' })), '/admin')
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"')
  t.same(res.json(), { statusCode: 403, code: 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', error: 'Forbidden', message: 'The access token does not grant the required scope' })
})

t.test('request.auth carries the verified claims, deeply frozen, and the scheme and scopes', async (t) => {
  const { app, get } = await jwtApp(t, hs256)
  app.get('/mutate', { config: { auth: true } }, async (request) => {
    const auth = request.auth!
    const nested = auth.claims!.realm as { roles: string[] }
    return {
      scheme: auth.scheme,
      scopes: auth.scopes,
      frozen: [Object.isFrozen(auth.claims), Object.isFrozen(nested), Object.isFrozen(nested.roles), Object.isFrozen(auth.scopes)],
      userIsClaims: request.user === auth.claims
    }
  })
  const token = await sign(key, 'HS256', claims({ realm: { roles: ['a'] } }))
  const expected = { scheme: 'bearerAuth', scopes: ['read', 'write'], frozen: [true, true, true, true], userIsClaims: true }
  t.same((await get(token, '/mutate')).json(), expected)
  t.same((await get(token, '/mutate')).json(), expected, 'and on a cache hit')
  t.same((await get(token)).json().auth.claims, claims({ realm: { roles: ['a'] } }))
})

t.test('a refusal never reflects a claim or header value', async (t) => {
  const { get } = await jwtApp(t, { ...hs256, typ: 'at+jwt' })
  const hostile = 'x", error="other'
  const other = secret()
  for (const [signer, payload, header] of [[key, claims({ iss: hostile }), {}], [key, claims({ aud: hostile }), {}], [key, claims(), { typ: hostile }], [other, claims(), { kid: hostile }]] as const) {
    const res = await get(await sign(signer, 'HS256', payload, header))
    t.equal(res.statusCode, 401)
    t.notMatch(res.headers['www-authenticate'], 'other')
    t.notMatch(res.body, 'other')
  }
})
