import t from 'tap'
import Fastify from 'fastify'
import protectedRoutes from '../lib/index.js'
import { jwtDescriptions } from '../lib/verifiers/jwt-refusals.js'
import type { JwtOptions } from '../lib/verifiers/jwt-options.js'
import { AUDIENCE, assertRefused, claims, jwtApp, keyPair, secret, sign } from './helpers/jwt.js'
import { metadataServer } from './helpers/metadata-server.js'

const A = 'https://a.example/'
const B = 'https://b.example/realms/main'
const H = 'internal'

t.test('several issuers: each token is checked with its own issuer\'s keys; an unknown iss fetches nothing', async (t) => {
  const a = await keyPair('RS256', 'a')
  const b = await keyPair('ES256', 'b')
  const hs = secret()
  const server = await metadataServer(t)
  server.route('/jwks', { keys: [a.publicJwk] })
  const { get, verifications } = await jwtApp(t, {
    issuer: undefined,
    algorithms: ['RS256'],
    audience: AUDIENCE,
    issuers: [
      { issuer: A, jwksUrl: `${server.origin}/jwks` },
      { issuer: B, publicKey: b.publicJwk, algorithms: ['ES256'], audience: ['https://other.example/', 'https://b-api.example/'] },
      { issuer: H, secret: hs, algorithms: ['HS256'] }
    ]
  } as unknown as JwtOptions)
  t.equal((await get(await sign(a.privateKey, 'RS256', claims({ iss: A }), { kid: 'a' }))).statusCode, 200, 'A, through its JWKS')
  t.equal((await get(await sign(b.privateKey, 'ES256', claims({ iss: B, aud: 'https://b-api.example/' })))).statusCode, 200, 'B, its own algorithms and one of its audiences')
  t.equal((await get(await sign(hs, 'HS256', claims({ iss: H })))).statusCode, 200, 'the HS256 entry')
  t.same(server.requests, ['/jwks'])

  const before = verifications()
  assertRefused(t, await get(await sign(a.privateKey, 'RS256', claims({ iss: 'https://c.example/' }), { kid: 'a' })), jwtDescriptions.wrongIssuer)
  assertRefused(t, await get(await sign(a.privateKey, 'RS256', claims({ iss: 'https://a.example' }), { kid: 'a' })), jwtDescriptions.wrongIssuer)
  assertRefused(t, await get(await sign(a.privateKey, 'RS256', claims({ iss: undefined }), { kid: 'a' })), jwtDescriptions.wrongIssuer)
  t.equal(verifications(), before, 'an unknown iss never reaches jose')

  assertRefused(t, await get(await sign(hs, 'HS256', claims({ iss: A }), { kid: 'a' })), jwtDescriptions.unsupportedAlgorithm)
  assertRefused(t, await get(await sign(b.privateKey, 'ES256', claims({ iss: A }), { kid: 'a' })), jwtDescriptions.unsupportedAlgorithm)
  assertRefused(t, await get(await sign(b.privateKey, 'ES256', claims({ iss: B }))), jwtDescriptions.wrongAudience)
  assertRefused(t, await get(await sign(a.privateKey, 'RS256', claims({ iss: B }), { kid: 'a' })), jwtDescriptions.unsupportedAlgorithm)
  t.same(server.requests, ['/jwks'], 'a symmetric token, or one for another issuer\'s algorithm, triggers no fetch')
})

t.test('audience may be a list for one issuer too: aud must contain one of them', async (t) => {
  const hs = secret()
  const { get } = await jwtApp(t, { secret: hs, algorithms: ['HS256'], audience: ['https://one.example/', AUDIENCE] })
  t.equal((await get(await sign(hs, 'HS256', claims()))).statusCode, 200)
  t.equal((await get(await sign(hs, 'HS256', claims({ aud: ['https://x.example/', 'https://one.example/'] })))).statusCode, 200)
  assertRefused(t, await get(await sign(hs, 'HS256', claims({ aud: 'https://x.example/' }))), jwtDescriptions.wrongAudience)
})

t.test('a route with two JWT schemes offers each token to the scheme that trusts its iss', async (t) => {
  const hsA = secret()
  const hsB = secret()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, {
    schemes: {
      one: { type: 'bearer', jwt: { issuer: A, secret: hsA, algorithms: ['HS256'], audience: AUDIENCE } },
      many: { type: 'bearer', jwt: { algorithms: ['HS256'], audience: AUDIENCE, issuers: [{ issuer: B, secret: hsB }, { issuer: H, secret: hsB }] } }
    }
  })
  app.get('/me', { config: { auth: true } }, async (request) => request.auth?.scheme)
  const get = async (token: string): Promise<string> => (await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })).body
  t.equal(await get(await sign(hsA, 'HS256', claims({ iss: A, exp: 4_000_000_000 }))), 'one')
  t.equal(await get(await sign(hsB, 'HS256', claims({ iss: H, exp: 4_000_000_000 }))), 'many')
  t.equal(await get(await sign(hsB, 'HS256', claims({ iss: B, exp: 4_000_000_000 }))), 'many')
})

t.test('issuers is checked at boot', async (t) => {
  const path = 'schemes.bearerAuth.jwt'
  const entry = { issuer: A, secret: secret() }
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an empty list', { issuers: [] }, `${path}.issuers must be a non-empty array of { issuer, secret | publicKey | jwksUrl | discovery }`],
    ['not a list', { issuers: entry }, `${path}.issuers must be a non-empty array of { issuer, secret | publicKey | jwksUrl | discovery }`],
    ['with issuer', { issuer: A, issuers: [entry] }, `${path}.issuers replaces ${path}.issuer and its key source: move issuer into an entry of issuers`],
    ['with a top-level secret', { secret: secret(), issuers: [entry] }, `${path}.issuers replaces ${path}.issuer and its key source: move secret into an entry of issuers`],
    ['an entry that is no object', { issuers: ['https://a.example/'] }, `${path}.issuers[0] must be an object`],
    ['an unknown entry option', { issuers: [{ ...entry, typ: 'at+jwt' }] }, `${path}.issuers[0] has an unknown option 'typ'`],
    ['the same issuer twice', { issuers: [entry, { issuer: A, secret: secret() }] }, `${path}.issuers[1].issuer is listed twice`],
    ['an entry without issuer', { issuers: [{ secret: secret() }] }, `${path}.issuers[0].issuer must be the expected iss, a non-empty string`],
    ['an entry without key source', { issuers: [{ issuer: A }] }, `${path}.issuers[0] needs exactly one of secret, publicKey, jwksUrl or discovery: true`],
    ['no algorithms anywhere', { algorithms: undefined, issuers: [entry] }, `${path}.issuers[0].algorithms must list the accepted algorithms, e.g. ['RS256']`],
    ['no audience anywhere', { audience: undefined, issuers: [entry] }, `${path}.issuers[0].audience must be this API's audience, a non-empty string or a list of them (or set the plugin's protectedResource: its resource is then the default audience)`],
    ['bad default algorithms', { algorithms: ['none'], issuers: [{ ...entry, algorithms: ['HS256'] }] }, `${path}.algorithms must never list 'none'`],
    ['a bad default audience', { audience: [''], issuers: [{ ...entry, audience: AUDIENCE }] }, `${path}.audience must be this API's audience, a non-empty string or a list of them`],
    ['a JWKS option with static keys only', { jwksTimeout: 100, issuers: [entry] }, `${path}.jwksTimeout applies to jwksUrl and discovery only`],
    ['a discovery entry off https', { algorithms: ['RS256'], issuers: [{ issuer: 'http://a.example/', discovery: true }] }, `${path}.issuers[0].issuer must be the issuer's URL (https:, or http: on a loopback host; no query or fragment) to use discovery`]
  ]
  for (const [name, jwt, message] of cases) {
    await t.rejects(jwtApp(t, { issuer: undefined, algorithms: ['HS256'], ...jwt } as unknown as JwtOptions), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message: `Invalid fastify-protected-routes option: ${message}` }, name)
  }
})
