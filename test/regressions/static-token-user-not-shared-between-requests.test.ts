import t from 'tap'
import { build } from '../helpers/app.js'

// Before: every request with a static token got the same mutable user object, so a handler's
// `request.user.hits++` counted across requests and across clients.
t.test("a handler's change to a static token's user never reaches the next request", async (t) => {
  const admin = { id: 'admin', hits: 0, org: { plan: 'free' }, scopes: ['read'] }
  const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', tokens: { 'token-a': admin } } } })
  app.get('/count', { config: { auth: true } }, async (request) => {
    const user = request.user as { hits: number }
    user.hits++
    return { hits: user.hits }
  })
  app.get('/upgrade', { config: { auth: true } }, async (request) => {
    (request.user as { org: { plan: string } }).org.plan = 'pro'
    return 'upgraded'
  })
  app.get('/me', { config: { auth: true } }, async (request) => {
    t.ok(Object.isFrozen(request.auth), 'request.auth is frozen')
    t.ok(Object.isFrozen(request.auth?.scopes), 'and its scopes')
    return request.user
  })
  const headers = { authorization: 'Bearer token-a' }

  const count = await app.inject({ url: '/count', headers })
  // ESM is strict mode: assigning to a frozen property throws, and Fastify answers 500.
  t.equal(count.statusCode, 500)
  t.same(count.json(), { statusCode: 500, error: 'Internal Server Error', message: "Cannot assign to read only property 'hits' of object '#<Object>'" })
  const upgrade = await app.inject({ url: '/upgrade', headers })
  t.equal(upgrade.statusCode, 500, 'nested objects are frozen too')
  const me = await app.inject({ url: '/me', headers })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { id: 'admin', hits: 0, org: { plan: 'free' }, scopes: ['read'] }, 'the next request sees the user as configured')
  t.ok(Object.isFrozen(admin) && Object.isFrozen(admin.org) && Object.isFrozen(admin.scopes), 'frozen at boot, in place')
})
