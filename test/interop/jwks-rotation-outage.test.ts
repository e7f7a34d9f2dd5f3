// The provider's keys over time: a rotation (a new kid) is picked up by one refetch, and a
// provider that is down when the app boots makes requests 503 until it is back, never 2xx or 401.
import { decodeProtectedHeader } from 'jose'
import { test } from 'tap'
import protectedRoutes, { type JwtOptions } from '../../lib/index.js'
import { kJwtInternals } from '../../lib/verifiers/jwt.js'
import { jwtDescriptions } from '../../lib/verifiers/jwt-refusals.js'
import { errorBody, fresh } from '../helpers/app.js'
import { JWT_RESOURCE, startIssuer, type Issuer } from '../helpers/oidc-provider.js'

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

async function resourceServer (t: Parameters<typeof fresh>[0], as: Issuer, jwks: Partial<JwtOptions> = {}) {
  let verifications = 0
  const jwt = {
    jwksUrl: as.jwksUri,
    issuer: as.issuer,
    audience: JWT_RESOURCE,
    algorithms: ['RS256'],
    typ: 'at+jwt',
    ...jwks,
    [kJwtInternals]: { onVerify: () => { verifications++ } }
  } as unknown as JwtOptions
  const app = fresh(t)
  await app.register(protectedRoutes, { schemes: { idp: { type: 'bearer', jwt } } })
  app.get('/me', { config: { auth: true } }, async (request) => ({ sub: request.auth?.claims?.sub }))
  await app.ready()
  return { app, verifications: () => verifications }
}

test('a key rotation at the provider: the new kid is fetched once and its tokens accepted, the old ones still verify', async (t) => {
  const as = await startIssuer(t)
  // No cooldown: the refetch an unknown kid triggers is allowed right after the first fetch.
  const { app, verifications } = await resourceServer(t, as, { jwksCooldown: 0 })
  const before = await as.token()
  t.equal((await app.inject({ url: '/me', ...bearer(before) })).statusCode, 200, 'a token of the first key')
  t.equal(as.hits('/jwks'), 1)

  const kid = await as.rotate('RS256')
  const after = await as.token()
  t.equal(decodeProtectedHeader(after).kid, kid, 'signed with the new key')
  const res = await app.inject({ url: '/me', ...bearer(after) })
  t.equal(res.statusCode, 200, 'the new kid is accepted')
  t.same(res.json(), { sub: as.clients.basic.id })
  t.equal(as.hits('/jwks'), 2, 'one refetch for the unknown kid')

  t.equal(verifications(), 2)

  // A fresh app, which never saw `before`: the old key is still published, so it verifies.
  const fresher = await resourceServer(t, as)
  t.equal((await fresher.app.inject({ url: '/me', ...bearer(before) })).statusCode, 200, 'the old, still published key verifies')
  t.equal(fresher.verifications(), 1)
})

test('a kid the provider retired is refused with its signing key unknown, after one refetch', async (t) => {
  const as = await startIssuer(t)
  const before = await as.token()
  await as.rotate('RS256', { retire: true })
  const { app, verifications } = await resourceServer(t, as, { jwksCooldown: 0 })
  const res = await app.inject({ url: '/me', ...bearer(before) })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], `Bearer realm="api", error="invalid_token", error_description="${jwtDescriptions.unknownKey}"`)
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', jwtDescriptions.unknownKey))
  t.equal(verifications(), 1)
  t.equal(as.hits('/jwks'), 2, 'the first fetch, then one refetch for the unknown kid')
})

test('the provider down at boot: the app boots, requests get 503 with Retry-After, then 200 once it is back', async (t) => {
  const as = await startIssuer(t)
  const token = await as.token()
  await as.stop()

  const { app } = await resourceServer(t, as, { jwksCooldown: 0, jwksTimeout: 1000 })
  for (let i = 0; i < 2; i++) {
    const res = await app.inject({ url: '/me', ...bearer(token) })
    t.equal(res.statusCode, 503, 'fails closed')
    t.equal(res.headers['retry-after'], '5')
    t.equal(res.headers['www-authenticate'], undefined, 'no challenge: the token was not judged')
    t.same(res.json(), errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable'))
  }

  await as.start()
  const res = await app.inject({ url: '/me', ...bearer(token) })
  t.equal(res.statusCode, 200, 'back: the keys are fetched and the token verified')
  t.same(res.json(), { sub: as.clients.basic.id })
  t.equal(as.hits('/jwks'), 1)
})

test('the provider going down after the first fetch: its new tokens keep verifying with the keys fetched', async (t) => {
  const as = await startIssuer(t)
  const { app } = await resourceServer(t, as, { jwksCooldown: 0 })
  t.equal((await app.inject({ url: '/me', ...bearer(await as.token()) })).statusCode, 200)
  const later = await as.token()
  await as.stop()
  t.equal((await app.inject({ url: '/me', ...bearer(later) })).statusCode, 200, 'same kid: no fetch needed')
  t.equal(as.hits('/jwks'), 1)
})
