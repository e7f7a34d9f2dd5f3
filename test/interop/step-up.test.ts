// Step-up (RFC 9470) against oidc-provider: its at+jwt access tokens carry acr and auth_time
// (RFC 9470 §6.1), verified through its JWKS, refused with insufficient_user_authentication.
import { test } from 'tap'
import { decodeJwt } from 'jose'
import Fastify from 'fastify'
import protectedRoutes from '../../lib/index.js'
import { JWT_RESOURCE, startIssuer } from '../helpers/oidc-provider.js'

const DESCRIPTION = 'The authentication behind the access token is not strong or recent enough'
const stepUp = `Bearer realm="api", error="insufficient_user_authentication", error_description="${DESCRIPTION}", acr_values="mfa", max_age="300"`
const refusedBody = { statusCode: 401, code: 'FST_PROTECTED_ROUTES_INSUFFICIENT_USER_AUTHENTICATION', error: 'Unauthorized', message: DESCRIPTION }
const now = (): number => Math.floor(Date.now() / 1000)

test('oidc-provider tokens: a strong, recent authentication passes; a weak, stale or unstated one gets the step-up 401', async (t) => {
  const as = await startIssuer(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, {
    schemes: { idp: { type: 'bearer', jwt: { issuer: as.issuer, jwksUrl: as.jwksUri, audience: JWT_RESOURCE, algorithms: ['RS256'], typ: 'at+jwt' } } }
  })
  app.get('/transfer', { config: { auth: { acr: ['mfa'], maxAge: 300 } } }, async (request) => ({ acr: request.auth?.claims?.acr }))
  app.get('/admin', { config: { auth: { acr: ['mfa'], maxAge: 300, scopes: ['admin'] } } }, async () => 'ok')
  const get = async (url: string, token: string) => await app.inject({ url, headers: { authorization: `Bearer ${token}` } })

  const strong = await as.token({ resource: JWT_RESOURCE, scope: 'read', claims: { acr: 'mfa', auth_time: now() - 60 } })
  t.match(decodeJwt(strong), { iss: as.issuer, acr: 'mfa' }, 'the provider put the claims in the token')
  const ok = await get('/transfer', strong)
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { acr: 'mfa' })

  const refusals: Array<[string, Record<string, unknown> | undefined]> = [
    ['a weaker acr', { acr: 'pwd', auth_time: now() - 60 }],
    ['an authentication ten minutes old', { acr: 'mfa', auth_time: now() - 600 }],
    ['no acr and no auth_time', undefined]
  ]
  for (const [what, claims] of refusals) {
    const token = await as.token({ resource: JWT_RESOURCE, scope: 'read', ...(claims === undefined ? {} : { claims }) })
    const res = await get('/transfer', token)
    t.equal(res.statusCode, 401, what)
    t.equal(res.headers['www-authenticate'], stepUp, `${what}: the challenge`)
    t.same(res.json(), refusedBody, `${what}: the body`)
  }

  // Strength first: a weak token without the scope learns to re-authenticate; a strong one, that it lacks the scope.
  t.equal((await get('/admin', await as.token({ resource: JWT_RESOURCE, scope: 'read', claims: { acr: 'pwd', auth_time: now() } }))).statusCode, 401)
  t.equal((await get('/admin', strong)).statusCode, 403)
  t.equal((await get('/admin', await as.token({ resource: JWT_RESOURCE, scope: 'admin', claims: { acr: 'mfa', auth_time: now() } }))).statusCode, 200)
  t.same(as.errors, [], 'the provider reported no error')
})
