import t from 'tap'
import swagger from '@fastify/swagger'
import protectedRoutes, { type ProtectedRoutesOptions } from '../lib/index.js'
import { errorBody, fresh, spyVerify } from './helpers/app.js'

// config.auth: { schemes: [...], all: true }: every scheme's credential must be present and
// verify; the user is the first one's.

const BEARER = 'Bearer realm="api"'
const KEY = 'ApiKey realm="api", in="header", name="X-Client-Key"'

function options (): { options: ProtectedRoutesOptions, user: ReturnType<typeof spyVerify>, client: ReturnType<typeof spyVerify> } {
  const user = spyVerify({ 'user-token': { id: 'alice', scopes: ['items:read'] } })
  const client = spyVerify({ 'client-key': { id: 'mobile-app', scopes: ['admin'] } })
  return {
    user,
    client,
    options: {
      schemes: {
        userToken: { type: 'bearer', verify: user },
        clientKey: { type: 'apiKey', in: 'header', name: 'X-Client-Key', verify: client }
      }
    }
  }
}

async function app (t: Parameters<typeof fresh>[0]) {
  const built = options()
  const server = fresh(t)
  await server.register(protectedRoutes, built.options)
  const handler = async (request: { user: unknown, auth: { scheme: string } | null }) => ({ user: request.user, scheme: request.auth?.scheme })
  server.get('/both', { config: { auth: { schemes: ['userToken', 'clientKey'], all: true } } }, handler)
  server.get('/scoped', { config: { auth: { schemes: ['userToken', 'clientKey'], all: true, scopes: ['admin'] } } }, handler)
  return { server, ...built }
}

const both = { authorization: 'Bearer user-token', 'x-client-key': 'client-key' }

t.test('both present and valid: the user is the first scheme\'s', async (t) => {
  const { server, user, client } = await app(t)
  const res = await server.inject({ url: '/both', headers: both })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { user: { id: 'alice', scopes: ['items:read'] }, scheme: 'userToken' })
  t.same(user.calls, ['user-token'])
  t.same(client.calls, ['client-key'])
})

t.test('a missing credential is a 401 naming the scheme it was for', async (t) => {
  const { server, user } = await app(t)
  const noKey = await server.inject({ url: '/both', headers: { authorization: 'Bearer user-token' } })
  t.equal(noKey.statusCode, 401)
  t.equal(noKey.headers['www-authenticate'], KEY)
  t.same(noKey.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))
  const noToken = await server.inject({ url: '/both', headers: { 'x-client-key': 'client-key' } })
  t.equal(noToken.headers['www-authenticate'], BEARER)
  const neither = await server.inject('/both')
  t.same(neither.headers['www-authenticate'], [BEARER, KEY])
  t.same(user.calls, [], 'nothing is verified while a credential is missing')
})

t.test('an invalid one is refused by its scheme, whichever it is', async (t) => {
  const { server } = await app(t)
  const badKey = await server.inject({ url: '/both', headers: { ...both, 'x-client-key': 'stolen' } })
  t.equal(badKey.statusCode, 401)
  t.same(badKey.headers['www-authenticate'], [BEARER, `${KEY}, error="invalid_token", error_description="The API key is invalid"`])
  const badToken = await server.inject({ url: '/both', headers: { ...both, authorization: 'Bearer stolen' } })
  t.same(badToken.headers['www-authenticate'], [`${BEARER}, error="invalid_token", error_description="The access token is invalid"`, KEY])
})

t.test('scopes are the user\'s: the client key\'s scopes grant nothing', async (t) => {
  const { server } = await app(t)
  const res = await server.inject({ url: '/scoped', headers: both })
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], `${BEARER}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"`)
})

t.test('all is checked when the route is declared', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['two schemes reading one place', { schemes: ['a', 'b'], all: true }, "with all, each scheme must read its own place: 'a' and 'b' both read the Authorization header, which carries one credential"],
    ['all with optional', { schemes: ['a', 'key'], all: true, optional: true }, "optional and all cannot be combined: with all, every scheme's credential is required"],
    ['all that is not a boolean', { schemes: ['a', 'key'], all: 'yes' }, 'all must be a boolean']
  ]
  for (const [name, auth, reason] of cases) {
    const server = fresh(t)
    await server.register(protectedRoutes, {
      schemes: { a: { type: 'bearer', tokens: { x: {} } }, b: { type: 'bearer', tokens: { y: {} } }, key: { type: 'apiKey', in: 'header', name: 'X-Key', tokens: { z: {} } } }
    })
    t.throws(() => server.get('/x', { config: { auth: auth as never } }, async () => 'ok'), { code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG', message: `Invalid config.auth on GET /x: ${reason}` }, name)
  }
})

t.test('OpenAPI documents all as one requirement that names every scheme', async (t) => {
  const built = options()
  const server = fresh(t)
  await server.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 't', version: '1' } } })
  await server.register(protectedRoutes, built.options)
  server.get('/both', { config: { auth: { schemes: ['userToken', 'clientKey'], all: true, scopes: ['items:read'] } } }, async () => 'ok')
  server.get('/either', { config: { auth: { schemes: ['userToken', 'clientKey'] } } }, async () => 'ok')
  await server.ready()
  const paths = (server.swagger() as { paths: Record<string, { get: { security: unknown } }> }).paths
  t.same(paths['/both']!.get.security, [{ userToken: ['items:read'], clientKey: ['items:read'] }])
  t.same(paths['/either']!.get.security, [{ userToken: [] }, { clientKey: [] }])
})
