import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { descriptions, dpopDescriptions, jwtDescriptions } from '../lib/errors.js'
import protectedRoutes, { MemoryTokenStore, VerifierUnavailableError, type DpopOptions, type IntrospectionOptions, type JwtOptions, type ProtectedRoutesOptions, type TokenStore } from '../lib/index.js'
import { kDpopInternals } from '../lib/dpop/proof.js'
import { NONCE_WINDOW_MS } from '../lib/dpop/nonce.js'
import { kJwtInternals } from '../lib/verifiers/jwt.js'
import { kIntrospectionInternals } from '../lib/verifiers/introspection.js'
import { errorBody, fresh } from './helpers/app.js'
import { AUDIENCE, claims, Clock, ISSUER, secret, sign } from './helpers/jwt.js'
import { answering, introspectionServer, NOW as INTROSPECTION_NOW } from './helpers/introspection.js'
import { BEARER, clientKey, DPOP, dpopApp, dpopRefusal, NOW, ORIGIN, proof } from './helpers/dpop.js'

// How DPoP sits among the schemes: what is offered and refused at the Authorization header, a
// proof beside other credentials, challenges on 401 and 403, nonces, stores and introspection.

const invalidRequest = (description: string): string => `${DPOP}, error="invalid_request", error_description="${description}"`

t.test('no credential: Bearer and DPoP are offered; with required only DPoP, and Bearer is no credential', async (t) => {
  const optional = await dpopApp(t)
  const none = await optional.app.inject({ url: '/me' })
  t.equal(none.statusCode, 401)
  t.same(none.headers['www-authenticate'], [BEARER, DPOP])
  const required = await dpopApp(t, { dpop: { required: true } })
  for (const headers of [{}, { authorization: `Bearer ${await required.bearerToken()}` }]) {
    const res = await required.app.inject({ url: '/me', headers })
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], DPOP)
    t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))
  }
  t.equal((await required.call(await required.token())).statusCode, 200)
})

t.test('malformed DPoP requests are 400 invalid_request on the DPoP challenge', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  const good = await proof(h.key, { token })
  const raw = async (rawHeaders: string[]): Promise<Awaited<ReturnType<FastifyInstance['inject']>>> => {
    const headers: Record<string, string | string[]> = {}
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!
      headers[name] = headers[name] === undefined ? rawHeaders[i + 1]! : [headers[name] as string, rawHeaders[i + 1]!].flat()
    }
    return await h.app.inject({ url: '/me', headers })
  }
  const cases: Array<[string, string[], string, string]> = [
    ['two DPoP headers', ['authorization', `DPoP ${token}`, 'dpop', good, 'dpop', good], descriptions.duplicateProof, invalidRequest(descriptions.duplicateProof)],
    ['a proof with a Bearer token', ['authorization', `Bearer ${token}`, 'dpop', good], descriptions.proofWithoutDpopToken, invalidRequest(descriptions.proofWithoutDpopToken)],
    ['a proof alone', ['dpop', good], descriptions.proofWithoutDpopToken, invalidRequest(descriptions.proofWithoutDpopToken)],
    ['a proof with another scheme', ['authorization', 'Basic YTpi', 'dpop', good], descriptions.proofWithoutDpopToken, invalidRequest(descriptions.proofWithoutDpopToken)],
    ['a proof with a scheme shorter than DPoP', ['authorization', 'DP', 'dpop', good], descriptions.proofWithoutDpopToken, invalidRequest(descriptions.proofWithoutDpopToken)],
    ['a DPoP token that is no token68', ['authorization', 'DPoP a b', 'dpop', good], descriptions.malformedAuthorization, `${BEARER}, error="invalid_request", error_description="${descriptions.malformedAuthorization}"`],
    ['DPoP with no token', ['authorization', 'DPoP', 'dpop', good], descriptions.malformedAuthorization, `${BEARER}, error="invalid_request", error_description="${descriptions.malformedAuthorization}"`],
    ['two Authorization headers', ['authorization', `DPoP ${token}`, 'authorization', `DPoP ${token}`, 'dpop', good], descriptions.duplicateAuthorization, `${BEARER}, error="invalid_request", error_description="${descriptions.duplicateAuthorization}"`]
  ]
  for (const [what, headers, description, challenge] of cases) {
    const res = await raw(headers)
    t.equal(res.statusCode, 400, what)
    t.equal(res.headers['www-authenticate'], challenge, what)
    t.same(res.json(), errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', description), what)
  }
  t.equal((await h.call(token)).statusCode, 200, 'the proof was never used')
})

/** An app with the DPoP JWT scheme `dpop` and an API key scheme `key`. */
async function withApiKey (t: Test, hs: Uint8Array): Promise<FastifyInstance> {
  const app = fresh(t)
  const clock = new Clock()
  const jwt = { secret: hs, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, [kJwtInternals]: { now: clock.now } } as unknown as JwtOptions
  await app.register(protectedRoutes, {
    schemes: {
      dpop: { type: 'bearer', jwt, dpop: { [kDpopInternals]: { now: clock.now } } as DpopOptions },
      key: { type: 'apiKey', in: 'header', name: 'x-api-key', tokens: { 'client-key': { client: 'app' } } }
    }
  })
  const handler = async (request: { auth: unknown }) => request.auth
  app.get('/me', { config: { auth: true } }, handler)
  app.get('/both', { config: { auth: { all: true } } }, handler)
  return app
}

t.test('a DPoP request with another credential: 400 on an any-of route, both verified with all', async (t) => {
  const key = await clientKey()
  const hs = secret()
  const app = await withApiKey(t, hs)
  const token = await sign(hs, 'HS256', claims({ cnf: { jkt: key.jkt } }))
  const res = await app.inject({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { token }), 'x-api-key': 'client-key' } })
  t.equal(res.statusCode, 400)
  t.equal(res.headers['www-authenticate'], invalidRequest(descriptions.dpopWithOtherCredential))
  t.same(res.json(), errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', descriptions.dpopWithOtherCredential))
  const both = await app.inject({ url: '/both', headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { token, htu: `${ORIGIN}/both` }), 'x-api-key': 'client-key' } })
  t.equal(both.statusCode, 200)
  t.same(both.json().dpop, { jkt: key.jkt })
  const missing = await app.inject({ url: '/both', headers: { 'x-api-key': 'client-key' } })
  t.equal(missing.statusCode, 401)
  t.same(missing.headers['www-authenticate'], [BEARER, DPOP], 'all: the missing scheme offers both of its challenges')
})

t.test('403 and step-up keep the DPoP challenge of a DPoP request', async (t) => {
  const h = await dpopApp(t)
  h.app.get('/mfa', { config: { auth: { acr: ['mfa'] } } }, async () => 'ok')
  const token = await h.token()
  const forbidden = await h.call(token, { url: '/admin' })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.headers['www-authenticate'], `${DPOP}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"`)
  const weak = await h.call(token, { url: '/mfa' })
  t.equal(weak.statusCode, 401)
  t.same(weak.headers['www-authenticate'], [BEARER, `${DPOP}, error="insufficient_user_authentication", error_description="The authentication behind the access token is not strong or recent enough", acr_values="mfa"`])
  const bearer = await h.app.inject({ url: '/admin', headers: { authorization: `Bearer ${await h.bearerToken()}` } })
  t.equal(bearer.headers['www-authenticate'], `${BEARER}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"`, 'a Bearer request keeps Bearer')
})

t.test('a bearer scheme and a DPoP scheme share the Authorization header: each gets its presentation', async (t) => {
  const key = await clientKey()
  const hs = secret()
  const clock = new Clock()
  const app = fresh(t)
  const jwt = { secret: hs, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, [kJwtInternals]: { now: clock.now } } as unknown as JwtOptions
  await app.register(protectedRoutes, {
    schemes: {
      staff: { type: 'bearer', tokens: { 'staff-token': { id: 'staff' } } },
      users: { type: 'bearer', jwt, dpop: { required: true, [kDpopInternals]: { now: clock.now } } as DpopOptions }
    }
  })
  app.get('/me', { config: { auth: true } }, async (request) => request.auth)
  const none = await app.inject({ url: '/me' })
  t.same(none.headers['www-authenticate'], [BEARER, DPOP])
  t.equal((await app.inject({ url: '/me', headers: { authorization: 'Bearer staff-token' } })).json().scheme, 'staff')
  const token = await sign(hs, 'HS256', claims({ cnf: { jkt: key.jkt } }))
  const dpop = await app.inject({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { token }) } })
  t.equal(dpop.json().scheme, 'users')
  const unknown = await app.inject({ url: '/me', headers: { authorization: 'Bearer nobody' } })
  t.same(unknown.headers['www-authenticate'], [`${BEARER}, error="invalid_token", error_description="The access token is invalid"`, DPOP], 'refused by the scheme that takes Bearer')
  const opaque = await app.inject({ url: '/me', headers: { authorization: 'DPoP opaque-token', dpop: await proof(key, { token: 'opaque-token' }) } })
  t.same(opaque.headers['www-authenticate'], [BEARER, `${DPOP}, error="invalid_token", error_description="The access token is invalid"`], 'a DPoP token no scheme takes: refused on DPoP')
  const badProof = await app.inject({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: 'x.y.z' } })
  t.same(badProof.headers['www-authenticate'], dpopRefusal('invalid_dpop_proof', dpopDescriptions.malformed), 'a bad proof ends the request')
})

t.test('nonces: a proof without the current one gets 401 use_dpop_nonce and a nonce; any instance with the secret accepts it', async (t) => {
  const nonce = { secret: 'a nonce secret of at least 32 characters' }
  const a = await dpopApp(t, { dpop: { nonce } })
  const b = await dpopApp(t, { dpop: { nonce } })
  const token = await a.token()
  const first = await a.call(token)
  t.equal(first.statusCode, 401)
  t.same(first.headers['www-authenticate'], dpopRefusal('use_dpop_nonce', 'The DPoP proof must carry the nonce in the DPoP-Nonce header'))
  t.same(first.json(), errorBody(401, 'FST_PROTECTED_ROUTES_USE_DPOP_NONCE', 'The DPoP proof must carry the nonce in the DPoP-Nonce header'))
  const issued = first.headers['dpop-nonce'] as string
  t.match(issued, /^[A-Za-z0-9_-]{43}$/)
  t.equal((await a.call(token, { claims: { nonce: 'made-up' } })).statusCode, 401, 'a made-up nonce')
  const ok = await a.call(token, { claims: { nonce: issued } })
  t.equal(ok.statusCode, 200)
  t.equal(ok.headers['dpop-nonce'], undefined, 'a current nonce needs no new one')
  // Another instance, same secret: same clock in both harnesses (NOW).
  b.clock.ms = a.clock.ms
  t.equal((await b.call(await b.token(), { claims: { nonce: issued } })).statusCode, 200, 'accepted by the other instance')
  // The next window: still accepted, with the new nonce in the answer; two windows on, refused.
  a.clock.ms += NONCE_WINDOW_MS
  const later = await a.call(token, { iat: a.clock.ms / 1000, claims: { nonce: issued } })
  t.equal(later.statusCode, 200)
  const next = later.headers['dpop-nonce'] as string
  t.not(next, issued)
  a.clock.ms += NONCE_WINDOW_MS
  const stale = await a.call(await a.token({ exp: a.clock.ms / 1000 + 600 }), { iat: a.clock.ms / 1000, claims: { nonce: issued } })
  t.equal(stale.statusCode, 401)
  t.not(stale.headers['dpop-nonce'], next, 'a fresh nonce again')
})

t.test('opaque tokens bound in the store: DPoP with the key, refused as Bearer before the user is mapped', async (t) => {
  const key = await clientKey()
  const store = new MemoryTokenStore()
  let mapped = 0
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: { opaque: { type: 'bearer', opaque: { store, user: (record) => { mapped++; return record.user } }, dpop: { [kDpopInternals]: { now: () => NOW * 1000 } } as DpopOptions } }
  })
  app.get('/me', { config: { auth: true } }, async (request) => request.auth)
  const { token } = await store.issue({ subject: 'alice', scopes: ['read'], expiresIn: 600, jkt: key.jkt })
  const ok = await app.inject({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { token }) } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { scheme: 'opaque', scopes: ['read'], dpop: { jkt: key.jkt } })
  t.equal(mapped, 1)
  const bearer = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(bearer.json().message, jwtDescriptions.bound)
  t.equal(mapped, 1, 'never mapped as Bearer')
  const { token: plain } = await store.issue({ subject: 'bob', expiresIn: 600 })
  const unbound = await app.inject({ url: '/me', headers: { authorization: `DPoP ${plain}`, dpop: await proof(key, { token: plain }) } })
  t.equal(unbound.json().message, jwtDescriptions.notBound)
  const mappedAway = await app.inject({ url: '/me', headers: { authorization: 'DPoP AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', dpop: await proof(key, { token: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }) } })
  t.same(mappedAway.headers['www-authenticate'], [BEARER, `${DPOP}, error="invalid_token", error_description="The access token is invalid"`], 'an unknown token under DPoP')
})

t.test('introspection: cnf.jkt binds the token; another confirmation, or a DPoP token_type without a key, is refused', async (t) => {
  const key = await clientKey()
  const active = { active: true, sub: 'alice', scope: 'read', exp: INTROSPECTION_NOW + 3600 }
  const server = await introspectionServer(t, answering({
    bound: { ...active, token_type: 'DPoP', cnf: { jkt: key.jkt } },
    certificate: { ...active, cnf: { 'x5t#S256': 'abc' } },
    keyless: { ...active, token_type: 'DPoP' },
    plain: { ...active, token_type: 'Bearer' }
  }))
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: { idp: { type: 'bearer', introspection: { url: server.url, clientId: 'orders-api', clientSecret: 'introspection-secret-0123456789', [kIntrospectionInternals]: { now: () => INTROSPECTION_NOW * 1000 } } as IntrospectionOptions, dpop: { [kDpopInternals]: { now: () => INTROSPECTION_NOW * 1000 } } as DpopOptions } }
  } as ProtectedRoutesOptions)
  app.get('/me', { config: { auth: true } }, async (request) => request.auth)
  const dpopCall = async (token: string) => await app.inject({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { token, iat: INTROSPECTION_NOW }) } })
  const ok = await dpopCall('bound')
  t.equal(ok.statusCode, 200)
  t.same(ok.json().dpop, { jkt: key.jkt })
  t.equal((await app.inject({ url: '/me', headers: { authorization: 'Bearer bound' } })).json().message, jwtDescriptions.bound)
  for (const token of ['certificate', 'keyless']) t.equal((await dpopCall(token)).json().message, jwtDescriptions.bound, token)
  t.equal((await dpopCall('plain')).json().message, jwtDescriptions.notBound)
  t.equal((await app.inject({ url: '/me', headers: { authorization: 'Bearer plain' } })).statusCode, 200, 'an unbound token stays a bearer token')
})

t.test('a jwt.user mapping that refuses, under DPoP, is invalid_token on the DPoP challenge', async (t) => {
  const key = await clientKey()
  const hs = secret()
  const app = fresh(t)
  const jwt = { secret: hs, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, user: () => null, [kJwtInternals]: { now: () => NOW * 1000 } } as unknown as JwtOptions
  await app.register(protectedRoutes, { schemes: { s: { type: 'bearer', jwt, dpop: { [kDpopInternals]: { now: () => NOW * 1000 } } as DpopOptions } } })
  app.get('/me', { config: { auth: true } }, async () => 'ok')
  const token = await sign(hs, 'HS256', claims({ cnf: { jkt: key.jkt } }))
  const res = await app.inject({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { token }) } })
  t.same(res.headers['www-authenticate'], dpopRefusal('invalid_token', 'The access token is invalid'))
})

t.test('replay store faults: unavailable is 503, a hang is 503 after verifyTimeout, anything else 500; never 2xx', async (t) => {
  const failing = (useOnce: TokenStore['useOnce']): TokenStore => ({ ...new MemoryTokenStore(), useOnce } as unknown as TokenStore)
  const cases: Array<[string, TokenStore['useOnce'], number]> = [
    ['unavailable', async () => { throw new VerifierUnavailableError() }, 503],
    ['hangs', async () => await new Promise<boolean>(() => {}), 503],
    ['throws', async () => { throw new Error('disk full') }, 500],
    ['throws a Proxy that cannot be looked at', async () => { throw new Proxy({}, { get () { throw new Error('trap') }, getPrototypeOf () { throw new Error('trap') } }) }, 500]
  ]
  for (const [what, useOnce, status] of cases) {
    const h = await dpopApp(t, { dpop: { replayStore: failing(useOnce) }, plugin: { verifyTimeout: 50 } })
    const res = await h.call(await h.token())
    t.equal(res.statusCode, status, what)
    t.equal(res.headers['www-authenticate'], undefined, `${what}: no challenge`)
  }
})
