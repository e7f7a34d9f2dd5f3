// A token store of the app's own that answered `scopes: 'admin'` (a string) let the token into
// a route requiring `admin`: the scope check then searched the string (`'admin'.includes('admin')`), and a
// record whose user was null was taken as a user. Such records are now a fault (500).
import t from 'tap'
import type { TokenStore } from '../../lib/index.js'
import { build, errorBody } from '../helpers/app.js'

const fault = errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed')

t.test('a store of the app\'s own whose record is not what a store returns is a fault', async (t) => {
  const records: Array<Record<string, unknown>> = [
    { subject: 'a', user: { sub: 'a' }, scopes: 'admin', expiresAt: Date.now() + 60_000 },
    { subject: 'a', user: { sub: 'a' }, scopes: ['admin', 1], expiresAt: Date.now() + 60_000 },
    { subject: 'a', user: null, scopes: ['admin'], expiresAt: Date.now() + 60_000 }
  ]
  for (const record of records) {
    const store = { lookup: async () => record } as unknown as TokenStore
    const server = await build(t, { schemes: { bearerAuth: { type: 'bearer', opaque: { store } } } })
    server.get('/admin', { config: { auth: { scopes: ['admin'] } } }, async () => 'in')
    const res = await server.inject({ url: '/admin', headers: { authorization: 'Bearer some-token' } })
    t.equal(res.statusCode, 500, 'a string would grant "admin" by substring; a null user is no user')
    t.same(res.json(), fault)
  }
})
