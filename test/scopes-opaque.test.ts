import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { MemoryTokenStore, type OpaqueOptions, type ProtectedRoutesOptions, type TokenRecord } from '../lib/index.js'
import { build, errorBody } from './helpers/app.js'

const fault = errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed')

interface Harness {
  store: MemoryTokenStore
  get: (token: string, url?: string) => Promise<LightMyRequestResponse>
}

async function app (t: Test, opaque: Partial<OpaqueOptions>, plugin: Partial<ProtectedRoutesOptions> = {}): Promise<Harness> {
  const store = new MemoryTokenStore()
  t.teardown(() => store.close())
  const server = await build(t, { ...plugin, schemes: { bearerAuth: { type: 'bearer', opaque: { store, ...opaque } } } })
  const handler = async (request: { user: unknown, auth: unknown }) => ({ user: request.user, auth: request.auth })
  server.get('/me', { config: { auth: true } }, handler)
  server.get('/admin', { config: { auth: { scopes: ['admin'] } } }, handler)
  return { store, get: (token, url = '/me') => server.inject({ url, headers: { authorization: `Bearer ${token}` } }) }
}

async function scopesOf (harness: Harness, token: string): Promise<unknown> {
  const res = await harness.get(token)
  return res.statusCode === 200 ? res.json().auth.scopes : res.statusCode
}

const keycloakUser = { sub: 'alice', realm_access: { roles: ['admin'] }, scope: 'from-user' }

t.test('opaque.scopeClaim reads the scopes from the user stored with the token', async (t) => {
  const harness = await app(t, { scopeClaim: 'realm_access.roles' })
  const { token } = await harness.store.issue({ subject: 'alice', expiresIn: 60, scopes: ['issued'], user: keycloakUser })
  t.same(await scopesOf(harness, token), ['admin'])
  t.equal((await harness.get(token, '/admin')).statusCode, 200)
  const { token: bare } = await harness.store.issue({ subject: 'bob', expiresIn: 60, scopes: ['admin'], user: { sub: 'bob' } })
  t.same(await scopesOf(harness, bare), [], 'missing: no scopes, whatever it was issued with')
  t.equal((await harness.get(bare, '/admin')).statusCode, 403)
})

t.test('opaque.scopeClaim as a function of the stored user', async (t) => {
  const harness = await app(t, { scopeClaim: (user) => (user.realm_access as { roles: string[] }).roles })
  const { token } = await harness.store.issue({ subject: 'alice', expiresIn: 60, user: keycloakUser })
  t.same(await scopesOf(harness, token), ['admin'])
})

t.test('a stored user whose scope property has the wrong type is a fault: the store holds what the app wrote', async (t) => {
  const harness = await app(t, { scopeClaim: 'realm_access.roles' })
  for (const user of [{ realm_access: { roles: 7 } }, { realm_access: 'admin' }]) {
    const { token } = await harness.store.issue({ subject: 'alice', expiresIn: 60, user })
    const res = await harness.get(token)
    t.equal(res.statusCode, 500)
    t.same(res.json(), fault)
  }
})

t.test('a bad opaque.scopeClaim stops the boot', async (t) => {
  const store = new MemoryTokenStore()
  t.teardown(() => store.close())
  await t.rejects(build(t, { schemes: { s: { type: 'bearer', opaque: { store, scopeClaim: 'a..b' } } } }), {
    code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
    message: 'Invalid fastify-protected-routes option: schemes.s.opaque.scopeClaim must be a claim name or a dotted path without empty segments'
  })
})

t.test('which source wins for an opaque token', async (t) => {
  const mapped = (record: TokenRecord) => ({ id: record.subject, scopes: ['from-mapped'] })
  const getScopes = () => ['get-scopes']
  async function issue (harness: Harness): Promise<string> {
    return (await harness.store.issue({ subject: 'alice', expiresIn: 60, scopes: ['issued'], user: keycloakUser })).token
  }

  await t.test('1. scopeClaim, read from the stored user', async (t) => {
    const harness = await app(t, { scopeClaim: 'realm_access.roles', user: mapped }, { getScopes })
    t.same(await scopesOf(harness, await issue(harness)), ['admin'])
  })
  await t.test('2. the scopes the token was issued with: never getScopes, the stored user\'s or the mapped user\'s', async (t) => {
    const mappedApp = await app(t, { user: mapped }, { getScopes })
    t.same(await scopesOf(mappedApp, await issue(mappedApp)), ['issued'])
    const plain = await app(t, {})
    t.same(await scopesOf(plain, await issue(plain)), ['issued'], 'not the stored user\'s scope')
  })
})

t.test('what opaque.user returns is frozen before the handler sees it', async (t) => {
  const profile = { id: 'alice', settings: { lang: 'en' } }
  const harness = await app(t, { user: () => profile })
  const { token } = await harness.store.issue({ subject: 'alice', expiresIn: 60 })
  t.equal((await harness.get(token)).statusCode, 200)
  t.ok(Object.isFrozen(profile) && Object.isFrozen(profile.settings))
})
