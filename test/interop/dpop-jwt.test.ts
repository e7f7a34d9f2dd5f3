// DPoP (RFC 9449) with JWT access tokens, end to end: oidc-provider binds the token to the
// client's key (cnf.jkt), oauth4webapi presents it with its proof over a real socket, and the
// plugin checks both against its JWT verifier.
import { calculateJwkThumbprint, decodeJwt } from 'jose'
import { test, type Test } from 'tap'
import protectedRoutes, { type JwtOptions } from '../../lib/index.js'
import { dpopDescriptions, jwtDescriptions } from '../../lib/errors.js'
import { kJwtInternals } from '../../lib/verifiers/jwt.js'
import { errorBody, fresh, listen } from '../helpers/app.js'
import { assertAnswer, BEARER, dpopChallenge, dpopError } from '../helpers/dpop-app.js'
import { dpopKey, dpopProof, resourceRequest, wireRequest, type DpopAlg } from '../helpers/dpop-client.js'
import { JWT_RESOURCE, startIssuer, type Issuer } from '../helpers/oidc-provider.js'

const bearerError = (description: string): string => `${BEARER}, error="invalid_token", error_description="${description}"`
const SCOPE = 'The access token does not grant the required scope'

/** A fresh Fastify listening on 127.0.0.1, trusting `as` through its jwks_uri, with `dpop` on its bearer scheme. */
async function resourceServer (t: Test, as: Issuer, dpop: Record<string, unknown> = {}) {
  let verifications = 0
  const jwt = {
    jwksUrl: as.jwksUri,
    issuer: as.issuer,
    audience: JWT_RESOURCE,
    algorithms: ['RS256'],
    typ: 'at+jwt',
    [kJwtInternals]: { onVerify: () => { verifications++ } }
  } as JwtOptions
  const app = fresh(t)
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', jwt, dpop } } })
  let handled = 0
  const handler = async (request: { auth: unknown }) => {
    handled++
    return { auth: request.auth }
  }
  app.get('/me', { config: { auth: true } }, handler)
  app.post('/me', { config: { auth: true } }, handler)
  app.get('/admin', { config: { auth: { scopes: ['admin'] } } }, handler)
  const port = await listen(app)
  return { url: (path = '/me') => `http://127.0.0.1:${port}${path}`, verifications: () => verifications, handled: () => handled }
}

test('a bound JWT with its oauth4webapi proof is accepted, and request.auth.dpop is the key\'s thumbprint', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  for (const alg of ['ES256', 'PS256', 'RS256', 'EdDSA'] satisfies DpopAlg[]) {
    const key = await dpopKey(alg)
    const token = await as.dpopToken({ key, scope: 'read write' })
    const res = await resourceRequest(token, 'GET', rs.url(), { key })
    t.equal(res.status, 200, alg)
    t.same(res.lines('www-authenticate'), [], `${alg}: no challenge`)
    t.equal(res.challenge, undefined, `${alg}: oauth4webapi saw none either`)
    t.same(res.json(), {
      auth: { scheme: 'bearerAuth', scopes: ['read', 'write'], claims: decodeJwt(token), dpop: { jkt: await calculateJwkThumbprint(key.publicJwk) } }
    }, `${alg}: request.auth with the thumbprint jose computes of the key`)
  }
  t.equal(rs.verifications(), 4, 'each token verified')
  t.same(as.errors, [])
})

test('the bound token presented as Bearer is refused: invalid_token, the handler never runs', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  const res = await resourceRequest(token, 'GET', rs.url())
  assertAnswer(t, res, 'invalid_token', jwtDescriptions.bound, [bearerError(jwtDescriptions.bound), dpopChallenge()])
  t.equal(rs.verifications(), 1, 'the token was verified, then refused for its binding')
  t.equal(rs.handled(), 0)
})

test('a proof signed with another key than the token is bound to is refused', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  const res = await resourceRequest(token, 'GET', rs.url(), { key: await dpopKey() })
  assertAnswer(t, res, 'invalid_token', jwtDescriptions.wrongKey, [BEARER, dpopError('invalid_token', jwtDescriptions.wrongKey)])
  t.equal(rs.handled(), 0)
})

test('a proof for another URL or another method is invalid_dpop_proof, before the token is verified', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  const cases = [
    ['another path', 'GET', rs.url('/admin'), dpopDescriptions.wrongUri],
    ['another origin', 'GET', rs.url().replace('127.0.0.1', 'localhost'), dpopDescriptions.wrongUri],
    ['another method', 'POST', rs.url(), dpopDescriptions.wrongMethod]
  ] as const
  for (const [what, method, proofUrl, description] of cases) {
    const proof = await dpopProof(key, method, proofUrl, token)
    const res = await wireRequest('GET', rs.url(), { authorization: `DPoP ${token}`, dpop: proof })
    assertAnswer(t, res, 'invalid_dpop_proof', description, [BEARER, dpopError('invalid_dpop_proof', description)])
    t.comment(what)
  }
  t.equal(rs.verifications(), 0, 'the token never reached the verifier')
  t.equal(rs.handled(), 0)
})

test('the same proof sent twice: the second is refused as replayed', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  const headers = { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', rs.url(), token) }
  t.equal((await wireRequest('GET', rs.url(), headers)).status, 200, 'first use')
  const res = await wireRequest('GET', rs.url(), headers)
  assertAnswer(t, res, 'invalid_dpop_proof', dpopDescriptions.replayed, [BEARER, dpopError('invalid_dpop_proof', dpopDescriptions.replayed)])
  t.equal(rs.handled(), 1)
  t.equal((await resourceRequest(token, 'GET', rs.url(), { key })).status, 200, 'a fresh proof is accepted again')
})

test('no credential: both challenge lines, Bearer then DPoP', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const res = await wireRequest('GET', rs.url())
  t.equal(res.status, 401)
  t.same(res.lines('www-authenticate'), ['Bearer realm="api"', 'DPoP algs="ES256 PS256 EdDSA RS256"'])
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))
  t.equal(rs.verifications(), 0)
})

test('required: only the DPoP challenge, and a Bearer presentation is refused', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as, { required: true })
  const none = await wireRequest('GET', rs.url())
  t.equal(none.status, 401)
  t.same(none.lines('www-authenticate'), ['DPoP algs="ES256 PS256 EdDSA RS256"'], 'the DPoP line alone')
  t.same(none.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))

  const bearer = await resourceRequest(await as.token(), 'GET', rs.url())
  t.equal(bearer.status, 401, 'an unbound token as Bearer')
  t.same(bearer.lines('www-authenticate'), ['DPoP algs="ES256 PS256 EdDSA RS256"'])
  t.same(bearer.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))

  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  t.equal((await resourceRequest(token, 'GET', rs.url())).status, 401, 'the bound token as Bearer')
  t.equal(rs.verifications(), 0, 'no Bearer credential reached the verifier')
  t.equal((await resourceRequest(token, 'GET', rs.url(), { key })).status, 200, 'the bound token with its proof')
  t.equal(rs.handled(), 1)
})

test('a token without the route\'s scope: 403 insufficient_scope in the DPoP challenge alone; a Bearer request keeps Bearer', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const res = await resourceRequest(await as.dpopToken({ key, scope: 'read' }), 'GET', rs.url('/admin'), { key })
  assertAnswer(t, res, 'insufficient_scope', SCOPE, [dpopError('insufficient_scope', SCOPE, { scope: 'admin' })])
  const bearer = await resourceRequest(await as.token({ scope: 'read' }), 'GET', rs.url('/admin'))
  assertAnswer(t, bearer, 'insufficient_scope', SCOPE, [`${BEARER}, error="insufficient_scope", error_description="${SCOPE}", scope="admin"`])
  t.equal(rs.handled(), 0)
})

test('an unbound token presented as DPoP with a valid proof is refused', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as)
  const key = await dpopKey()
  const res = await resourceRequest(await as.token(), 'GET', rs.url(), { key })
  assertAnswer(t, res, 'invalid_token', jwtDescriptions.notBound, [BEARER, dpopError('invalid_token', jwtDescriptions.notBound)])
  t.equal(rs.handled(), 0)
})

test('an Ed25519 key as oauth4webapi labels it by default (alg "Ed25519") is refused by the default algorithms, accepted when listed', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const key = await dpopKey('Ed25519')
  const token = await as.dpopToken({ key })
  const byDefault = await resourceServer(t, as)
  const refused = await resourceRequest(token, 'GET', byDefault.url(), { key })
  assertAnswer(t, refused, 'invalid_dpop_proof', dpopDescriptions.unsupportedAlgorithm, [BEARER, dpopError('invalid_dpop_proof', dpopDescriptions.unsupportedAlgorithm)])
  t.equal(byDefault.verifications(), 0, 'refused before the token was verified')

  const algs = ['ES256', 'Ed25519', 'EdDSA']
  const listed = await resourceServer(t, as, { algorithms: algs })
  const res = await resourceRequest(token, 'GET', listed.url(), { key })
  t.equal(res.status, 200)
  t.same((res.json() as { auth: { dpop: unknown } }).auth.dpop, { jkt: await calculateJwkThumbprint(key.publicJwk) })
  t.same((await wireRequest('GET', listed.url())).lines('www-authenticate'), [BEARER, dpopChallenge(algs)], 'the challenge lists the configured algorithms')
})
