import t from 'tap'
import { MemoryTokenStore } from '../../lib/index.js'
import { build } from '../helpers/app.js'

// Before: the store froze its record and the stored user one level deep: the user's nested
// objects were shared by every request with the token, and a handler could change them.
t.test("a handler's change to a nested object of an opaque token's user never reaches the next request", async (t) => {
  const store = new MemoryTokenStore()
  t.teardown(() => store.close())
  const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', opaque: { store } } } })
  app.get('/upgrade', { config: { auth: true } }, async (request) => {
    (request.user as { org: { plan: string } }).org.plan = 'pro'
    return 'upgraded'
  })
  app.get('/me', { config: { auth: true } }, async (request) => {
    t.ok(Object.isFrozen(request.auth) && Object.isFrozen(request.auth?.scopes), 'request.auth and its scopes are frozen')
    return request.user
  })
  const { token } = await store.issue({ subject: 'alice', expiresIn: 60, user: { sub: 'alice', org: { plan: 'free' } } })
  const headers = { authorization: `Bearer ${token}` }

  const upgrade = await app.inject({ url: '/upgrade', headers })
  t.equal(upgrade.statusCode, 500)
  t.same(upgrade.json(), { statusCode: 500, error: 'Internal Server Error', message: "Cannot assign to read only property 'plan' of object '#<Object>'" })
  const me = await app.inject({ url: '/me', headers })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { sub: 'alice', org: { plan: 'free' } })
})
