// RFC 9449 §9 resource-server nonces against oauth4webapi's client: it learns the nonce from the
// use_dpop_nonce answer's DPoP-Nonce header and retries, as its documentation has clients do.
// Nonces are an HMAC of a time window, so instances that share the secret share the nonces.
import { randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import * as oauth from 'oauth4webapi'
import { test, type Test } from 'tap'
import protectedRoutes, { type JwtOptions } from '../../lib/index.js'
import { UseDpopNonceError } from '../../lib/errors.js'
import { fresh, listen } from '../helpers/app.js'
import { assertAnswer, BEARER, dpopError } from '../helpers/dpop-app.js'
import { dpopKey, dpopProof, resourceRequest, wireRequest, type ResourceResponse } from '../helpers/dpop-client.js'
import { JWT_RESOURCE, startIssuer, type Issuer } from '../helpers/oidc-provider.js'

const USE_NONCE = new UseDpopNonceError().message
const secret = (): string => randomBytes(32).toString('base64url')

/** A fresh Fastify on 127.0.0.1 with DPoP nonces from `nonceSecret`; it records each request's proof. */
async function resourceServer (t: Test, as: Issuer, nonceSecret: string, dpop: Record<string, unknown> = {}) {
  const jwt = { jwksUrl: as.jwksUri, issuer: as.issuer, audience: JWT_RESOURCE, algorithms: ['RS256'] } as JwtOptions
  const app = fresh(t)
  const proofs: string[] = []
  // Added before the plugin, so it runs before the plugin refuses the request.
  app.addHook('onRequest', async (request) => { proofs.push(String(request.headers.dpop)) })
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', jwt, dpop: { nonce: { secret: nonceSecret }, ...dpop } } } })
  let handled = 0
  app.get('/me', { config: { auth: true } }, async (request) => {
    handled++
    return { jkt: request.auth?.dpop?.jkt }
  })
  const port = await listen(app)
  return { port, url: `http://127.0.0.1:${port}/me`, proofs, handled: () => handled }
}

/** The retry loop oauth4webapi documents: once more when the error is isDPoPNonceError. */
async function callWithRetry (call: () => Promise<ResourceResponse>): Promise<ResourceResponse[]> {
  const first = await call()
  if (first.challenge === undefined || !oauth.isDPoPNonceError(first.challenge)) return [first]
  return [first, await call()]
}

test('the first request is 401 use_dpop_nonce with a DPoP-Nonce; oauth4webapi\'s retry with it is 200', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as, secret())
  const key = await dpopKey()
  const token = await as.dpopToken({ key })

  const [first, retry, ...more] = await callWithRetry(() => resourceRequest(token, 'GET', rs.url, { key }))
  t.same(more, [], 'one retry')
  assertAnswer(t, first!, 'use_dpop_nonce', USE_NONCE, [BEARER, dpopError('use_dpop_nonce', USE_NONCE)])
  const nonces = first!.lines('dpop-nonce')
  t.equal(nonces.length, 1, 'one DPoP-Nonce header')
  t.match(nonces[0], /^[A-Za-z0-9_-]{43}$/, 'an HMAC-SHA-256, base64url')
  t.ok(oauth.isDPoPNonceError(first!.challenge), 'oauth4webapi reads it as a nonce error')
  t.equal(decodeJwt(rs.proofs[0]!).nonce, undefined, 'the first proof had no nonce')

  t.equal(retry!.status, 200, 'the retry')
  t.same(retry!.json(), { jkt: await key.handle.calculateThumbprint() })
  t.equal(decodeJwt(rs.proofs[1]!).nonce, nonces[0], 'the retry\'s proof carried the nonce handed out')
  t.equal(rs.handled(), 1, 'the handler ran for the retry only')

  const [later] = await callWithRetry(() => resourceRequest(token, 'GET', rs.url, { key }))
  t.equal(later!.status, 200, 'later requests carry the cached nonce: no more retries')
  t.equal(rs.proofs.length, 3)
})

test('a nonce the server never handed out is use_dpop_nonce, with the current one', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const rs = await resourceServer(t, as, secret())
  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  const current = (await resourceRequest(token, 'GET', rs.url, { key: await dpopKey() })).lines('dpop-nonce')[0]
  const res = await wireRequest('GET', rs.url, { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', rs.url, token, { nonce: 'not-a-nonce-of-this-server' }) })
  assertAnswer(t, res, 'use_dpop_nonce', USE_NONCE, [BEARER, dpopError('use_dpop_nonce', USE_NONCE)])
  t.same(res.lines('dpop-nonce'), [current])
  t.equal(rs.handled(), 0)
})

test('two instances with the same secret accept each other\'s nonce; one with another secret does not', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const shared = secret()
  const a = await resourceServer(t, as, shared)
  const b = await resourceServer(t, as, shared)
  const c = await resourceServer(t, as, secret())
  const key = await dpopKey()
  const token = await as.dpopToken({ key })

  const fromA = (await resourceRequest(token, 'GET', a.url, { key })).lines('dpop-nonce')[0]!
  t.ok(fromA, 'A handed out a nonce')
  const onB = await wireRequest('GET', b.url, { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', b.url, token, { nonce: fromA }) })
  t.equal(onB.status, 200, 'B accepts A\'s nonce')
  t.equal(b.handled(), 1)

  const onC = await wireRequest('GET', c.url, { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', c.url, token, { nonce: fromA }) })
  assertAnswer(t, onC, 'use_dpop_nonce', USE_NONCE, [BEARER, dpopError('use_dpop_nonce', USE_NONCE)])
  t.not(onC.lines('dpop-nonce')[0], fromA, 'C hands out its own')
  t.equal(c.handled(), 0)
})

test('behind one public origin, oauth4webapi uses the nonce A handed out on B without a retry', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const shared = secret()
  const a = await resourceServer(t, as, shared, { origin: 'https://api.example' })
  const b = await resourceServer(t, as, shared, { origin: 'https://api.example' })
  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  const url = 'https://api.example/me'

  const [first, retry] = await callWithRetry(() => resourceRequest(token, 'GET', url, { key, via: a.port }))
  t.equal(first!.status, 401, 'A: use_dpop_nonce')
  t.equal(retry!.status, 200, 'A: the retry')
  const [onB, ...retries] = await callWithRetry(() => resourceRequest(token, 'GET', url, { key, via: b.port }))
  t.equal(onB!.status, 200, 'B: the first request, with the nonce cached for https://api.example')
  t.same(retries, [], 'no retry')
  t.equal(decodeJwt(b.proofs[0]!).nonce, first!.lines('dpop-nonce')[0])
})
