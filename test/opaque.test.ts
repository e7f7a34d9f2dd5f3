import t, { type Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import Fastify, { type FastifyRequest } from 'fastify'
import protectedRoutes, {
  jtiRevocation,
  MemoryTokenStore,
  signAccessToken,
  VerifierUnavailableError,
  type OpaqueOptions,
  type ProtectedRoutesOptions,
  type TokenRecord,
  type TokenStore
} from '../lib/index.js'
import { build, errorBody, spiedStore } from './helpers/app.js'

const invalidChallenge = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'
const invalidBody = errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid')

async function setup (t: Test, opaque: OpaqueOptions) {
  const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', opaque } } })
  app.get('/me', { config: { auth: true } }, async (request) => ({ user: request.user, auth: request.auth }))
  app.get('/items', { config: { auth: { scopes: ['items:read', 'items:write'] } } }, async () => 'items')
  return app
}

t.test('an opaque token the store issued opens the route with the stored user and scopes', async (t) => {
  const { store, lookups } = spiedStore()
  const app = await setup(t, { store })
  const { token } = await store.issue({ subject: 'alice', scopes: ['items:read', 'items:write'], expiresIn: 60, user: { username: 'alice' } })
  const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { user: { username: 'alice' }, auth: { scheme: 'bearerAuth', scopes: ['items:read', 'items:write'] } })
  t.equal(me.headers['www-authenticate'], undefined)
  const items = await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })
  t.equal(items.statusCode, 200)
  t.equal(items.body, 'items')
  t.same(lookups, [token, token], 'one lookup per request, with the token alone')
})

t.test('a token without the route\'s scopes is a 403 insufficient_scope', async (t) => {
  const { store } = spiedStore()
  const app = await setup(t, { store })
  const { token } = await store.issue({ subject: 'bob', scopes: ['items:read'], expiresIn: 60 })
  const res = await app.inject({ url: '/items', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="items:read items:write"')
  t.same(res.json(), errorBody(403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', 'The access token does not grant the required scope'))
})

t.test('unknown, revoked and expired tokens are a 401 invalid_token', async (t) => {
  let now = Date.now()
  const { kTokenStoreInternals } = await import('../lib/stores/token-store.js')
  const store = new MemoryTokenStore({ [kTokenStoreInternals]: { now: () => now } } as object)
  const app = await setup(t, { store })
  const revoked = await store.issue({ subject: 'alice', expiresIn: 60 })
  await store.revoke(revoked.token)
  const expiring = await store.issue({ subject: 'alice', expiresIn: 60 })
  const other = await store.issue({ subject: 'alice', expiresIn: 60 })
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${expiring.token}` } })).statusCode, 200)
  now += 60_000
  for (const token of [revoked.token, expiring.token, 'A'.repeat(43), 'not-one-of-ours', other.token]) {
    const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401, token)
    t.equal(res.headers['www-authenticate'], invalidChallenge)
    t.same(res.json(), invalidBody)
  }
})

t.test('`user` maps the record to request.user on every request; a falsy result refuses the token', async (t) => {
  const { store } = spiedStore()
  const seen: Array<[TokenRecord, string]> = []
  let enabled = true
  const app = await setup(t, {
    store,
    async user (record, request: FastifyRequest) {
      seen.push([record, request.url])
      return enabled ? { username: record.subject, fromDatabase: true } : null
    }
  })
  const { token, expiresAt } = await store.issue({ subject: 'alice', scopes: ['me:read'], expiresIn: 60 })
  const ok = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.same(ok.json(), { user: { username: 'alice', fromDatabase: true }, auth: { scheme: 'bearerAuth', scopes: ['me:read'] } })
  enabled = false
  const refused = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['www-authenticate'], invalidChallenge)
  t.same(seen, [
    [{ subject: 'alice', user: { sub: 'alice' }, scopes: ['me:read'], expiresAt }, '/me'],
    [{ subject: 'alice', user: { sub: 'alice' }, scopes: ['me:read'], expiresAt }, '/me']
  ])
})

t.test('a `user` that returns something other than a user object is a 500, never a pass', async (t) => {
  const { store } = spiedStore()
  const app = await setup(t, { store, user: () => 'alice' as never })
  const { token } = await store.issue({ subject: 'alice', expiresIn: 60 })
  const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 500)
  t.same(res.json(), errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed'))
  t.equal(res.headers['www-authenticate'], undefined)
})

t.test('a store that cannot answer is a 503 with Retry-After; a store that breaks is a 500', async (t) => {
  const failing = (err: Error): TokenStore => ({ ...new MemoryTokenStore(), lookup: async () => { throw err } }) as unknown as TokenStore
  const down = await setup(t, { store: failing(new VerifierUnavailableError()) })
  const unavailable = await down.inject({ url: '/me', headers: { authorization: 'Bearer sometoken' } })
  t.equal(unavailable.statusCode, 503)
  t.equal(unavailable.headers['retry-after'], '5')
  t.equal(unavailable.headers['www-authenticate'], undefined)
  t.same(unavailable.json(), errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable'))

  const broken = await setup(t, { store: failing(new Error('database exploded')) })
  const failed = await broken.inject({ url: '/me', headers: { authorization: 'Bearer sometoken' } })
  t.equal(failed.statusCode, 500)
  t.equal(failed.headers['retry-after'], undefined)
  t.same(failed.json(), errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed'))
})

t.test('bad opaque options stop the boot', async (t) => {
  const store = new MemoryTokenStore()
  const cases: Array<[string, unknown, string]> = [
    ['opaque on an API key scheme', { type: 'apiKey', in: 'header', name: 'X-Key', opaque: { store } }, 'schemes.s.opaque is for bearer schemes'],
    ['opaque and jwt', { type: 'bearer', opaque: { store }, jwt: {} }, 'schemes.s needs exactly one of verify, tokens, jwt, opaque or introspection'],
    ['opaque and tokens', { type: 'bearer', opaque: { store }, tokens: { abc: {} } }, 'schemes.s needs exactly one of verify, tokens, jwt, opaque or introspection'],
    ['not an object', { type: 'bearer', opaque: store }, 'schemes.s.opaque.store must be a token store (MemoryTokenStore, RedisTokenStore or one with a lookup method)'],
    ['an array', { type: 'bearer', opaque: [] }, 'schemes.s.opaque must be an object'],
    ['null', { type: 'bearer', opaque: null }, 'schemes.s.opaque must be an object'],
    ['no store', { type: 'bearer', opaque: {} }, 'schemes.s.opaque.store must be a token store (MemoryTokenStore, RedisTokenStore or one with a lookup method)'],
    ['a user that is not a function', { type: 'bearer', opaque: { store, user: {} } }, 'schemes.s.opaque.user must be a function'],
    ['an unknown option', { type: 'bearer', opaque: { store, cache: true } }, "unknown option 'schemes.s.opaque.cache'"]
  ]
  for (const [what, scheme, message] of cases) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(protectedRoutes, { schemes: { s: scheme } } as unknown as ProtectedRoutesOptions) },
      { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message: `Invalid fastify-protected-routes option: ${message}` }, what)
  }
})

t.test('jtiRevocation: a JWT is refused once its jti is revoked, or once revokeAll ran for its subject', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const store = new MemoryTokenStore()
  const checked: string[] = []
  const isJwtRevoked = store.isJwtRevoked.bind(store)
  store.isJwtRevoked = async (claims) => {
    checked.push(claims.jti as string)
    return await isJwtRevoked(claims)
  }
  const app = await build(t, {
    schemes: { bearerAuth: { type: 'bearer', jwt: { publicKey, algorithms: ['ES256'], issuer: 'iss', audience: 'aud', requiredClaims: ['jti'], isRevoked: jtiRevocation(store) } } }
  })
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  const sign = (subject: string) => signAccessToken({ key: privateKey, algorithm: 'ES256', issuer: 'iss', audience: 'aud', subject })
  const revokedChallenge = 'Bearer realm="api", error="invalid_token", error_description="The access token has been revoked"'
  const [alice1, alice2, bob] = await Promise.all([sign('alice'), sign('alice'), sign('bob')])
  const get = (token: string) => app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })

  t.equal((await get(alice1)).statusCode, 200)
  const { jti, exp } = JSON.parse(Buffer.from(alice1.split('.')[1]!, 'base64url').toString()) as { jti: string, exp: number }
  await store.revokeJti(jti, exp)
  const refused = await get(alice1)
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['www-authenticate'], revokedChallenge)
  t.same(refused.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token has been revoked'))
  t.equal((await get(alice2)).statusCode, 200, 'another token of the same user still works')

  await store.revokeAll('alice')
  t.equal((await get(alice2)).headers['www-authenticate'], revokedChallenge, 'revokeAll reaches every earlier JWT of the user')
  t.equal((await get(bob)).statusCode, 200)
  t.equal(checked.length, 5, 'checked on every request')

  t.throws(() => jtiRevocation({} as TokenStore), new TypeError('jtiRevocation needs a token store'))
})
