// DPoP (RFC 9449) with opaque access tokens, end to end: oidc-provider binds the token to the
// client's key and says so at its introspection endpoint (cnf.jkt, token_type DPoP); oauth4webapi
// presents it with its proof; the plugin introspects it and checks the binding.
import { calculateJwkThumbprint } from 'jose'
import { test, type Test } from 'tap'
import protectedRoutes, { type IntrospectionOptions } from '../../lib/index.js'
import { dpopDescriptions, jwtDescriptions } from '../../lib/errors.js'
import { errorBody, fresh, listen } from '../helpers/app.js'
import { assertAnswer, BEARER, dpopChallenge, dpopError } from '../helpers/dpop-app.js'
import { dpopKey, dpopProof, resourceRequest, wireRequest } from '../helpers/dpop-client.js'
import { OPAQUE_RESOURCE, startIssuer, type Issuer } from '../helpers/oidc-provider.js'

const INTROSPECTION = '/token/introspection'
const bearerError = (description: string): string => `${BEARER}, error="invalid_token", error_description="${description}"`
const SCOPE = 'The access token does not grant the required scope'

/** A fresh Fastify on 127.0.0.1 introspecting at `as` with its client_secret_basic client, with `dpop` on the scheme. */
async function resourceServer (t: Test, as: Issuer, dpop: Record<string, unknown> = {}) {
  const introspection: IntrospectionOptions = {
    url: as.introspectionEndpoint,
    clientId: as.clients.basic.id,
    clientSecret: as.clients.basic.secret,
    issuer: as.issuer,
    audience: OPAQUE_RESOURCE
  }
  const app = fresh(t)
  await app.register(protectedRoutes, { schemes: { idp: { type: 'bearer', introspection, dpop } } })
  let handled = 0
  const handler = async (request: { auth: unknown }) => {
    handled++
    return { auth: request.auth }
  }
  app.get('/me', { config: { auth: true } }, handler)
  app.get('/admin', { config: { auth: { scopes: ['admin'] } } }, handler)
  const port = await listen(app)
  return { url: (path = '/me') => `http://127.0.0.1:${port}${path}`, handled: () => handled }
}

test('a bound opaque token with its proof is accepted, request.auth.dpop the key\'s thumbprint; a cached one too', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey('ES256')
  const token = await as.dpopToken({ key, resource: OPAQUE_RESOURCE, scope: 'read write' })
  const jkt = await calculateJwkThumbprint(key.publicJwk)
  for (const attempt of ['introspected', 'cached']) {
    const res = await resourceRequest(token, 'GET', rs.url(), { key })
    t.equal(res.status, 200, attempt)
    t.same(res.lines('www-authenticate'), [], `${attempt}: no challenge`)
    const { auth } = res.json() as { auth: Record<string, unknown> }
    t.same(auth.dpop, { jkt }, `${attempt}: request.auth.dpop`)
    t.same(auth.scopes, ['read', 'write'])
    t.match(auth.claims, { active: true, token_type: 'DPoP', cnf: { jkt }, aud: OPAQUE_RESOURCE }, `${attempt}: the introspection answer`)
  }
  t.equal(as.hits(INTROSPECTION), 1, 'introspected once, then from the cache')
  t.same(as.errors, [])
})

test('the bound opaque token as Bearer is refused, whether or not its introspection is cached', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const token = await as.dpopToken({ key, resource: OPAQUE_RESOURCE })
  const cold = await resourceRequest(token, 'GET', rs.url())
  assertAnswer(t, cold, 'invalid_token', jwtDescriptions.bound, [bearerError(jwtDescriptions.bound), dpopChallenge()])
  t.equal(as.hits(INTROSPECTION), 1, 'introspected, then refused for its binding')
  t.equal((await resourceRequest(token, 'GET', rs.url(), { key })).status, 200, 'with its proof')
  const warm = await resourceRequest(token, 'GET', rs.url())
  assertAnswer(t, warm, 'invalid_token', jwtDescriptions.bound, [bearerError(jwtDescriptions.bound), dpopChallenge()])
  t.equal(rs.handled(), 1)
})

test('a proof with another key is refused, also once the token is cached', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const token = await as.dpopToken({ key, resource: OPAQUE_RESOURCE })
  const other = await dpopKey('PS256')
  const expected = [BEARER, dpopError('invalid_token', jwtDescriptions.wrongKey)]
  assertAnswer(t, await resourceRequest(token, 'GET', rs.url(), { key: other }), 'invalid_token', jwtDescriptions.wrongKey, expected)
  t.equal((await resourceRequest(token, 'GET', rs.url(), { key })).status, 200)
  assertAnswer(t, await resourceRequest(token, 'GET', rs.url(), { key: other }), 'invalid_token', jwtDescriptions.wrongKey, expected)
  t.equal(rs.handled(), 1)
})

test('a proof for another URL, another method, or replayed is invalid_dpop_proof', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const token = await as.dpopToken({ key, resource: OPAQUE_RESOURCE })
  for (const [method, proofUrl, description] of [
    ['GET', rs.url('/admin'), dpopDescriptions.wrongUri],
    ['DELETE', rs.url(), dpopDescriptions.wrongMethod]
  ] as const) {
    const res = await wireRequest('GET', rs.url(), { authorization: `DPoP ${token}`, dpop: await dpopProof(key, method, proofUrl, token) })
    assertAnswer(t, res, 'invalid_dpop_proof', description, [BEARER, dpopError('invalid_dpop_proof', description)])
  }
  const headers = { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', rs.url(), token) }
  t.equal((await wireRequest('GET', rs.url(), headers)).status, 200)
  const replayed = await wireRequest('GET', rs.url(), headers)
  assertAnswer(t, replayed, 'invalid_dpop_proof', dpopDescriptions.replayed, [BEARER, dpopError('invalid_dpop_proof', dpopDescriptions.replayed)])
  t.equal(rs.handled(), 1)
})

test('an unbound opaque token presented as DPoP is refused', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const res = await resourceRequest(await as.token({ resource: OPAQUE_RESOURCE }), 'GET', rs.url(), { key })
  assertAnswer(t, res, 'invalid_token', jwtDescriptions.notBound, [BEARER, dpopError('invalid_token', jwtDescriptions.notBound)])
  t.equal(rs.handled(), 0)
})

test('no credential, required, and a missing scope: the challenges of the contract', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const optional = await resourceServer(t, as)
  const none = await wireRequest('GET', optional.url())
  t.equal(none.status, 401)
  t.same(none.lines('www-authenticate'), ['Bearer realm="api"', 'DPoP algs="ES256 PS256 EdDSA RS256"'])
  t.same(none.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))

  const key = await dpopKey()
  const readOnly = await as.dpopToken({ key, resource: OPAQUE_RESOURCE, scope: 'read' })
  const forbidden = await resourceRequest(readOnly, 'GET', optional.url('/admin'), { key })
  assertAnswer(t, forbidden, 'insufficient_scope', SCOPE, [dpopError('insufficient_scope', SCOPE, { scope: 'admin' })])

  const required = await resourceServer(t, as, { required: true })
  const alone = await wireRequest('GET', required.url())
  t.equal(alone.status, 401)
  t.same(alone.lines('www-authenticate'), ['DPoP algs="ES256 PS256 EdDSA RS256"'])
  const hits = as.hits(INTROSPECTION)
  const bearer = await resourceRequest(await as.token({ resource: OPAQUE_RESOURCE }), 'GET', required.url())
  t.equal(bearer.status, 401, 'a Bearer presentation is refused')
  t.same(bearer.lines('www-authenticate'), ['DPoP algs="ES256 PS256 EdDSA RS256"'])
  t.equal(as.hits(INTROSPECTION), hits, 'and never introspected')
  t.equal((await resourceRequest(readOnly, 'GET', required.url(), { key })).status, 200, 'DPoP is')
  t.equal(optional.handled() + required.handled(), 1)
})
