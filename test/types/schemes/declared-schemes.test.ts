import t from 'tap'
import Fastify from 'fastify'
import protectedRoutes, { type ProtectedRoutesOptions, type RouteAuthConfig } from '../../../lib/index.js'

// A project of its own (typecheck runs it separately): it declares the scheme names, which
// would change every other type test.
declare module '../../../lib/index.js' {
  interface FastifyProtectedRoutes {
    schemes: 'bearerAuth' | 'tokenHeader'
  }
}

const users = new Map([['alice-token', { username: 'alice' }]])
const options: ProtectedRoutesOptions = {
  schemes: {
    // The verify function's parameters are still typed from the scheme (noImplicitAny).
    bearerAuth: { type: 'bearer', verify: async (token) => users.get(token) },
    tokenHeader: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { mysecrettoken: { username: 'service' } } }
  },
  defaultSchemes: ['bearerAuth']
}

t.test('declared scheme names are the only ones that compile', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, options)
  app.get('/key', { config: { auth: { schemes: ['tokenHeader'] } } }, async () => 'ok')
  t.throws(() => {
    // @ts-expect-error bearerAuht is not a declared scheme name
    app.get('/typo', { config: { auth: { schemes: ['bearerAuht'] } } }, async () => 'typo')
  }, { code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG', message: /unknown scheme 'bearerAuht'/ })

  // @ts-expect-error a route's schemes name declared schemes
  const typo: RouteAuthConfig = { schemes: ['tokenheader'] }
  // @ts-expect-error defaultSchemes name declared schemes
  const wrongDefault: ProtectedRoutesOptions = { ...options, defaultSchemes: ['bearer'] }
  // @ts-expect-error every declared scheme is configured
  const missing: ProtectedRoutesOptions = { schemes: { bearerAuth: { type: 'bearer', verify: () => null } } }
  // @ts-expect-error a scheme that is not declared
  const extra: ProtectedRoutesOptions = { schemes: { ...options.schemes, basicAuth: { type: 'bearer', verify: () => null } } }
  t.ok(typo && wrongDefault && missing && extra)

  const res = await app.inject({ url: '/key', headers: { 'x-token': 'mysecrettoken' } })
  t.equal(res.statusCode, 200)

  const other = Fastify()
  t.teardown(() => other.close())
  await t.rejects(async () => { await other.register(protectedRoutes, wrongDefault) }, { message: /defaultSchemes names an unknown scheme 'bearer'/ })
})
