import t, { type Test } from 'tap'
import Fastify from 'fastify'
import protectedRoutes, { type BearerSchemeOptions, type IntrospectionOptions, type ProtectedRoutesOptions } from '../lib/index.js'

const base = { url: 'https://auth.example/introspect', clientId: 'api', clientSecret: 'secret' }
const path = 'schemes.s.introspection'

async function boot (t: Test, scheme: unknown, plugin: Partial<ProtectedRoutesOptions> = {}): Promise<void> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { s: scheme }, ...plugin } as ProtectedRoutesOptions)
  await app.ready()
}

t.test('bad introspection options stop the boot with what to fix', async (t) => {
  const cases: Array<[string, unknown, string, Partial<ProtectedRoutesOptions>?]> = [
    ['not an object', 'https://auth.example/introspect', `${path} must be an object`],
    ['an unknown option', { ...base, ttl: 60 }, `${path} has an unknown option 'ttl'`],
    ['neither url nor discovery', { clientId: 'api', clientSecret: 'secret' }, `${path} needs exactly one of url or discovery: true`],
    ['both url and discovery', { ...base, issuer: 'https://auth.example/', discovery: true }, `${path} needs exactly one of url or discovery: true`],
    ['discovery: false', { clientId: 'api', clientSecret: 'secret', issuer: 'https://auth.example/', discovery: false }, `${path}.discovery must be true (or leave it out and set url)`],
    ['discovery without issuer', { clientId: 'api', clientSecret: 'secret', discovery: true }, `${path}.discovery needs issuer: the metadata is found from it`],
    ['a relative url', { ...base, url: '/introspect' }, `${path}.url must be an absolute URL`],
    ['http on a public host', { ...base, url: 'http://auth.example/introspect' }, `${path}.url must use https: (http: is allowed on a loopback host only)`],
    ['credentials in the url', { ...base, url: 'https://api:secret@auth.example/introspect' }, `${path}.url must not contain credentials: use clientId and clientSecret`],
    ['no clientId', { ...base, clientId: undefined }, `${path}.clientId must be this API's client id at the authorization server, a non-empty string`],
    ['an empty clientId', { ...base, clientId: '' }, `${path}.clientId must be this API's client id at the authorization server, a non-empty string`],
    ['a clientSecret that is not a string', { ...base, clientSecret: 42 }, `${path}.clientSecret must be a non-empty string`],
    ['an unknown auth method', { ...base, auth: 'private_key_jwt' }, `${path}.auth must be 'client_secret_basic' or 'client_secret_post'`],
    ['an empty issuer', { ...base, issuer: '' }, `${path}.issuer must be the expected iss, a non-empty string`],
    ['an empty audience list', { ...base, audience: [] }, `${path}.audience must be this API's audience: a non-empty string or a non-empty array of them`],
    ['an audience that is not a string', { ...base, audience: 42 }, `${path}.audience must be this API's audience: a non-empty string or a non-empty array of them`],
    ['a timeout of 0', { ...base, timeout: 0 }, `${path}.timeout must be an integer from 1 to 60000`],
    ['a fractional timeout', { ...base, timeout: 1.5 }, `${path}.timeout must be an integer from 1 to 60000`],
    ['a timeout past verifyTimeout', { ...base, timeout: 3000 }, `${path}.timeout is 3000 ms, longer than verifyTimeout (2000 ms): make it shorter`, { verifyTimeout: 2000 }],
    ['cache: true', { ...base, cache: true }, `${path}.cache must be false or { max, ttl }`],
    ['an unknown cache option', { ...base, cache: { size: 10 } }, `${path}.cache must be false or { max, ttl }`],
    ['a ttl in ms by mistake', { ...base, cache: { ttl: 600_000 } }, `${path}.cache.ttl must be an integer from 1 to 86400`],
    ['a ttl of 0', { ...base, cache: { ttl: 0 } }, `${path}.cache.ttl must be an integer from 1 to 86400`],
    ['a fractional max', { ...base, cache: { max: 2.5 } }, `${path}.cache.max must be an integer from 1 to 10000000`],
    ['a clockTolerance past 300', { ...base, clockTolerance: 301 }, `${path}.clockTolerance must be an integer from 0 to 300`],
    ['a user that is not a function', { ...base, user: {} }, `${path}.user must be a function`],
    ['a scopeClaim that is not a name', { ...base, scopeClaim: 42 }, `${path}.scopeClaim must be a claim name, a dotted path such as 'realm_access.roles', or a function of the claims`]
  ]
  for (const [name, introspection, message, plugin] of cases) {
    await t.test(name, async (t) => {
      await t.rejects(boot(t, { type: 'bearer', introspection }, plugin), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message: `Invalid fastify-protected-routes option: ${message}` })
    })
  }
})

t.test('introspection is for bearer schemes, and is one verifier', async (t) => {
  await t.rejects(boot(t, { type: 'apiKey', in: 'header', name: 'X-Key', introspection: base }), { message: 'Invalid fastify-protected-routes option: schemes.s.introspection is for bearer schemes' })
  await t.rejects(boot(t, { type: 'bearer', introspection: base, tokens: { abc: {} } }), { message: 'Invalid fastify-protected-routes option: schemes.s needs exactly one of verify, tokens, jwt, opaque or introspection' })
})

t.test('good options boot without a request to the endpoint', async (t) => {
  for (const introspection of [
    base,
    { ...base, url: new URL('http://127.0.0.1:1/introspect'), auth: 'client_secret_post', timeout: 10_000, cache: false, clockTolerance: 0 },
    { ...base, url: 'http://[::1]:1/x', issuer: 'https://auth.example/', audience: ['a', 'b', 'a'], cache: { max: 1, ttl: 86_400 } },
    { ...base, url: 'http://localhost:1/x', cache: {}, scopeClaim: 'scp', user: () => null }
  ]) await t.resolves(boot(t, { type: 'bearer', introspection }))
})

t.test('the types take exactly one verifier and the documented options', async (t) => {
  const ok: BearerSchemeOptions = { type: 'bearer', introspection: { ...base, auth: 'client_secret_post', cache: { ttl: 30 } } }
  const discovered: IntrospectionOptions = { issuer: 'https://auth.example/', discovery: true, clientId: 'api', clientSecret: 'secret' }
  // @ts-expect-error introspection and jwt: two verifiers
  const two: BearerSchemeOptions = { type: 'bearer', introspection: base, jwt: { secret: 'x'.repeat(32), algorithms: ['HS256'], issuer: 'i', audience: 'a' } }
  // @ts-expect-error an auth method the verifier does not have
  const wrongAuth: IntrospectionOptions = { ...base, auth: 'private_key_jwt' }
  // @ts-expect-error clientSecret is required
  const noSecret: IntrospectionOptions = { url: base.url, clientId: 'api' }
  t.ok([ok, discovered, two, wrongAuth, noSecret])
  await t.rejects(boot(t, two), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION' })
})
