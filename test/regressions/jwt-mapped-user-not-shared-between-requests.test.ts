import t from 'tap'
import { claims, jwtApp, secret, sign } from '../helpers/jwt.js'

// Before: the user jwt.user() returned was handed out as is: from the app's cache, one mutable
// object shared by every request of that user (the claims themselves were frozen already).
t.test("a handler's change to the user jwt.user() returned never reaches the next request", async (t) => {
  const key = secret()
  const users = new Map([['user-1', { id: 'user-1', tenant: 'acme', prefs: { theme: 'dark' } }]])
  const { app, get } = await jwtApp(t, { secret: key, algorithms: ['HS256'], user: (claims) => users.get(claims.sub as string) })
  app.get('/tenant', { config: { auth: true } }, async (request) => {
    (request.user as { prefs: { theme: string } }).prefs.theme = 'light'
    return 'changed'
  })
  const token = await sign(key, 'HS256', claims())

  const change = await get(token, '/tenant')
  t.equal(change.statusCode, 500)
  t.same(change.json(), { statusCode: 500, error: 'Internal Server Error', message: "Cannot assign to read only property 'theme' of object '#<Object>'" })
  const me = await get(token)
  t.equal(me.statusCode, 200)
  t.same(me.json().user, { id: 'user-1', tenant: 'acme', prefs: { theme: 'dark' } })
})
