import t from 'tap'
import type { FastifyInstance } from 'fastify'
import protectedRoutes, { InvalidTokenError, type JwtOptions, type ProtectedRoutesOptions } from '../lib/index.js'
import { kJwtInternals } from '../lib/verifiers/jwt.js'
import { jwtDescriptions } from '../lib/verifiers/jwt-refusals.js'
import { errorBody, fresh, spiedStore, spyVerify } from './helpers/app.js'
import { AUDIENCE, claims, encodePart, ISSUER, NOW, secret, sign } from './helpers/jwt.js'

// Several schemes that read one place (two bearer schemes: one Authorization header) share its
// credential: it is offered to them in the route's order, each skipped unless its verifier
// takes it, and accepted by the first that verifies it.

const BEARER = 'Bearer realm="api"'
const invalid = (description: string): string => `${BEARER}, error="invalid_token", error_description="${description}"`

interface Counted { jwt: JwtOptions, verifications: () => number }

/** JWT options on the tests' fixed clock, counting full verifications. */
function jwtOptions (key: Uint8Array, issuer = ISSUER): Counted {
  let count = 0
  const jwt = { secret: key, algorithms: ['HS256'], issuer, audience: AUDIENCE, [kJwtInternals]: { now: () => NOW * 1000, onVerify: () => { count++ } } } as JwtOptions
  return { jwt, verifications: () => count }
}

async function app (t: Parameters<typeof fresh>[0], options: ProtectedRoutesOptions): Promise<FastifyInstance> {
  const server = fresh(t)
  await server.register(protectedRoutes, options)
  server.get('/me', { config: { auth: true } }, async (request) => ({ user: request.user, scheme: request.auth?.scheme }))
  server.get('/scoped', { config: { auth: { scopes: ['admin'] } } }, async () => 'ok')
  return server
}

const bearer = (token: string): { headers: { authorization: string } } => ({ headers: { authorization: `Bearer ${token}` } })

t.test('static tokens and a JWT scheme on one route: each token is accepted by its own scheme', async (t) => {
  const key = secret()
  const { jwt, verifications } = jwtOptions(key)
  const internal = spyVerify({ 'internal-token': { id: 'ci' } })
  const server = await app(t, { schemes: { internal: { type: 'bearer', verify: internal }, idp: { type: 'bearer', jwt } } })
  const token = await sign(key, 'HS256', claims({ sub: 'alice' }))

  const first = await server.inject({ url: '/me', ...bearer('internal-token') })
  t.equal(first.statusCode, 200)
  t.same(first.json(), { user: { id: 'ci' }, scheme: 'internal' })
  t.equal(verifications(), 0, 'the JWT scheme was not asked')

  const second = await server.inject({ url: '/me', ...bearer(token) })
  t.equal(second.statusCode, 200)
  t.match(second.json(), { user: { sub: 'alice' }, scheme: 'idp' })
  t.same(internal.calls, ['internal-token', token], 'the first scheme was offered it and refused it')
  t.equal(verifications(), 1)
})

t.test('a 401 lists each distinct challenge once', async (t) => {
  const server = await app(t, {
    schemes: { a: { type: 'bearer', tokens: { 'token-a': { id: 'a' } } }, b: { type: 'bearer', tokens: { 'token-b': { id: 'b' } } } }
  })
  const missing = await server.inject('/me')
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers['www-authenticate'], BEARER)
  t.same(missing.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))

  const wrong = await server.inject({ url: '/me', ...bearer('token-c') })
  t.equal(wrong.statusCode, 401)
  t.equal(wrong.headers['www-authenticate'], invalid('The access token is invalid'))
  t.same(wrong.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'))

  t.equal((await server.inject({ url: '/me', ...bearer('token-b') })).json().scheme, 'b')
})

t.test('a JWT first and opaque tokens second: neither token pays for the other verifier', async (t) => {
  const key = secret()
  const { jwt, verifications } = jwtOptions(key)
  const { store, lookups } = spiedStore()
  const server = await app(t, { schemes: { idp: { type: 'bearer', jwt }, session: { type: 'bearer', opaque: { store } } } })
  const { token: opaque } = await store.issue({ subject: 'bob', scopes: [], expiresIn: 600 })

  const bySession = await server.inject({ url: '/me', ...bearer(opaque) })
  t.equal(bySession.statusCode, 200)
  t.equal(bySession.json().scheme, 'session')
  t.equal(verifications(), 0, 'an opaque token is never sent to the JWT verifier')

  const byJwt = await server.inject({ url: '/me', ...bearer(await sign(key, 'HS256')) })
  t.equal(byJwt.statusCode, 200)
  t.equal(byJwt.json().scheme, 'idp')
  t.same(lookups, [opaque], 'a JWT is never looked up in the store')

  // A refused JWT is answered with the JWT scheme's own refusal, and still not looked up.
  const expired = await server.inject({ url: '/me', ...bearer(await sign(key, 'HS256', claims({ exp: NOW - 3600 }))) })
  t.equal(expired.statusCode, 401)
  t.equal(expired.headers['www-authenticate'], invalid(jwtDescriptions.expired))
  t.same(expired.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', jwtDescriptions.expired))
  t.same(lookups, [opaque])

  const unknown = await server.inject({ url: '/me', ...bearer('not-issued-by-the-store') })
  t.equal(unknown.statusCode, 401)
  t.equal(unknown.headers['www-authenticate'], invalid('The access token is invalid'))
  t.equal(verifications(), 2)
})

t.test('a JWT from an issuer no scheme trusts is refused without any verification', async (t) => {
  const key = secret()
  const { jwt, verifications } = jwtOptions(key)
  const { store, lookups } = spiedStore()
  const server = await app(t, { schemes: { idp: { type: 'bearer', jwt }, session: { type: 'bearer', opaque: { store } } } })
  for (const token of [
    await sign(key, 'HS256', claims({ iss: 'https://elsewhere.example/' })),
    await sign(key, 'HS256', claims({ iss: undefined })),
    // Three segments whose payload is not JSON at all, or JSON but not an object.
    'eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln',
    `eyJhbGciOiJIUzI1NiJ9.${encodePart(null)}.c2ln`,
    `eyJhbGciOiJIUzI1NiJ9.${encodePart(42)}.c2ln`
  ]) {
    const res = await server.inject({ url: '/me', ...bearer(token) })
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], invalid('The access token is invalid'))
  }
  t.equal(verifications(), 0)
  t.same(lookups, [])
})

t.test('two identity providers: each JWT goes to the scheme that trusts its issuer', async (t) => {
  const [keyA, keyB] = [secret(), secret()]
  const a = jwtOptions(keyA, 'https://a.example/')
  const b = jwtOptions(keyB, 'https://b.example/')
  const server = await app(t, { schemes: { a: { type: 'bearer', jwt: a.jwt }, b: { type: 'bearer', jwt: b.jwt } } })
  const fromB = await server.inject({ url: '/me', ...bearer(await sign(keyB, 'HS256', claims({ iss: 'https://b.example/' }))) })
  t.equal(fromB.statusCode, 200)
  t.equal(fromB.json().scheme, 'b')
  t.equal(a.verifications(), 0, 'the other issuer\'s scheme verified nothing')
  t.equal(b.verifications(), 1)
  // Signed by A's key but naming B: B verifies it and refuses the signature.
  const forged = await server.inject({ url: '/me', ...bearer(await sign(keyA, 'HS256', claims({ iss: 'https://b.example/' }))) })
  t.equal(forged.headers['www-authenticate'], invalid(jwtDescriptions.badSignature))
  t.equal(a.verifications(), 0)
})

t.test('a fault in one scheme ends the request: the next is not asked', async (t) => {
  const next = spyVerify({ token: { id: 'x' } })
  const server = await app(t, {
    schemes: {
      broken: { type: 'bearer', verify: () => { throw new Error('database down') } },
      next: { type: 'bearer', verify: next }
    }
  })
  const res = await server.inject({ url: '/me', ...bearer('token') })
  t.equal(res.statusCode, 500)
  t.same(res.json(), errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed'))
  t.equal(res.headers['www-authenticate'], undefined)
  t.same(next.calls, [])
})

t.test('asynchronous verifiers are offered the credential in turn', async (t) => {
  const seen: string[] = []
  const server = await app(t, {
    schemes: {
      first: { type: 'bearer', verify: async (token) => { seen.push(`first:${token}`); return null } },
      second: { type: 'bearer', verify: async (token) => { seen.push(`second:${token}`); return token === 'good' ? { id: 'g', scopes: [] } : null } }
    }
  })
  const res = await server.inject({ url: '/me', ...bearer('good') })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: { id: 'g', scopes: [] }, scheme: 'second' })
  const scoped = await server.inject({ url: '/scoped', ...bearer('good') })
  t.equal(scoped.statusCode, 403)
  t.equal(scoped.headers['www-authenticate'], `${BEARER}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"`)
  t.same(seen, ['first:good', 'second:good', 'first:good', 'second:good'])
})

t.test('two API key schemes in one header share it too', async (t) => {
  const server = await app(t, {
    schemes: {
      partner: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { 'partner-key': { id: 'p' } } },
      service: { type: 'apiKey', in: 'header', name: 'x-token', tokens: { 'service-key': { id: 's' } } }
    }
  })
  const res = await server.inject({ url: '/me', headers: { 'x-token': 'service-key' } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().scheme, 'service')
  const missing = await server.inject('/me')
  t.same(missing.headers['www-authenticate'], ['ApiKey realm="api", in="header", name="X-Token"', 'ApiKey realm="api", in="header", name="x-token"'])
})

t.test('credentials in different places must still each verify', async (t) => {
  const server = await app(t, {
    schemes: {
      a: { type: 'bearer', tokens: { 'token-a': { id: 'a' } } },
      b: { type: 'bearer', tokens: { 'token-b': { id: 'b' } } },
      key: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { 'key-good': { id: 'k' } } }
    }
  })
  const good = await server.inject({ url: '/me', headers: { authorization: 'Bearer token-b', 'x-token': 'key-good' } })
  t.equal(good.statusCode, 200)
  t.same(good.json(), { user: { id: 'b' }, scheme: 'b' })
  const bad = await server.inject({ url: '/me', headers: { authorization: 'Bearer token-b', 'x-token': 'key-bad' } })
  t.equal(bad.statusCode, 401)
  t.same(bad.headers['www-authenticate'], [BEARER, 'ApiKey realm="api", in="header", name="X-Token", error="invalid_token", error_description="The API key is invalid"'])
})

t.test('a verifier that throws a refusal of its own words is refused with the fixed description, and the next is asked', async (t) => {
  const server = await app(t, {
    schemes: {
      first: { type: 'bearer', verify: () => { throw new InvalidTokenError('words of the app, maybe a token') } },
      second: { type: 'bearer', verify: () => null }
    }
  })
  const res = await server.inject({ url: '/me', ...bearer('token') })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], invalid('The access token is invalid'))
  t.notMatch(res.body, 'words')
  const onlyFirst = await app(t, {
    schemes: {
      first: { type: 'bearer', verify: () => null },
      second: { type: 'bearer', verify: () => { throw new InvalidTokenError('words of the app, maybe a token') } }
    }
  })
  t.equal((await onlyFirst.inject({ url: '/me', ...bearer('token') })).headers['www-authenticate'], invalid('The access token is invalid'))
})
