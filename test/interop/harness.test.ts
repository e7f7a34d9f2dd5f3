// The oidc-provider harness itself: real tokens, real introspection, through oauth4webapi.
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { test } from 'tap'
import { JWT_RESOURCE, OPAQUE_RESOURCE, startIssuer } from '../helpers/oidc-provider.js'

test('the provider issues an at+jwt for a resource and an opaque token it introspects', async (t) => {
  const as = await startIssuer(t)

  const jwt = await as.token({ resource: JWT_RESOURCE, scope: 'read write' })
  t.match(decodeProtectedHeader(jwt), { alg: 'RS256', typ: 'at+jwt', kid: as.kids.RS256 }, 'header')
  t.match(decodeJwt(jwt), { iss: as.issuer, aud: JWT_RESOURCE, client_id: as.clients.basic.id, scope: 'read write' }, 'claims')

  const opaque = await as.token({ resource: OPAQUE_RESOURCE, client: 'post' })
  t.notOk(opaque.includes('.'), 'opaque: not a JWS')
  t.match(await as.introspect(opaque), { active: true, iss: as.issuer, aud: OPAQUE_RESOURCE, client_id: as.clients.post.id, scope: 'read' }, 'introspected')

  await as.revoke(opaque)
  t.same(await as.introspect(opaque, 'post'), { active: false }, 'revoked')
  t.same(as.errors, [], 'the provider reported no error')
})

test('the harness offers a path issuer, per-token alg, ttl and claims, key rotation, faults and a restart on the same port', async (t) => {
  const as = await startIssuer(t, { path: '/tenant-b', started: false })
  t.equal(as.issuer, `${as.origin}/tenant-b`, 'issuer with a path')
  await t.rejects(fetch(as.jwksUri), 'down until started')
  await as.start()

  const metadata = await (await fetch(as.oauthMetadataUrl)).json() as Record<string, unknown>
  t.match(metadata, { issuer: as.issuer, jwks_uri: as.jwksUri, introspection_endpoint: as.introspectionEndpoint }, 'RFC 8414 path-inserted metadata')

  const authTime = Math.floor(Date.now() / 1000) - 60
  const es = await as.token({ alg: 'ES256', ttl: 5, claims: { acr: 'mfa', auth_time: authTime } })
  t.match(decodeProtectedHeader(es), { alg: 'ES256', kid: as.kids.ES256 }, 'ES256 on request')
  const payload = decodeJwt(es)
  t.equal(payload.exp! - payload.iat!, 5, 'ttl on request')
  t.match(payload, { iss: as.issuer, acr: 'mfa', auth_time: authTime }, 'extra claims')

  const before = as.kids.RS256
  const kid = await as.rotate('RS256')
  t.not(kid, before, 'a new kid')
  t.equal(decodeProtectedHeader(await as.token()).kid, kid, 'signs with the new key')
  const jwks = await (await fetch(as.jwksUri)).json() as { keys: Array<{ kid: string }> }
  t.ok(jwks.keys.some((key) => key.kid === before) && jwks.keys.some((key) => key.kid === kid), 'both keys published')

  as.fault('/jwks', { status: 503 })
  t.equal((await fetch(as.jwksUri)).status, 503, 'a fault on a path')
  as.fault('/jwks', { delay: 5000 })
  await t.rejects(fetch(as.jwksUri, { signal: AbortSignal.timeout(100) }), 'a slow path')
  as.fault('/jwks', undefined)
  t.equal(as.hits('/jwks'), 3, 'hits counted per path, faults included')

  const opaque = await as.token({ resource: OPAQUE_RESOURCE })
  await as.stop()
  await t.rejects(fetch(as.jwksUri), 'stopped')
  await as.start()
  t.match(await as.introspect(opaque), { active: true }, 'tokens outlive a restart and a rotation')
  t.same(as.errors, [], 'the provider reported no error')
})
