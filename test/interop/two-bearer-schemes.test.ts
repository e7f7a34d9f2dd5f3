// Two identity providers (two oidc-provider instances, one with a path issuer) as two bearer
// schemes on one route: the Authorization credential is offered to them in order, and a scheme's
// pre-check (lib/verifiers/takes.ts: a compact JWS whose unverified iss it trusts) keeps every
// token away from the verifier of the other issuer.
import { test } from 'tap'
import protectedRoutes, { type JwtOptions } from '../../lib/index.js'
import { kJwtInternals } from '../../lib/verifiers/jwt.js'
import { jwtDescriptions } from '../../lib/verifiers/jwt-refusals.js'
import { errorBody, fresh } from '../helpers/app.js'
import { JWT_RESOURCE, OPAQUE_RESOURCE, OTHER_RESOURCE, startIssuer, type Issuer } from '../helpers/oidc-provider.js'

const BEARER = 'Bearer realm="api"'
const invalid = (description: string): string => `${BEARER}, error="invalid_token", error_description="${description}"`
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

function trusting (as: Issuer, algorithms: string[], count: { verifications: number }): JwtOptions {
  return {
    jwksUrl: as.jwksUri,
    issuer: as.issuer,
    audience: JWT_RESOURCE,
    algorithms,
    typ: 'at+jwt',
    [kJwtInternals]: { onVerify: () => { count.verifications++ } }
  } as JwtOptions
}

test('two providers, two bearer schemes on one route: each JWT is verified only by the scheme that trusts its issuer', async (t) => {
  const [a, b, stranger] = await Promise.all([
    startIssuer(t),
    startIssuer(t, { path: '/tenant-b', alg: 'ES256' }),
    startIssuer(t)
  ])
  const countA = { verifications: 0 }
  const countB = { verifications: 0 }
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: {
      workforce: { type: 'bearer', jwt: trusting(a, ['RS256'], countA) },
      partners: { type: 'bearer', jwt: trusting(b, ['ES256'], countB) }
    }
  })
  app.get('/me', { config: { auth: true } }, async (request) => ({ scheme: request.auth?.scheme, iss: request.auth?.claims?.iss }))

  await t.test('a token of the first provider', async (t) => {
    const res = await app.inject({ url: '/me', ...bearer(await a.token()) })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { scheme: 'workforce', iss: a.issuer })
    t.same([countA.verifications, countB.verifications], [1, 0], 'the other verifier never ran')
    t.same([a.hits('/jwks'), b.hits('/jwks')], [1, 0], 'nor fetched its keys')
  })

  await t.test('a token of the second provider (an issuer with a path)', async (t) => {
    const res = await app.inject({ url: '/me', ...bearer(await b.token({ client: 'post' })) })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { scheme: 'partners', iss: b.issuer })
    t.same([countA.verifications, countB.verifications], [1, 1], 'the first scheme skipped it without verifying')
    t.same([a.hits('/jwks'), b.hits('/jwks')], [1, 1])
  })

  await t.test('a token of a trusted issuer for another resource: that scheme\'s own refusal, the other never ran', async (t) => {
    const res = await app.inject({ url: '/me', ...bearer(await b.token({ resource: OTHER_RESOURCE })) })
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], invalid(jwtDescriptions.wrongAudience))
    t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', jwtDescriptions.wrongAudience))
    t.same([countA.verifications, countB.verifications], [1, 2])
  })

  await t.test('a token of a provider neither trusts, and an opaque token: refused with no verification and no fetch', async (t) => {
    for (const token of [await stranger.token(), await a.token({ resource: OPAQUE_RESOURCE })]) {
      const res = await app.inject({ url: '/me', ...bearer(token) })
      t.equal(res.statusCode, 401)
      t.equal(res.headers['www-authenticate'], invalid('The access token is invalid'))
      t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'))
    }
    t.same([countA.verifications, countB.verifications], [1, 2])
    t.same([a.hits('/jwks'), b.hits('/jwks'), stranger.hits('/jwks')], [1, 1, 0])
  })

  await t.test('no credential: one challenge for the two bearer schemes', async (t) => {
    const res = await app.inject('/me')
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], BEARER)
    t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))
  })

  t.same([...a.errors, ...b.errors, ...stranger.errors], [], 'no provider reported an error')
})

test('the first provider down: tokens of the second still pass, the first\'s get 503 with Retry-After', async (t) => {
  const [a, b] = await Promise.all([startIssuer(t), startIssuer(t, { path: '/tenant-b' })])
  const fromA = await a.token()
  await a.stop()
  const countA = { verifications: 0 }
  const countB = { verifications: 0 }
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: {
      workforce: { type: 'bearer', jwt: { ...trusting(a, ['RS256'], countA), jwksCooldown: 0, jwksTimeout: 1000 } as JwtOptions },
      partners: { type: 'bearer', jwt: trusting(b, ['RS256'], countB) }
    }
  })
  app.get('/me', { config: { auth: true } }, async (request) => ({ scheme: request.auth?.scheme }))

  const down = await app.inject({ url: '/me', ...bearer(fromA) })
  t.equal(down.statusCode, 503)
  t.equal(down.headers['retry-after'], '5')
  t.equal(down.headers['www-authenticate'], undefined)
  t.same(down.json(), errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable'))
  t.equal(countB.verifications, 0, 'the other scheme was not asked')

  const up = await app.inject({ url: '/me', ...bearer(await b.token()) })
  t.equal(up.statusCode, 200)
  t.same(up.json(), { scheme: 'partners' })

  await a.start()
  t.same((await app.inject({ url: '/me', ...bearer(fromA) })).json(), { scheme: 'workforce' }, 'back')
})
