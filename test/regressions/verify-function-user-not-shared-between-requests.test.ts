import t from 'tap'
import { build } from '../helpers/app.js'

// Before: a verify function that answers from the app's own cache handed every request the same
// mutable object; a handler's change to it was seen by every later request of that user.
t.test("a handler's change to the user a verify function returned never reaches the next request", async (t) => {
  const cached = new Map([['token-a', { id: 'a', visits: [] as string[], scope: 'read' }]])
  const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', verify: async (token) => cached.get(token) } } })
  app.get('/visit', { config: { auth: true } }, async (request) => {
    (request.user as { visits: string[] }).visits.push('/visit')
    return 'visited'
  })
  app.get('/me', { config: { auth: true } }, async (request) => {
    t.ok(Object.isFrozen(request.auth) && Object.isFrozen(request.auth?.scopes), 'request.auth and its scopes are frozen')
    return request.user
  })
  const headers = { authorization: 'Bearer token-a' }

  const visit = await app.inject({ url: '/visit', headers })
  t.equal(visit.statusCode, 500)
  t.same(visit.json(), { statusCode: 500, error: 'Internal Server Error', message: 'Cannot add property 0, object is not extensible' })
  const me = await app.inject({ url: '/me', headers })
  t.equal(me.statusCode, 200)
  t.same(me.json(), { id: 'a', visits: [], scope: 'read' })
})
