// The DPoP side of the interop harness, without the plugin: oidc-provider really binds the tokens
// it issues to the client's key, and oauth4webapi's proofs and requests are what RFC 9449 says.
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader } from 'jose'
import { test } from 'tap'
import { dpopKey, dpopProof, resourceRequest, type DpopAlg } from '../helpers/dpop-client.js'
import { JWT_RESOURCE, OPAQUE_RESOURCE, startIssuer } from '../helpers/oidc-provider.js'

const ath = (token: string): string => createHash('sha256').update(token).digest('base64url')

test('a DPoP-bound JWT access token carries cnf.jkt, the thumbprint of the client\'s key', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const key = await dpopKey('ES256')
  const jkt = await calculateJwkThumbprint(key.publicJwk)
  t.equal(await key.handle.calculateThumbprint(), jkt, 'oauth4webapi and jose agree on the thumbprint')

  const answer = await as.dpopTokenResponse({ key, resource: JWT_RESOURCE, scope: 'read write' })
  t.equal(answer.token_type, 'dpop', 'issued as a DPoP token')
  t.match(decodeProtectedHeader(answer.access_token), { typ: 'at+jwt', alg: 'RS256' })
  t.match(decodeJwt(answer.access_token), { iss: as.issuer, aud: JWT_RESOURCE, scope: 'read write', cnf: { jkt } }, 'bound to the key')
  t.same(decodeJwt(await as.token()).cnf, undefined, 'a token asked for without a proof is a bearer token')
  t.same(as.errors, [])
})

test('a DPoP-bound opaque token is introspected with cnf.jkt and token_type DPoP', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const key = await dpopKey('ES256')
  const jkt = await calculateJwkThumbprint(key.publicJwk)
  const token = await as.dpopToken({ key, resource: OPAQUE_RESOURCE, scope: 'read' })
  t.notOk(token.includes('.'), 'opaque')
  t.match(await as.introspect(token), { active: true, aud: OPAQUE_RESOURCE, scope: 'read', token_type: 'DPoP', cnf: { jkt } })
  const bearer = await as.introspect(await as.token({ resource: OPAQUE_RESOURCE }))
  t.match(bearer, { active: true, token_type: 'Bearer' })
  t.equal(bearer.cnf, undefined, 'a bearer token has no cnf')
  t.same(as.errors, [])
})

test('the provider takes proofs of every key type the plugin accepts by default', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  for (const alg of ['ES256', 'PS256', 'RS256', 'EdDSA', 'Ed25519'] satisfies DpopAlg[]) {
    const key = await dpopKey(alg)
    const token = await as.dpopToken({ key })
    t.equal((decodeJwt(token).cnf as { jkt?: string } | undefined)?.jkt, await calculateJwkThumbprint(key.publicJwk), alg)
  }
  t.same(as.errors, [])
})

test('dpopToken refuses to run on an issuer started without dpop', async (t) => {
  const as = await startIssuer(t)
  await t.rejects(as.dpopToken({ key: await dpopKey() }), /dpop: true/)
})

test('an oauth4webapi proof is a dpop+jwt for the method, the URL without its query, and the token', async (t) => {
  const key = await dpopKey('ES256')
  const token = 'an-access-token'
  const before = Math.floor(Date.now() / 1000)
  const proof = await dpopProof(key, 'post', 'http://127.0.0.1:8080/orders/7?x=1#frag', token)
  t.same(decodeProtectedHeader(proof), { alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: 'EC', crv: 'P-256', x: key.publicJwk.x, y: key.publicJwk.y } })
  const claims = decodeJwt(proof)
  t.match(claims, { htm: 'POST', htu: 'http://127.0.0.1:8080/orders/7', ath: ath(token) })
  t.type(claims.jti, 'string')
  t.ok(claims.iat! >= before && claims.iat! <= before + 1, 'iat: now')
  t.equal(claims.nonce, undefined, 'no nonce unless asked')

  const again = decodeJwt(await dpopProof(key, 'POST', 'http://127.0.0.1:8080/orders/7', token, { nonce: 'n-1', claims: { iat: 1 } }))
  t.not(again.jti, claims.jti, 'a fresh jti per proof')
  t.match(again, { nonce: 'n-1', iat: 1 })

  t.equal(decodeProtectedHeader(await dpopProof(await dpopKey('EdDSA'), 'GET', 'http://h/', token)).alg, 'EdDSA')
  t.equal(decodeProtectedHeader(await dpopProof(await dpopKey('Ed25519'), 'GET', 'http://h/', token)).alg, 'Ed25519', 'oauth4webapi\'s own label for an Ed25519 key')
})

test('resourceRequest sends the token as DPoP with a proof (Bearer without a key), keeps each header line, and caches DPoP-Nonce', async (t) => {
  const received: IncomingHttpHeaders[] = []
  const server = createServer((req, res) => {
    received.push(req.headers)
    res.setHeader('www-authenticate', ['Bearer realm="api"', 'DPoP algs="ES256", error="use_dpop_nonce", error_description="x"'])
    res.setHeader('dpop-nonce', 'server-nonce')
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"a":1}')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/me?q=1`
  const key = await dpopKey('ES256')

  const first = await resourceRequest('tok', 'GET', url, { key })
  t.equal(first.status, 401)
  t.same(first.lines('www-authenticate'), ['Bearer realm="api"', 'DPoP algs="ES256", error="use_dpop_nonce", error_description="x"'], 'two lines, as sent')
  t.same(first.json(), { a: 1 })
  t.same(first.challenge?.cause.map((challenge) => challenge.scheme), ['bearer', 'dpop'], 'oauth4webapi parsed both challenges')
  t.equal(received[0]!.authorization, 'DPoP tok')
  t.match(decodeJwt(received[0]!.dpop as string), { htm: 'GET', htu: url.replace('?q=1', ''), ath: ath('tok') })
  t.equal(decodeJwt(received[0]!.dpop as string).nonce, undefined)

  await resourceRequest('tok', 'GET', url, { key })
  t.equal(decodeJwt(received[1]!.dpop as string).nonce, 'server-nonce', 'the next proof to that origin carries the nonce')

  await resourceRequest('tok', 'GET', url)
  t.equal(received[2]!.authorization, 'Bearer tok')
  t.equal(received[2]!.dpop, undefined)
})
