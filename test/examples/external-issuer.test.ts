import t from 'tap'
import { externalIssuerBanner, readExternalIssuer } from '../../examples/config.js'
import { accessToken, errorBody, server } from './fixtures/helpers.js'
import { keyPair, sign } from '../helpers/jwt.js'
import { metadataServer } from '../helpers/metadata-server.js'

const AUDIENCE = 'https://api.example/'

/** A Keycloak-like issuer on 127.0.0.1 (a realm path), with its metadata and JWKS. */
async function realm (t: Parameters<typeof server>[0] & Parameters<typeof metadataServer>[0]): Promise<{ issuer: string, token: (claims: Record<string, unknown>) => Promise<string>, requests: string[] }> {
  const keys = await keyPair('RS256', 'kc')
  const as = await metadataServer(t)
  const issuer = `${as.origin}/realms/demo`
  as.route('/realms/demo/.well-known/openid-configuration', { issuer, jwks_uri: `${as.origin}/realms/demo/protocol/openid-connect/certs` })
  as.route('/realms/demo/protocol/openid-connect/certs', { keys: [keys.publicJwk] })
  const now = Math.floor(Date.now() / 1000)
  return {
    issuer,
    requests: as.requests,
    token: async (claims) => await sign(keys.privateKey, 'RS256', { iss: issuer, aud: AUDIENCE, sub: 'f1e2', iat: now, exp: now + 300, ...claims }, { kid: 'kc' })
  }
}

t.test('with an external issuer, its tokens open the API beside the server\'s own', async (t) => {
  const kc = await realm(t)
  const app = await server(t, { externalIssuer: { issuer: kc.issuer, audience: AUDIENCE } })
  t.same(kc.requests, [], 'nothing is fetched at boot')
  const external = await kc.token({ scope: 'me:read items:read', preferred_username: 'dana', name: 'Dana Scully', email: 'dana@example.com' })
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${external}` } })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { username: 'dana', full_name: 'Dana Scully', email: 'dana@example.com', scopes: ['me:read', 'items:read'] })

  const minimal = await kc.token({ scope: 'me:read' })
  t.same((await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${minimal}` } })).json(), { username: 'f1e2', full_name: 'f1e2', email: '', scopes: ['me:read'] })
  const noScope = await kc.token({})
  t.equal((await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${noScope}` } })).statusCode, 403)
  const noSub = await kc.token({ sub: undefined, scope: 'me:read' })
  t.equal((await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${noSub}` } })).statusCode, 401)

  const own = await accessToken(app, 'alice', 'wonderland')
  t.equal((await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${own}` } })).json().username, 'alice', 'the server\'s own tokens still work')

  const wrongAudience = await kc.token({ aud: 'https://other.example/', scope: 'me:read' })
  const refused = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${wrongAudience}` } })
  t.equal(refused.statusCode, 401)
  t.same(refused.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token audience is not accepted'))
  t.same(kc.requests, ['/realms/demo/.well-known/openid-configuration', '/realms/demo/protocol/openid-connect/certs'], 'metadata and keys fetched once')
})

t.test('without an external issuer, a token from elsewhere is refused without any fetch', async (t) => {
  const kc = await realm(t)
  const app = await server(t)
  const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${await kc.token({ scope: 'me:read' })}` } })
  t.equal(res.statusCode, 401)
  t.same(kc.requests, [])
})

t.test('EXTERNAL_ISSUER, EXTERNAL_AUDIENCE and EXTERNAL_ALGORITHMS configure it', async (t) => {
  t.equal(readExternalIssuer({}), undefined)
  t.equal(readExternalIssuer({ EXTERNAL_ISSUER: '' }), undefined, 'empty counts as unset')
  t.same(readExternalIssuer({ EXTERNAL_ISSUER: 'https://kc.example/realms/demo', EXTERNAL_AUDIENCE: 'account' }), { issuer: 'https://kc.example/realms/demo', audience: 'account', algorithms: ['RS256'] })
  t.same(readExternalIssuer({ EXTERNAL_ISSUER: 'https://tenant.auth0.com/', EXTERNAL_AUDIENCE: AUDIENCE, EXTERNAL_ALGORITHMS: 'RS256, PS256' }), { issuer: 'https://tenant.auth0.com/', audience: AUDIENCE, algorithms: ['RS256', 'PS256'] })
  t.throws(() => readExternalIssuer({ EXTERNAL_ISSUER: 'https://kc.example/realms/demo' }), new RangeError('EXTERNAL_AUDIENCE must be this API\'s audience at EXTERNAL_ISSUER'))
  t.throws(() => readExternalIssuer({ EXTERNAL_AUDIENCE: AUDIENCE }), new RangeError('EXTERNAL_AUDIENCE and EXTERNAL_ALGORITHMS need EXTERNAL_ISSUER'))
  t.throws(() => readExternalIssuer({ EXTERNAL_ALGORITHMS: 'RS256' }), new RangeError('EXTERNAL_AUDIENCE and EXTERNAL_ALGORITHMS need EXTERNAL_ISSUER'))
})

t.test('an external issuer that is no https URL stops the boot', async (t) => {
  await t.rejects(server(t, { externalIssuer: { issuer: 'http://kc.example/realms/demo', audience: AUDIENCE } }), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION' })
})

t.test('the banner names the external issuer and its audience, and says nothing without one', async (t) => {
  t.equal(externalIssuerBanner(undefined), '')
  t.equal(externalIssuerBanner({ issuer: 'https://kc.example/realms/demo', audience: 'account', algorithms: ['RS256'] }), 'Also accepted: access tokens of https://kc.example/realms/demo (audience account)\n')
})
