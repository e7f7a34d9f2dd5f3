import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import protectedRoutes, { type JwtOptions, type ProtectedRoutesOptions } from '../lib/index.js'
import { kJwtInternals, type JwtInternals } from '../lib/verifiers/jwt.js'
import { jwtDescriptions } from '../lib/verifiers/jwt-refusals.js'
import { errorBody, fresh } from './helpers/app.js'
import { assertRefused, AUDIENCE, claims, Clock, ISSUER, secret, sign } from './helpers/jwt.js'

const key = secret()

interface Harness {
  /** GET `url` with the token: /me (auth: true) answers { user, auth }; /admin needs scope 'admin'; /write needs 'Task.Write'. */
  get: (token: string, url?: string) => Promise<LightMyRequestResponse>
  /** How many tokens reached jose. */
  verifications: () => number
}

async function app (t: Test, jwt: Partial<JwtOptions>, plugin: Partial<ProtectedRoutesOptions> = {}): Promise<Harness> {
  let verifications = 0
  const clock = new Clock()
  const internals: JwtInternals = { now: clock.now, onVerify: () => { verifications++ } }
  const server = fresh(t)
  await server.register(protectedRoutes, {
    ...plugin,
    schemes: { bearerAuth: { type: 'bearer', jwt: { secret: key, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, ...jwt, [kJwtInternals]: internals } as unknown as JwtOptions } }
  })
  const handler = async (request: { user: unknown, auth: unknown }) => ({ user: request.user, auth: request.auth })
  server.get('/me', { config: { auth: true } }, handler)
  server.get('/admin', { config: { auth: { scopes: ['admin'] } } }, handler)
  server.get('/write', { config: { auth: { scopes: ['Task.Write'] } } }, handler)
  return {
    get: (token, url = '/me') => server.inject({ url, headers: { authorization: `Bearer ${token}` } }),
    verifications: () => verifications
  }
}

async function scopesOf (harness: Harness, token: string): Promise<unknown> {
  const res = await harness.get(token)
  return res.statusCode === 200 ? res.json().auth.scopes : res.statusCode
}

const insufficientScope = 'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"'

t.test('Entra ID app roles: scopeClaim \'roles\'', async (t) => {
  const harness = await app(t, { scopeClaim: 'roles' })
  const token = await sign(key, 'HS256', claims({ roles: ['Task.Write', 'Task.Read'] }))
  t.same(await scopesOf(harness, token), ['Task.Write', 'Task.Read'], 'the roles are the scopes; the scope claim is not read')
  t.equal((await harness.get(token, '/write')).statusCode, 200)
  const admin = await harness.get(token, '/admin')
  t.equal(admin.statusCode, 403)
  t.equal(admin.headers['www-authenticate'], insufficientScope)
  t.same(admin.json(), errorBody(403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', 'The access token does not grant the required scope'))
})

t.test('Keycloak realm roles: a dotted path into nested claims', async (t) => {
  const harness = await app(t, { scopeClaim: 'realm_access.roles' })
  const token = await sign(key, 'HS256', claims({ realm_access: { roles: ['admin', 'offline_access'] } }))
  t.same(await scopesOf(harness, token), ['admin', 'offline_access'])
  t.equal((await harness.get(token, '/admin')).statusCode, 200)
})

t.test('Keycloak client roles: resource_access.<client>.roles', async (t) => {
  const harness = await app(t, { scopeClaim: 'resource_access.my-api.roles' })
  const token = await sign(key, 'HS256', claims({ resource_access: { 'my-api': { roles: ['admin'] }, other: { roles: ['root'] } } }))
  t.same(await scopesOf(harness, token), ['admin'], 'only the named client\'s roles')
})

t.test('Auth0 permissions: by name, and by default when the token has no scope', async (t) => {
  const named = await app(t, { scopeClaim: 'permissions' })
  const token = await sign(key, 'HS256', claims({ scope: 'openid profile', permissions: ['admin', 'read:items'] }))
  t.same(await scopesOf(named, token), ['admin', 'read:items'])
  const byDefault = await app(t, {})
  t.same(await scopesOf(byDefault, await sign(key, 'HS256', claims({ scope: undefined, permissions: ['admin'] }))), ['admin'])
  t.same(await scopesOf(byDefault, await sign(key, 'HS256', claims({ scope: undefined, scp: ['a'], permissions: ['admin'] }))), ['a'], 'scp before permissions')
  t.same(await scopesOf(byDefault, token), ['openid', 'profile'], 'scope before both')
})

t.test('a function of the claims: an array or a space-delimited string, read once per token', async (t) => {
  let calls = 0
  const seen: unknown[] = []
  const harness = await app(t, {
    scopeClaim: (claims) => {
      calls++
      seen.push(Object.isFrozen(claims))
      return (claims['https://api.example/roles'] as string[] | undefined) ?? 'fallback one'
    }
  })
  const token = await sign(key, 'HS256', claims({ 'https://api.example/roles': ['admin'] }))
  t.same(await scopesOf(harness, token), ['admin'], 'a namespaced claim, which a dotted path cannot name')
  t.same(await scopesOf(harness, token), ['admin'])
  t.equal(calls, 1, 'a cache hit reuses the scopes')
  t.equal(harness.verifications(), 1)
  t.same(await scopesOf(harness, await sign(key, 'HS256', claims({ jti: 'other' }))), ['fallback', 'one'])
  t.same(seen, [true, true], 'the function gets the frozen claims')
})

t.test('scopes from a function are frozen, even when it returns an array of its own', async (t) => {
  const shared = ['admin']
  const harness = await app(t, { scopeClaim: () => shared })
  const res = await harness.get(await sign(key, 'HS256', claims()), '/admin')
  t.equal(res.statusCode, 200)
  t.notOk(Object.isFrozen(shared), 'the app\'s array is left alone: a frozen copy is handed out')
})

t.test('a scopeClaim function that breaks its contract is a fault, never a 2xx', async (t) => {
  const fault = errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed')
  for (const [name, scopeClaim] of [
    ['undefined', () => undefined],
    ['a number', () => 1],
    ['an array with a number', () => ['admin', 1]],
    ['a throw', () => { throw new Error('no roles') }]
  ] as const) {
    const harness = await app(t, { scopeClaim: scopeClaim as unknown as NonNullable<JwtOptions['scopeClaim']> })
    const res = await harness.get(await sign(key, 'HS256', claims()))
    t.equal(res.statusCode, 500, name)
    t.equal(res.headers['www-authenticate'], undefined, `${name}: no challenge`)
    t.same(res.json(), fault, name)
  }
})

t.test('a missing claim grants no scopes: 403 where a scope is required, 200 where none is', async (t) => {
  const harness = await app(t, { scopeClaim: 'realm_access.roles' })
  for (const extra of [{}, { realm_access: {} }]) {
    const token = await sign(key, 'HS256', claims(extra))
    t.same(await scopesOf(harness, token), [], JSON.stringify(extra))
    const admin = await harness.get(token, '/admin')
    t.equal(admin.statusCode, 403)
    t.equal(admin.headers['www-authenticate'], insufficientScope)
  }
})

t.test('only the token\'s own claims are read, never what every object inherits', async (t) => {
  const harness = await app(t, { scopeClaim: 'realm_access.toString' })
  t.same(await scopesOf(harness, await sign(key, 'HS256', claims({ realm_access: { roles: ['admin'] } }))), [])
  const top = await app(t, { scopeClaim: 'hasOwnProperty' })
  t.same(await scopesOf(top, await sign(key, 'HS256', claims())), [])
})

t.test('a claim of the wrong type on the path refuses the token as malformed', async (t) => {
  const harness = await app(t, { scopeClaim: 'realm_access.roles' })
  for (const realmAccess of ['admin', ['admin'], null, { roles: 'admin' }, { roles: 'admin extra' }, { roles: [1] }, { roles: { admin: true } }, { roles: null }]) {
    const res = await harness.get(await sign(key, 'HS256', claims({ realm_access: realmAccess })))
    if (typeof (realmAccess as { roles?: unknown } | null)?.roles === 'string') {
      t.equal(res.statusCode, 200, 'a space-delimited string is a list of scopes')
      continue
    }
    assertRefused(t, res, jwtDescriptions.malformed)
  }
  const leaf = await app(t, {})
  assertRefused(t, await leaf.get(await sign(key, 'HS256', claims({ scope: 5 }))), jwtDescriptions.malformed)
})

t.test('a claims set too deeply nested to freeze refuses the token as malformed', async (t) => {
  const harness = await app(t, {})
  let deep: Record<string, unknown> = {}
  for (let i = 0; i < 40; i++) deep = { deep }
  const res = await harness.get(await sign(key, 'HS256', claims({ deep })))
  assertRefused(t, res, jwtDescriptions.malformed)
  t.equal(harness.verifications(), 1)
  assertRefused(t, await harness.get(await sign(key, 'HS256', claims({ deep }))), jwtDescriptions.malformed)
  t.equal(harness.verifications(), 2, 'a refusal is not cached')
})

t.test('which source wins for a JWT', async (t) => {
  const token = await sign(key, 'HS256', claims({ scope: 'from-scope', roles: ['from-roles'] }))
  const mapped = (claims: Readonly<Record<string, unknown>>) => ({ id: claims.sub, scopes: ['from-mapped-user'] })
  const getScopes = (user: unknown) => [`get-scopes:${String((user as { sub: unknown }).sub)}`]

  await t.test('1. scopeClaim, over getScopes', async (t) => {
    const harness = await app(t, { scopeClaim: 'roles', user: mapped }, { getScopes })
    t.same(await scopesOf(harness, token), ['from-roles'])
  })
  await t.test('2. the plugin\'s getScopes, given the claims (not the mapped user), once per token', async (t) => {
    let calls = 0
    const given: unknown[] = []
    const harness = await app(t, { user: mapped }, { getScopes: (user) => { calls++; given.push(user); return getScopes(user) } })
    t.same(await scopesOf(harness, token), ['get-scopes:user-1'])
    t.same(await scopesOf(harness, token), ['get-scopes:user-1'])
    t.equal(calls, 1)
    t.equal((given[0] as { iss: unknown }).iss, ISSUER, 'the claims')
  })
  await t.test('3. the claims: scope, else scp, else permissions', async (t) => {
    t.same(await scopesOf(await app(t, {}), token), ['from-scope'])
  })
  await t.test('never the scopes of the user jwt.user() maps to: an account may do more than its token was granted', async (t) => {
    const harness = await app(t, { user: mapped })
    t.same(await scopesOf(harness, token), ['from-scope'])
    const narrow = await sign(key, 'HS256', claims({ scope: 'me:read', jti: 'narrow' }))
    t.equal((await harness.get(narrow, '/admin')).statusCode, 403, 'the user\'s scopes do not widen the token')
  })
  await t.test('getScopes that returns something other than an array of strings is a fault', async (t) => {
    const harness = await app(t, {}, { getScopes: () => 'admin' as unknown as string[] })
    const res = await harness.get(token)
    t.equal(res.statusCode, 500)
    t.same(res.json(), errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed'))
  })
})
