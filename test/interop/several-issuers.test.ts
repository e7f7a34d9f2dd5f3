// One JWT scheme trusting two real oidc-provider issuers, picked by each token's iss.
import { test, type Test } from 'tap'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import protectedRoutes, { type JwtOptions } from '../../lib/index.js'
import { JWT_RESOURCE, OTHER_RESOURCE, startIssuer } from '../helpers/oidc-provider.js'

async function api (t: Test, jwt: JwtOptions): Promise<(token: string) => Promise<LightMyRequestResponse>> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { idp: { type: 'bearer', jwt } } })
  app.get('/me', { config: { auth: true } }, async (request) => ({ iss: request.auth?.claims?.iss }))
  return async (token) => await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
}

test('tokens of issuer A and of issuer B verify on one scheme; a third issuer is refused without a fetch', async (t) => {
  const a = await startIssuer(t)
  const b = await startIssuer(t, { path: '/tenant-b', alg: 'ES256' })
  const c = await startIssuer(t)
  const get = await api(t, {
    algorithms: ['RS256'],
    audience: [JWT_RESOURCE, OTHER_RESOURCE],
    typ: 'at+jwt',
    issuers: [
      { issuer: a.issuer, discovery: true },
      { issuer: b.issuer, jwksUrl: b.jwksUri, algorithms: ['ES256'], audience: JWT_RESOURCE }
    ]
  })
  const fromA = await get(await a.token({ resource: JWT_RESOURCE }))
  t.equal(fromA.statusCode, 200)
  t.same(fromA.json(), { iss: a.issuer })
  t.equal((await get(await a.token({ resource: OTHER_RESOURCE }))).statusCode, 200, 'A: either audience')
  const fromB = await get(await b.token({ resource: JWT_RESOURCE }))
  t.equal(fromB.statusCode, 200)
  t.same(fromB.json(), { iss: b.issuer })
  t.equal((await get(await b.token({ resource: OTHER_RESOURCE }))).statusCode, 401, 'B: its own audience only')

  const jwksA = a.hits('/jwks')
  const jwksB = b.hits(new URL(b.jwksUri).pathname)
  const fromC = await get(await c.token({ resource: JWT_RESOURCE }))
  t.equal(fromC.statusCode, 401)
  t.equal(fromC.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token issuer is not accepted"')
  t.equal(c.hits('/jwks'), 0, 'C is never asked')
  t.equal(a.hits('/jwks') - jwksA, 0, 'nor A')
  t.equal(b.hits(new URL(b.jwksUri).pathname) - jwksB, 0, 'nor B')
  t.same([...a.errors, ...b.errors, ...c.errors], [])
})

test('issuer B down at boot: A\'s tokens verify meanwhile, B\'s get 503, then 200 once B is back', async (t) => {
  const a = await startIssuer(t)
  const b = await startIssuer(t, { path: '/tenant-b' })
  const tokenB = await b.token({ resource: JWT_RESOURCE })
  await b.stop()
  const get = await api(t, { algorithms: ['RS256'], audience: JWT_RESOURCE, jwksCooldown: 200, issuers: [{ issuer: a.issuer, discovery: true }, { issuer: b.issuer, discovery: true }] })
  t.equal((await get(await a.token({ resource: JWT_RESOURCE }))).statusCode, 200)
  t.equal((await get(tokenB)).statusCode, 503)
  await b.start()
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.equal((await get(tokenB)).statusCode, 200)
  t.same([...a.errors, ...b.errors], [])
})

test('a key rotated at one issuer is picked up for that issuer only', async (t) => {
  const a = await startIssuer(t)
  const b = await startIssuer(t, { path: '/tenant-b' })
  const get = await api(t, { algorithms: ['RS256'], audience: JWT_RESOURCE, jwksCooldown: 0, issuers: [{ issuer: a.issuer, discovery: true }, { issuer: b.issuer, discovery: true }] })
  t.equal((await get(await a.token({ resource: JWT_RESOURCE }))).statusCode, 200)
  t.equal((await get(await b.token({ resource: JWT_RESOURCE }))).statusCode, 200)
  await b.rotate('RS256', { retire: true })
  t.equal((await get(await b.token({ resource: JWT_RESOURCE }))).statusCode, 200)
  t.equal(a.hits('/jwks'), 1, 'A\'s keys not fetched again')
  t.same([...a.errors, ...b.errors], [])
})
