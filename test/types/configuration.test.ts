import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import protectedRoutes, { requireUser, type ApiKeySchemeOptions, type BearerSchemeOptions, type ProtectedRoutesOptions, type RouteAuthConfig } from '../../lib/index.js'

// Checked by `npm run typecheck` (this project declares the user type in augmented.test.ts and
// no scheme names, no userProperty). Each @ts-expect-error must stay an error; where the
// mistake can also reach the plugin at run time, the test shows the boot refuses it too.

const verify = (): null => null
const tokens = { 'alice-token': { username: 'alice', scopes: ['items:read'] } }

t.test('a scheme has exactly one verifier, in the types as at boot', async (t) => {
  const ok: BearerSchemeOptions[] = [
    { type: 'bearer', verify },
    { type: 'bearer', tokens },
    { type: 'bearer', jwt: { secret: 'x'.repeat(32), algorithms: ['HS256'], issuer: 'i', audience: 'a' } },
    { type: 'bearer', verify, tokenUrl: '/token', scopes: { 'items:read': 'Read items' } }
  ]
  const keys: ApiKeySchemeOptions[] = [{ type: 'apiKey', in: 'header', name: 'X-Token', tokens }]
  t.equal(ok.length + keys.length, 5)

  // @ts-expect-error a bearer scheme with no verifier
  const none: BearerSchemeOptions = { type: 'bearer' }
  // @ts-expect-error two verifiers: verify and tokens
  const two: BearerSchemeOptions = { type: 'bearer', verify, tokens }
  // @ts-expect-error two verifiers: tokens and jwt
  const jwtToo: BearerSchemeOptions = { type: 'bearer', tokens, jwt: { secret: 'x'.repeat(32), algorithms: ['HS256'], issuer: 'i', audience: 'a' } }
  // @ts-expect-error an API key scheme with no verifier
  const keyNone: ApiKeySchemeOptions = { type: 'apiKey', in: 'header', name: 'X-Token' }
  // @ts-expect-error jwt is for bearer schemes
  const keyJwt: ApiKeySchemeOptions = { type: 'apiKey', in: 'header', name: 'X-Token', jwt: { secret: 'x'.repeat(32), algorithms: ['HS256'], issuer: 'i', audience: 'a' } }

  for (const scheme of [none, two, jwtToo, keyNone, keyJwt]) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(protectedRoutes, { schemes: { s: scheme } }) }, { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION' })
  }
})

t.test('a misspelled key in a scheme does not compile and fails the boot naming it', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => {
    // @ts-expect-error verfiy is not a key of a scheme ("Did you mean to write 'verify'?")
    await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', verfiy: verify } } })
  }, { message: /unknown key 'verfiy'/ })

  const app2 = Fastify()
  t.teardown(() => app2.close())
  await t.rejects(async () => {
    // @ts-expect-error tokenURL is not a key of a scheme, even beside a verifier
    await app2.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', tokens, tokenURL: '/token' } } })
  }, { message: /unknown key 'tokenURL'/ })
})

t.test('without a scheme-name declaration any string compiles as a scheme name', async (t) => {
  const anyName: RouteAuthConfig = { schemes: ['whatever'] }
  const options: ProtectedRoutesOptions = { schemes: { anything: { type: 'bearer', verify } }, defaultSchemes: ['anything'] }
  t.same([anyName, options.defaultSchemes], [{ schemes: ['whatever'] }, ['anything']])
})

t.test('without a userProperty declaration only the default compiles', async (t) => {
  const byDefault: ProtectedRoutesOptions = { schemes: { bearerAuth: { type: 'bearer', verify } }, userProperty: 'user' }
  // @ts-expect-error another userProperty needs a FastifyProtectedRoutes declaration (test/types/user-property)
  const other: ProtectedRoutesOptions = { schemes: { bearerAuth: { type: 'bearer', verify } }, userProperty: 'identity' }
  t.same([byDefault.userProperty, other.userProperty], ['user', 'identity'])
})

t.test('requireUser gives handlers the typed user, never null; request.user stays read-only', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', tokens } } })
  app.get('/me', { config: { auth: true } }, async (request) => {
    const username: string = requireUser(request).username
    // @ts-expect-error request.user may be null: requireUser is the non-null way
    const unchecked: string = request.user.username
    const viaAuth: string | undefined = request.auth?.user.username
    t.equal(unchecked, username)
    t.equal(viaAuth, username)
    return { username }
  })
  app.get('/public', async (request) => {
    // @ts-expect-error the plugin sets request.user; nothing else may
    request.user = { username: 'mallory', scopes: [] }
    return 'unreachable'
  })
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer alice-token' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { username: 'alice' })
  t.equal((await app.inject('/public')).statusCode, 500)
})

t.test('authorize may type its request as the route does (method syntax is checked bivariantly)', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', tokens } } })
  type Owned = FastifyRequest<{ Params: { owner: string } }>
  app.get<{ Params: { owner: string } }>('/items/:owner', {
    config: { auth: { authorize (request: Owned, user) { return request.params.owner === user.username } } }
  }, async (request) => ({ owner: request.params.owner }))
  // An arrow function with the same annotation compiles too.
  app.get<{ Params: { owner: string } }>('/lists/:owner', {
    config: { auth: { authorize: (request: Owned, user) => request.params.owner === user.username } }
  }, async (request) => ({ owner: request.params.owner }))

  // @ts-expect-error the request is a FastifyRequest, not a string
  const wrong: RouteAuthConfig = { authorize: (request: string) => request === '' }
  // @ts-expect-error authorize answers a boolean
  const notBoolean: RouteAuthConfig = { authorize: () => 'yes' }
  t.equal(typeof wrong, typeof notBoolean)

  const headers = { authorization: 'Bearer alice-token' }
  for (const prefix of ['/items', '/lists']) {
    const mine = await app.inject({ url: `${prefix}/alice`, headers })
    t.equal(mine.statusCode, 200)
    t.same(mine.json(), { owner: 'alice' })
    t.equal((await app.inject({ url: `${prefix}/bob`, headers })).statusCode, 403)
  }
})

t.test('acr and maxAge are typed, each enough on its own: a list of strings, a number of seconds', async (t) => {
  const acr: RouteAuthConfig = { acr: ['mfa'] }
  const maxAge: RouteAuthConfig = { maxAge: 300 }
  const both: RouteAuthConfig = { acr: ['mfa', 'pwd'], maxAge: 300, scopes: ['admin'] }
  // @ts-expect-error acr is a list, not a string
  const oneString: RouteAuthConfig = { acr: 'mfa' }
  // @ts-expect-error maxAge is a number of seconds, not a string
  const text: RouteAuthConfig = { maxAge: '300' }
  t.same([acr, maxAge, both, oneString, text].map((value) => typeof value), ['object', 'object', 'object', 'object', 'object'])
})
