// RFC 9068 access tokens from a real authorization server (oidc-provider), verified through its
// jwks_uri: the audience comes from the RFC 8707 resource indicator the client asked for.
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { test } from 'tap'
import protectedRoutes, { type JwtOptions } from '../../lib/index.js'
import { kJwtInternals } from '../../lib/verifiers/jwt.js'
import { jwtDescriptions } from '../../lib/verifiers/jwt-refusals.js'
import { errorBody, fresh } from '../helpers/app.js'
import { JWT_RESOURCE, OPAQUE_RESOURCE, OTHER_RESOURCE, startIssuer, type Issuer } from '../helpers/oidc-provider.js'

const invalid = (description: string): string => `Bearer realm="api", error="invalid_token", error_description="${description}"`
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

/** A fresh Fastify trusting `as` through its jwks_uri; its clock can be moved ahead by `skew` ms. */
async function resourceServer (t: Parameters<typeof fresh>[0], as: Issuer, algorithms = ['RS256', 'ES256']) {
  let verifications = 0
  const clock = { skew: 0 }
  const jwt = {
    jwksUrl: as.jwksUri,
    issuer: as.issuer,
    audience: JWT_RESOURCE,
    algorithms,
    typ: 'at+jwt',
    [kJwtInternals]: { now: () => Date.now() + clock.skew, onVerify: () => { verifications++ } }
  } as JwtOptions
  const app = fresh(t)
  await app.register(protectedRoutes, { schemes: { idp: { type: 'bearer', jwt } } })
  app.get('/me', { config: { auth: true } }, async (request) => request.auth)
  app.get('/write', { config: { auth: { scopes: ['write'] } } }, async () => 'written')
  return { app, clock, verifications: () => verifications }
}

test('RS256 and ES256 at+jwt access tokens from the provider are accepted with their claims and scopes', async (t) => {
  const as = await startIssuer(t)
  const { app, verifications } = await resourceServer(t, as)

  for (const alg of ['RS256', 'ES256'] as const) {
    const token = await as.token({ alg, scope: 'read write' })
    t.match(decodeProtectedHeader(token), { alg, typ: 'at+jwt' }, `${alg}: the provider signed it so`)
    const res = await app.inject({ url: '/me', ...bearer(token) })
    t.equal(res.statusCode, 200, alg)
    t.same(res.json(), { scheme: 'idp', scopes: ['read', 'write'], claims: decodeJwt(token) }, `${alg}: the claims as issued`)
    t.match(res.json().claims, { iss: as.issuer, aud: JWT_RESOURCE, sub: as.clients.basic.id, client_id: as.clients.basic.id })
    t.equal((await app.inject({ url: '/write', ...bearer(token) })).body, 'written', `${alg}: scope write granted`)
  }
  t.equal(verifications(), 2, 'each token verified once, then cached')
  t.equal(as.hits('/jwks'), 1, 'one JWKS fetch for both algorithms')
  t.same(as.errors, [])
})

test('a token without the route\'s scope is 403 insufficient_scope', async (t) => {
  const as = await startIssuer(t)
  const { app } = await resourceServer(t, as)
  const res = await app.inject({ url: '/write', ...bearer(await as.token({ scope: 'read', client: 'post' })) })
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="write"')
  t.same(res.json(), errorBody(403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', 'The access token does not grant the required scope'))
})

test('a token the provider issued for another resource is refused: wrong audience', async (t) => {
  const as = await startIssuer(t)
  const { app, verifications } = await resourceServer(t, as)
  const token = await as.token({ resource: OTHER_RESOURCE })
  t.equal(decodeJwt(token).aud, OTHER_RESOURCE, 'a valid token, for another API')
  const res = await app.inject({ url: '/me', ...bearer(token) })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], invalid(jwtDescriptions.wrongAudience))
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', jwtDescriptions.wrongAudience))
  t.equal(verifications(), 1)
})

test('a token past its provider-set exp (beyond the 30 s tolerance) is refused, even once cached', async (t) => {
  const as = await startIssuer(t)
  const { app, clock } = await resourceServer(t, as)
  const token = await as.token({ ttl: 5 })
  const { iat, exp } = decodeJwt(token)
  t.equal(exp! - iat!, 5, 'the provider gave it 5 s')

  t.equal((await app.inject({ url: '/me', ...bearer(token) })).statusCode, 200, 'accepted while valid')
  clock.skew = (5 + 30 + 2) * 1000
  const res = await app.inject({ url: '/me', ...bearer(token) })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], invalid(jwtDescriptions.expired))
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', jwtDescriptions.expired))
})

test('an opaque token of the same provider is not a JWT: 401 malformed, no key fetched', async (t) => {
  const as = await startIssuer(t)
  const { app } = await resourceServer(t, as)
  const res = await app.inject({ url: '/me', ...bearer(await as.token({ resource: OPAQUE_RESOURCE })) })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], invalid(jwtDescriptions.malformed))
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', jwtDescriptions.malformed))
  t.equal(as.hits('/jwks'), 0)
})

test('PS256 and EdDSA tokens of the provider verify too', async (t) => {
  const as = await startIssuer(t, { alg: 'PS256', algs: ['EdDSA'] })
  const { app } = await resourceServer(t, as, ['PS256', 'EdDSA'])
  for (const alg of ['PS256', 'EdDSA'] as const) {
    const token = await as.token({ alg })
    t.equal(decodeProtectedHeader(token).alg, alg)
    t.equal((await app.inject({ url: '/me', ...bearer(token) })).statusCode, 200, alg)
  }
})

test('a token signed with an algorithm the scheme does not list is refused before any key is fetched', async (t) => {
  const as = await startIssuer(t)
  const { app } = await resourceServer(t, as, ['ES256'])
  const res = await app.inject({ url: '/me', ...bearer(await as.token({ alg: 'RS256' })) })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], invalid(jwtDescriptions.unsupportedAlgorithm))
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', jwtDescriptions.unsupportedAlgorithm))
  t.equal(as.hits('/jwks'), 0)
})
