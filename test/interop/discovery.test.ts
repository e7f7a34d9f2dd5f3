// Discovery against the real oidc-provider: its metadata, its JWKS, its keys rotating, its outages.
import { test, type Test } from 'tap'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import protectedRoutes, { type JwtOptions } from '../../lib/index.js'
import { JWT_RESOURCE, startIssuer } from '../helpers/oidc-provider.js'

async function api (t: Test, jwt: JwtOptions): Promise<(token: string) => Promise<LightMyRequestResponse>> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { idp: { type: 'bearer', jwt } } })
  app.get('/me', { config: { auth: { scopes: ['read'] } } }, async (request) => ({ scopes: request.auth?.scopes, iss: request.auth?.claims?.iss }))
  return async (token) => await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
}

test('discovery: true finds the provider\'s JWKS from its issuer alone', async (t) => {
  const as = await startIssuer(t)
  const get = await api(t, { issuer: as.issuer, discovery: true, algorithms: ['RS256'], audience: JWT_RESOURCE, typ: 'at+jwt' })
  const first = await as.token({ resource: JWT_RESOURCE, scope: 'read write' })
  const second = await as.token({ resource: JWT_RESOURCE, scope: 'read' })
  // The harness's own client discovered the provider once, before these counts.
  const discovered = as.hits('/.well-known/openid-configuration')
  const res = await get(first)
  t.equal(res.statusCode, 200)
  t.same(res.json(), { scopes: ['read', 'write'], iss: as.issuer })
  t.equal((await get(second)).statusCode, 200)
  t.equal(as.hits('/.well-known/openid-configuration') - discovered, 1, 'the metadata fetched once')
  t.equal(as.hits('/jwks'), 1, 'the JWKS fetched once')
  t.same(as.errors, [])
})

// The RFC 8414 fallback alone is proven in test/discovery.test.ts: the harness's own client
// discovers the provider through OpenID Connect, so it cannot run with that document turned off.
test('an issuer with a path is discovered at its own well-known URL', async (t) => {
  const as = await startIssuer(t, { path: '/tenant-b', alg: 'ES256' })
  const get = await api(t, { issuer: as.issuer, discovery: true, algorithms: ['ES256'], audience: JWT_RESOURCE })
  t.equal((await get(await as.token({ resource: JWT_RESOURCE, scope: 'read' }))).statusCode, 200)
  t.same(as.errors, [])
})

test('a provider down at boot: the app boots, answers 503, then 200 once the provider is back', async (t) => {
  const as = await startIssuer(t)
  const token = await as.token({ resource: JWT_RESOURCE, scope: 'read' })
  await as.stop()
  const get = await api(t, { issuer: as.issuer, discovery: true, algorithms: ['RS256'], audience: JWT_RESOURCE, jwksCooldown: 200 })
  const down = await get(token)
  t.equal(down.statusCode, 503)
  t.equal(down.headers['www-authenticate'], undefined)
  await as.start()
  t.equal((await get(token)).statusCode, 503, 'within the cooldown nothing is fetched again')
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.equal((await get(token)).statusCode, 200)
  t.same(as.errors, [])
})

test('a key rotated at the provider is picked up through the discovered jwks_uri', async (t) => {
  const as = await startIssuer(t)
  const get = await api(t, { issuer: as.issuer, discovery: true, algorithms: ['RS256'], audience: JWT_RESOURCE, jwksCooldown: 0 })
  t.equal((await get(await as.token({ resource: JWT_RESOURCE, scope: 'read' }))).statusCode, 200)
  await as.rotate('RS256', { retire: true })
  t.equal((await get(await as.token({ resource: JWT_RESOURCE, scope: 'read' }))).statusCode, 200, 'the new kid, after one refetch')
  t.equal(as.hits('/jwks'), 2)
  t.same(as.errors, [])
})

test('the provider\'s metadata is refused when the configured issuer differs by its trailing slash', async (t) => {
  const as = await startIssuer(t)
  const get = await api(t, { issuer: `${as.issuer}/`, discovery: true, algorithms: ['RS256'], audience: JWT_RESOURCE })
  t.equal((await get(await as.token({ resource: JWT_RESOURCE, scope: 'read' }))).statusCode, 503)
  t.equal(as.hits('/jwks'), 0, 'no key fetched from a document naming another issuer')
})
