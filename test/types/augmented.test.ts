import t from 'tap'
import Fastify from 'fastify'
import protectedRoutes, { type AuthInfo, type RouteAuthConfig } from '../../lib/index.js'

// The @ts-expect-error lines below are checked by `npm run typecheck` (tsc over test/):
// if any of them stopped being an error, the type check would fail.
declare module '../../lib/index.js' {
  interface FastifyProtectedRoutes {
    user: { username: string, scopes: string[] }
  }
}

t.test('config.auth and request.user are typed app-wide', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, {
    schemes: { bearerAuth: { type: 'bearer', tokens: { 'alice-token': { username: 'alice', scopes: ['me:read'] } } } }
  })

  app.get('/me', { config: { auth: { scopes: ['me:read'] } } }, async (request) => {
    const username: string | undefined = request.user?.username
    // @ts-expect-error the augmented user's username is a string, not a number
    const wrong: number | undefined = request.user?.username
    t.equal(wrong, username)
    const auth: AuthInfo | null = request.auth
    return { username, scheme: auth?.scheme }
  })

  // @ts-expect-error auth must be a boolean or an object, not a string
  const notAString: RouteAuthConfig = 'yes'
  // @ts-expect-error a typo in a key (scope instead of scopes) does not compile
  const typo: RouteAuthConfig = { scope: ['x'] }
  // @ts-expect-error scopes are strings
  const wrongScopes: RouteAuthConfig = { scopes: [1] }
  t.same([notAString, typo, wrongScopes], ['yes', { scope: ['x'] }, { scopes: [1] }])

  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer alice-token' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { username: 'alice', scheme: 'bearerAuth' })
})

t.test('a typo in a route config does not compile when declared inline', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', verify: () => null } } })
  // Each route is declared with an invalid config; TypeScript refuses it and so does the plugin at boot.
  t.throws(() => {
    // @ts-expect-error auth: 'yes' is not a RouteAuthConfig
    app.get('/a', { config: { auth: 'yes' } }, async () => 'a')
  }, { code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG' })
})

t.test('a misspelled key in an inline route config fails the boot too', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', verify: () => null } } })
  t.throws(() => {
    // @ts-expect-error scope is not a key of RouteAuthOptions
    app.get('/b', { config: { auth: { scope: ['x'] } } }, async () => 'b')
  }, { code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG' })
})
