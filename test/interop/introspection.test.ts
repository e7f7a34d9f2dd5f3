// Introspection (RFC 7662) against a real authorization server: opaque access tokens from
// oidc-provider, verified at its introspection endpoint, no mock of the server.
import { test, type Test } from 'tap'
import protectedRoutes from '../../lib/index.js'
import { descriptions, jwtDescriptions } from '../../lib/errors.js'
import { captureLogs, fresh } from '../helpers/app.js'
import { introspectionApp } from '../helpers/introspection.js'
import { assertRefused } from '../helpers/jwt.js'
import { JWT_RESOURCE, OPAQUE_RESOURCE, startIssuer, type Issuer } from '../helpers/oidc-provider.js'

const INTROSPECTION = '/token/introspection'

/** The plugin introspecting at `as` with its client_secret_basic client. */
function basicClient (as: Issuer): { url: string, clientId: string, clientSecret: string, issuer: string, audience: string } {
  return { url: as.introspectionEndpoint, clientId: as.clients.basic.id, clientSecret: as.clients.basic.secret, issuer: as.issuer, audience: OPAQUE_RESOURCE }
}

/** An app on the real clock's time, whose cache clock the test moves. */
async function appAt (t: Test, options: Record<string, unknown>, harness: Parameters<typeof introspectionApp>[2] = {}): ReturnType<typeof introspectionApp> {
  const app = await introspectionApp(t, options, harness)
  app.clock.ms = Date.now()
  return app
}

test('an opaque access token from oidc-provider is verified at its introspection endpoint', async (t) => {
  const as = await startIssuer(t)
  const { get } = await appAt(t, basicClient(as))
  const token = await as.token({ resource: OPAQUE_RESOURCE, scope: 'read admin' })
  t.notOk(token.includes('.'), 'an opaque token')
  const res = await get(token)
  t.equal(res.statusCode, 200)
  const { user, auth } = res.json()
  t.match(user, { active: true, iss: as.issuer, aud: OPAQUE_RESOURCE, client_id: as.clients.basic.id, scope: 'read admin', token_type: 'Bearer' })
  t.same(auth.scopes, ['read', 'admin'])
  t.same(auth.claims, user, 'request.auth.claims is the response')
  t.equal((await get(token, '/admin')).statusCode, 200, 'the scopes of the token')
  const readOnly = await as.token({ resource: OPAQUE_RESOURCE, scope: 'read' })
  t.equal((await get(readOnly, '/admin')).statusCode, 403)
  t.same(as.errors, [])
})

test('client_secret_post and discovery work against the provider too', async (t) => {
  const as = await startIssuer(t, { path: '/tenant-b' })
  const { get } = await appAt(t, {
    issuer: as.issuer,
    discovery: true,
    clientId: as.clients.post.id,
    clientSecret: as.clients.post.secret,
    auth: 'client_secret_post',
    audience: OPAQUE_RESOURCE
  })
  const token = await as.token({ resource: OPAQUE_RESOURCE, client: 'post' })
  t.equal((await get(token)).statusCode, 200)
  t.equal(as.hits(INTROSPECTION), 1)
  t.same(as.errors, [])
})

test('the cache: one introspection per token while its entry lasts', async (t) => {
  const as = await startIssuer(t)
  const { get } = await appAt(t, basicClient(as))
  const tokens = await Promise.all([1, 2, 3].map(() => as.token({ resource: OPAQUE_RESOURCE })))
  for (let round = 0; round < 5; round++) {
    for (const token of tokens) t.equal((await get(token)).statusCode, 200)
  }
  t.equal(as.hits(INTROSPECTION), 3)
})

test('a token revoked at the provider is refused once its cache entry ends', async (t) => {
  const as = await startIssuer(t)
  const { get, clock } = await appAt(t, { ...basicClient(as), cache: { ttl: 5 } })
  const token = await as.token({ resource: OPAQUE_RESOURCE })
  t.equal((await get(token)).statusCode, 200)
  await as.revoke(token)
  t.equal((await get(token)).statusCode, 200, 'still accepted while the entry lasts (ttl: the documented window)')
  clock.ms += 5000
  assertRefused(t, await get(token), descriptions.invalidToken)
  t.equal(as.hits(INTROSPECTION), 2)
  t.same(as.errors, [])
})

test('a token past its exp at the provider is refused', async (t) => {
  const as = await startIssuer(t)
  const { get, clock } = await appAt(t, basicClient(as))
  const token = await as.token({ resource: OPAQUE_RESOURCE, ttl: 2 })
  t.equal((await get(token)).statusCode, 200)
  // The entry ends at exp even though the ttl is 60 s; by then the provider says inactive.
  clock.ms += 2000
  await new Promise((resolve) => setTimeout(resolve, 2100))
  assertRefused(t, await get(token), descriptions.invalidToken)
  t.equal(as.hits(INTROSPECTION), 2)
})

test('introspection outages are 503 with Retry-After, never 401 or 500', async (t) => {
  const as = await startIssuer(t)
  const { get } = await appAt(t, { ...basicClient(as), timeout: 300 })
  const fresh = async (): Promise<string> => await as.token({ resource: OPAQUE_RESOURCE })
  const outage = async (name: string, token: string): Promise<void> => {
    const res = await get(token)
    t.equal(res.statusCode, 503, name)
    t.equal(res.headers['retry-after'], '5', `${name}: Retry-After`)
  }
  const cached = await fresh()
  t.equal((await get(cached)).statusCode, 200)
  for (const [name, fault] of [
    ['500', { status: 500 }],
    ['an HTML page', { status: 200, body: '<html>maintenance</html>', contentType: 'text/html' }],
    ['slower than timeout', { delay: 2000 }]
  ] as const) {
    const token = await fresh()
    as.fault(INTROSPECTION, fault)
    await outage(name, token)
    as.fault(INTROSPECTION, undefined)
  }
  const token = await fresh()
  await as.stop()
  await outage('the server down', token)
  t.equal((await get(cached)).statusCode, 200, 'a cached token is still answered while the server is down')
  await as.start()
  t.equal((await get(token)).statusCode, 200, 'and once it is back, the token is accepted')
})

test('wrong client credentials: 500, logged as a configuration error without the secret', async (t) => {
  const as = await startIssuer(t)
  const logs = captureLogs()
  const { get } = await appAt(t, { ...basicClient(as), clientSecret: 'not-the-secret' }, { server: { logger: { level: 'error', stream: logs.stream } } })
  const token = await as.token({ resource: OPAQUE_RESOURCE })
  const res = await get(token)
  t.equal(res.statusCode, 500)
  t.ok(logs.lines.some((line) => String(line.msg).startsWith('fastify-protected-routes: configuration error: the introspection endpoint answered 401: it does not accept this API\'s client credentials')))
  t.notOk(logs.text().includes('not-the-secret'))
  t.notOk(logs.text().includes(token))
})

test('the response\'s aud and iss are checked against the configuration', async (t) => {
  const as = await startIssuer(t)
  const token = await as.token({ resource: OPAQUE_RESOURCE })
  await t.test('another audience', async (t) => {
    const { get } = await appAt(t, { ...basicClient(as), audience: JWT_RESOURCE })
    assertRefused(t, await get(token), jwtDescriptions.wrongAudience)
  })
  await t.test('another issuer', async (t) => {
    const { get } = await appAt(t, { ...basicClient(as), issuer: `${as.issuer}/` })
    assertRefused(t, await get(token), jwtDescriptions.wrongIssuer)
  })
  await t.test('a token the provider never issued', async (t) => {
    const { get } = await appAt(t, basicClient(as))
    assertRefused(t, await get('never-issued-by-the-provider'), descriptions.invalidToken)
  })
})

test('a JWT scheme and an introspection scheme on one route: the JWT never reaches the introspection endpoint', async (t) => {
  const as = await startIssuer(t)
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: {
      jwt: { type: 'bearer', jwt: { issuer: as.issuer, jwksUrl: as.jwksUri, audience: JWT_RESOURCE, algorithms: ['RS256'], typ: 'at+jwt' } },
      idp: { type: 'bearer', introspection: basicClient(as) }
    }
  })
  app.get('/me', { config: { auth: true } }, async (request) => ({ scheme: request.auth!.scheme, client: request.auth!.claims!.client_id }))
  const get = (token: string) => app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  const jwt = await as.token({ resource: JWT_RESOURCE })
  const opaque = await as.token({ resource: OPAQUE_RESOURCE })
  for (let i = 0; i < 3; i++) t.same((await get(jwt)).json(), { scheme: 'jwt', client: as.clients.basic.id })
  t.equal(as.hits(INTROSPECTION), 0, 'no JWT was introspected')
  t.same((await get(opaque)).json(), { scheme: 'idp', client: as.clients.basic.id })
  t.equal(as.hits(INTROSPECTION), 1, 'the opaque token was, once')
  t.same(as.errors, [])
})
