import t, { type Test } from 'tap'
import { createPublicKey, randomBytes, randomUUID } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { once } from 'node:events'
import { decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose'
import * as oauth from 'oauth4webapi'
import { ALGORITHM, AUDIENCE, ISSUER } from '../../examples/server.js'
import { client, dpopKey, listening, passwordGrant, postToken, type Modify } from './fixtures/dpop.js'
import { logCapture, p256 } from './fixtures/helpers.js'

// POST /token with a DPoP proof (RFC 9449 §5): oauth4webapi is the client, over a real socket.

// The texts the plugin uses for the same refusals on the resource routes.
const refusals = {
  repeated: 'The request carries more than one DPoP header',
  malformed: 'The DPoP proof is malformed',
  wrongType: 'The DPoP proof type is not dpop+jwt',
  unsupportedAlgorithm: 'The DPoP proof algorithm is not accepted',
  badKey: 'The DPoP proof key is not a usable public key',
  criticalHeader: 'The DPoP proof has a critical header parameter that is not supported',
  badSignature: 'The DPoP proof signature is invalid',
  missingClaim: 'The DPoP proof is missing a required claim',
  tooOld: 'The DPoP proof is too old',
  issuedInFuture: 'The DPoP proof was issued in the future',
  expired: 'The DPoP proof has expired',
  wrongMethod: 'The DPoP proof is for another HTTP method',
  wrongUri: 'The DPoP proof is for another URI',
  accessToken: 'The DPoP proof of a token request must not carry ath',
  replayed: 'The DPoP proof has been used before'
}

/** The whole answer to a refused proof: 400, RFC 6749 §5.2 form, never cached. */
async function assertRefused (t: Test, res: Response, description: string, what: string): Promise<void> {
  t.equal(res.status, 400, what)
  t.equal(res.headers.get('content-type'), 'application/json; charset=utf-8', what)
  t.equal(res.headers.get('cache-control'), 'no-store', what)
  t.equal(res.headers.get('pragma'), 'no-cache', what)
  t.equal(res.headers.get('www-authenticate'), null, what)
  t.equal(await res.text(), JSON.stringify({ error: 'invalid_dpop_proof', error_description: description }), what)
}

t.test('with an oauth4webapi DPoP proof, the password grant issues a JWT bound to the key: token_type DPoP and cnf.jkt', async (t) => {
  const key = p256()
  const { as } = await listening(t, { signingKey: key })
  const { handle, jkt } = await dpopKey()
  const res = await passwordGrant(as, handle)
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.equal(res.headers.get('pragma'), 'no-cache')
  const body = await res.clone().json() as Record<string, unknown>
  t.same(Object.keys(body), ['access_token', 'token_type', 'expires_in', 'scope'])
  t.same({ ...body, access_token: typeof body.access_token }, { access_token: 'string', token_type: 'DPoP', expires_in: 900, scope: 'me:read items:read items:write' })

  // The client takes the answer as a DPoP token response.
  const parsed = await oauth.processGenericTokenEndpointResponse(as, client, res)
  t.equal(parsed.token_type, 'dpop')

  const token = body.access_token as string
  t.same(decodeProtectedHeader(token), { alg: 'ES256', typ: 'at+jwt' })
  const { payload } = await jwtVerify(token, createPublicKey(key), { algorithms: [ALGORITHM], issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt' })
  t.same(payload.cnf, { jkt }, 'cnf.jkt is the RFC 7638 thumbprint of the proof key')
  t.equal(payload.sub, 'alice')
})

t.test('with a DPoP proof, an opaque token is issued with token_type DPoP', async (t) => {
  const { as } = await listening(t, { tokenFormat: 'opaque' })
  const { handle } = await dpopKey()
  const res = await passwordGrant(as, handle, 'bob', 'builder')
  t.equal(res.status, 200)
  const body = await res.json() as Record<string, unknown>
  t.match(body, { token_type: 'DPoP', expires_in: 900, scope: 'me:read items:read' })
  t.match(body.access_token, /^[A-Za-z0-9_-]{43}$/)
})

t.test('without a DPoP header the answer is what it was: a Bearer token with no cnf', async (t) => {
  const key = p256()
  const { as } = await listening(t, { signingKey: key })
  const res = await passwordGrant(as, undefined)
  t.equal(res.status, 200)
  const body = await res.json() as { access_token: string, token_type: string }
  t.equal(body.token_type, 'Bearer')
  const { payload } = await jwtVerify(body.access_token, createPublicKey(key), { algorithms: [ALGORITHM], issuer: ISSUER, audience: AUDIENCE })
  t.equal(payload.cnf, undefined)
})

t.test('proofs signed with PS256, RS256 and EdDSA keys are accepted too', async (t) => {
  const key = p256()
  const { as } = await listening(t, { signingKey: key })
  // oauth4webapi names an Ed25519 signature by RFC 9864's fully-specified Ed25519; the same
  // signature under the name EdDSA (RFC 8037) is what the list takes.
  const cases: Array<[string, Modify | undefined]> = [['PS256', undefined], ['RS256', undefined], ['Ed25519', (header) => { header.alg = 'EdDSA' }]]
  for (const [alg, modify] of cases) {
    const { handle, jkt } = await dpopKey({ alg, ...(modify === undefined ? {} : { modify }) })
    const res = await passwordGrant(as, handle)
    t.equal(res.status, 200, alg)
    const { access_token: token } = await res.json() as { access_token: string }
    const { payload } = await jwtVerify(token, createPublicKey(key), { algorithms: [ALGORITHM] })
    t.same(payload.cnf, { jkt }, alg)
  }
})

t.test('an Ed25519 proof as oauth4webapi names it (alg Ed25519, RFC 9864) is not on the list, as on the resource routes', async (t) => {
  const { as } = await listening(t)
  const { handle } = await dpopKey({ alg: 'Ed25519' })
  await assertRefused(t, await passwordGrant(as, handle), refusals.unsupportedAlgorithm, 'alg Ed25519')
})

t.test('the htu is compared as a URI: case, default port, dot segments, and its query and fragment do not matter', async (t) => {
  const { as, base } = await listening(t)
  const port = new URL(base).port
  const htus = [
    `HTTP://127.0.0.1:${port}/token`,
    `http://127.0.0.1:${port}/token?x=1`,
    `http://127.0.0.1:${port}/token#frag`,
    `http://127.0.0.1:${port}/a/../token`
  ]
  for (const htu of htus) {
    const { handle } = await dpopKey({ modify: (_header, payload) => { payload.htu = htu } })
    const res = await passwordGrant(as, handle)
    t.equal(res.status, 200, htu)
    t.equal((await res.json() as { token_type: string }).token_type, 'DPoP', htu)
  }
})

t.test('an iat within the window and its clock tolerance is accepted', async (t) => {
  const { as } = await listening(t)
  // 60 s back plus 5 s of tolerance; 3 s ahead within the 5 s of tolerance. A second is left for the test itself.
  for (const skew of [-63, 3]) {
    const { handle } = await dpopKey({ skew })
    const res = await passwordGrant(as, handle)
    t.equal(res.status, 200, `iat ${skew} s`)
  }
})

t.test('each proof that fails a check of RFC 9449 §4.3 is 400 invalid_dpop_proof, its fixed text echoing nothing', async (t) => {
  const { as, base } = await listening(t)
  const port = new URL(base).port
  const other = await dpopKey({ extractable: true })
  const otherJwk = await crypto.subtle.exportKey('jwk', other.keyPair.publicKey)
  const cases: Array<[string, { modify?: Modify, skew?: number, alg?: string }, string]> = [
    ['typ JWT', { modify: (header) => { header.typ = 'JWT' } }, refusals.wrongType],
    ['typ application/dpop+jwt (jose would take it; RFC 9449 §4.2 names dpop+jwt)', { modify: (header) => { header.typ = 'application/dpop+jwt' } }, refusals.wrongType],
    ['no typ', { modify: (header) => { delete header.typ } }, refusals.wrongType],
    ['alg HS256 in the header', { modify: (header) => { header.alg = 'HS256' } }, refusals.unsupportedAlgorithm],
    ['alg none', { modify: (header) => { header.alg = 'none' } }, refusals.unsupportedAlgorithm],
    ['an asymmetric alg not on the list (ES384)', { alg: 'ES384' }, refusals.unsupportedAlgorithm],
    ['no jwk', { modify: (header) => { delete header.jwk } }, refusals.badKey],
    ['a jwk that is not an object', { modify: (header) => { header.jwk = 'key' } }, refusals.badKey],
    ['a jwk of another key', { modify: (header) => { header.jwk = otherJwk as oauth.JsonValue } }, refusals.badSignature],
    ['a critical header parameter', { modify: (header) => { header.crit = ['urn:example:unknown']; header['urn:example:unknown'] = true } }, refusals.criticalHeader],
    ['htm GET', { modify: (_header, payload) => { payload.htm = 'GET' } }, refusals.wrongMethod],
    ['htm post (methods are case-sensitive)', { modify: (_header, payload) => { payload.htm = 'post' } }, refusals.wrongMethod],
    ['htu of another path', { modify: (_header, payload) => { payload.htu = `http://127.0.0.1:${port}/tokens` } }, refusals.wrongUri],
    ['htu of another scheme', { modify: (_header, payload) => { payload.htu = `https://127.0.0.1:${port}/token` } }, refusals.wrongUri],
    ['htu of another host', { modify: (_header, payload) => { payload.htu = `http://localhost:${port}/token` } }, refusals.wrongUri],
    ['htu that is a relative reference', { modify: (_header, payload) => { payload.htu = '/token' } }, refusals.wrongUri],
    ['htu that is not http(s)', { modify: (_header, payload) => { payload.htu = `ws://127.0.0.1:${port}/token` } }, refusals.wrongUri],
    ['iat 70 s ago', { skew: -70 }, refusals.tooOld],
    ['iat 30 s ahead', { skew: 30 }, refusals.issuedInFuture],
    ['an exp in the past', { modify: (_header, payload) => { payload.exp = (payload.iat as number) - 10 } }, refusals.expired],
    ['iat a string', { modify: (_header, payload) => { payload.iat = String(payload.iat) } }, refusals.malformed],
    ['an nbf ahead', { modify: (_header, payload) => { payload.nbf = (payload.iat as number) + 30 } }, refusals.malformed],
    ['no jti', { modify: (_header, payload) => { delete payload.jti } }, refusals.missingClaim],
    ['no htm', { modify: (_header, payload) => { delete payload.htm } }, refusals.missingClaim],
    ['no htu', { modify: (_header, payload) => { delete payload.htu } }, refusals.missingClaim],
    ['no iat', { modify: (_header, payload) => { delete payload.iat } }, refusals.missingClaim],
    ['an empty jti', { modify: (_header, payload) => { payload.jti = '' } }, refusals.malformed],
    ['a jti that is a number', { modify: (_header, payload) => { payload.jti = 42 } }, refusals.malformed],
    ['htm that is an array', { modify: (_header, payload) => { payload.htm = ['POST'] } }, refusals.malformed],
    ['htu that is a number', { modify: (_header, payload) => { payload.htu = 1 } }, refusals.malformed],
    ['an ath claim', { modify: (_header, payload) => { payload.ath = 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo' } }, refusals.accessToken]
  ]
  for (const [what, options, description] of cases) {
    const { handle } = await dpopKey(options)
    await assertRefused(t, await passwordGrant(as, handle), description, what)
  }
})

t.test('a proof whose jwk holds the private key is refused (RFC 9449 §4.3 check 7)', async (t) => {
  const { as } = await listening(t)
  const pair = await oauth.generateKeyPair('ES256', { extractable: true })
  const privateJwk = await crypto.subtle.exportKey('jwk', pair.privateKey)
  const handle = oauth.DPoP(client, pair, { [oauth.modifyAssertion]: (header) => { header.jwk = { kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x, y: privateJwk.y, d: privateJwk.d } as oauth.JsonValue } })
  await assertRefused(t, await passwordGrant(as, handle), refusals.badKey, 'private jwk')
})

t.test('a proof signed with a symmetric key, its secret in the jwk, is refused', async (t) => {
  const { base } = await listening(t)
  const secret = randomBytes(32)
  // A symmetric JWK, which jose's header type rightly does not expect.
  const jwk = { kty: 'oct', k: secret.toString('base64url') }
  const proof = await new SignJWT({ jti: randomUUID(), htm: 'POST', htu: `${base}/token` })
    .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk })
    .setIssuedAt()
    .sign(secret)
  await assertRefused(t, await postToken(base, { dpop: proof }), refusals.unsupportedAlgorithm, 'HS256')
})

t.test('a DPoP header that is no proof, or whose signature is broken, is refused', async (t) => {
  const { base } = await listening(t)
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const good = await new SignJWT({ jti: randomUUID(), htm: 'POST', htu: `${base}/token` })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
    .setIssuedAt()
    .sign(privateKey)
  const [header, payload, signature] = good.split('.') as [string, string, string]
  const tampered = `${header}.${Buffer.from(JSON.stringify({ jti: randomUUID(), htm: 'POST', htu: `${base}/token`, iat: Math.floor(Date.now() / 1000) })).toString('base64url')}.${signature}`
  const headers: Array<[string, string]> = [
    ['not a JWT', 'not-a-jwt'],
    ['an empty value', ''],
    ['two segments', `${header}.${payload}`],
  ]
  for (const [what, dpop] of headers) await assertRefused(t, await postToken(base, { dpop }), refusals.malformed, what)
  const forged: Array<[string, string]> = [
    ['a payload that is not the one signed', tampered],
    ['a signature of other bytes', `${header}.${payload}.${Buffer.from(signature, 'base64url').reverse().toString('base64url')}`]
  ]
  for (const [what, dpop] of forged) await assertRefused(t, await postToken(base, { dpop }), refusals.badSignature, what)
  // The untouched proof goes through: the refusals above are the edits.
  t.equal((await postToken(base, { dpop: good })).status, 200)
})

t.test('a jti is used once: the same proof, or another proof with its jti, is refused', async (t) => {
  const { as, base } = await listening(t)
  const jti = randomUUID()
  const { handle } = await dpopKey({ modify: (_header, payload) => { payload.jti = jti } })
  t.equal((await passwordGrant(as, handle)).status, 200)
  await assertRefused(t, await passwordGrant(as, handle), refusals.replayed, 'the jti again, in a fresh proof')

  // The very same bytes, replayed.
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const proof = await new SignJWT({ jti: randomUUID(), htm: 'POST', htu: `${base}/token` })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
    .setIssuedAt()
    .sign(privateKey)
  t.equal((await postToken(base, { dpop: proof })).status, 200)
  await assertRefused(t, await postToken(base, { dpop: proof }), refusals.replayed, 'the same proof twice')

  // A jti is scoped to its key: another client may happen to pick the same one.
  const { handle: otherHandle } = await dpopKey({ modify: (_header, payload) => { payload.jti = jti } })
  t.equal((await passwordGrant(as, otherHandle)).status, 200, 'the same jti from another key')
})

t.test('two DPoP header lines on the wire are refused, even when each proof is good', async (t) => {
  const { base } = await listening(t)
  const first = await dpopKey()
  const second = await dpopKey()
  const proofs: string[] = []
  for (const { handle } of [first, second]) {
    const headers = new Headers()
    // oauth4webapi's proof for this URL, taken off the request it would send.
    await oauth.genericTokenEndpointRequest({ issuer: ISSUER, token_endpoint: `${base}/token` }, client, oauth.None(), 'password', {}, {
      DPoP: handle,
      [oauth.allowInsecureRequests]: true,
      [oauth.customFetch]: async (_url, init) => {
        headers.set('dpop', new Headers(init.headers).get('dpop') as string)
        return new Response('{}', { status: 400, headers: { 'content-type': 'application/json' } })
      }
    })
    proofs.push(headers.get('dpop') as string)
  }
  const body = 'grant_type=password&username=alice&password=wonderland'
  const req = httpRequest(`${base}/token`, { method: 'POST' })
  req.setHeader('content-type', 'application/x-www-form-urlencoded')
  req.setHeader('content-length', Buffer.byteLength(body))
  // An array sends one header line per value.
  req.setHeader('dpop', proofs)
  req.end(body)
  const [res] = await once(req, 'response') as [import('node:http').IncomingMessage]
  let text = ''
  for await (const chunk of res) text += String(chunk)
  t.equal(res.statusCode, 400)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(text, JSON.stringify({ error: 'invalid_dpop_proof', error_description: refusals.repeated }))
  t.notMatch(text, proofs[0] as string)
})

t.test('oauth4webapi reads a refusal as the invalid_dpop_proof error of RFC 9449 §5', async (t) => {
  const { as } = await listening(t)
  const { handle } = await dpopKey({ modify: (header) => { header.typ = 'JWT' } })
  const res = await passwordGrant(as, handle)
  await t.rejects(oauth.processGenericTokenEndpointResponse(as, client, res), { code: oauth.RESPONSE_BODY_ERROR, error: 'invalid_dpop_proof', status: 400 })
})

t.test('the proof is checked after the form and before the password', async (t) => {
  const { as, base } = await listening(t)
  // A bad proof and a wrong password: the proof is refused, and nothing is said of the password.
  const bad = await dpopKey({ modify: (_header, payload) => { payload.htm = 'GET' } })
  await assertRefused(t, await passwordGrant(as, bad.handle, 'alice', 'wrong'), refusals.wrongMethod, 'wrong password, bad proof')
  // A good proof and a wrong password: invalid_grant, as without DPoP.
  const good = await dpopKey()
  const res = await passwordGrant(as, good.handle, 'alice', 'wrong')
  t.equal(res.status, 400)
  t.same(await res.json(), { error: 'invalid_grant', error_description: 'The username or password is incorrect' })
  // A request that is no password grant is answered as such, whatever its proof.
  const notAForm = await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/json', dpop: 'not-a-jwt' }, body: '{}' })
  t.equal(notAForm.status, 400)
  t.same(await notAForm.json(), { error: 'invalid_request', error_description: 'The request body must be application/x-www-form-urlencoded' })
})

t.test('with publicOrigin, the htu must name that origin, not the one the request came to', async (t) => {
  const { as, base } = await listening(t, { publicOrigin: 'https://api.example' })
  const atPublic = await dpopKey({ modify: (_header, payload) => { payload.htu = 'https://api.example/token' } })
  const res = await passwordGrant(as, atPublic.handle)
  t.equal(res.status, 200)
  t.equal((await res.json() as { token_type: string }).token_type, 'DPoP')
  // oauth4webapi's own htu is the URL it posted to: http://127.0.0.1:<port>/token.
  const { handle } = await dpopKey()
  await assertRefused(t, await passwordGrant(as, handle), refusals.wrongUri, `htu ${base}/token`)
})

t.test('without publicOrigin, a Host header that names no host matches no htu', async (t) => {
  const { app, base } = await listening(t)
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const proof = await new SignJWT({ jti: randomUUID(), htm: 'POST', htu: `${base}/token` })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
    .setIssuedAt()
    .sign(privateKey)
  const res = await app.inject({
    method: 'POST',
    url: '/token',
    headers: { host: 'bad host', 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
    payload: 'grant_type=password&username=alice&password=wonderland'
  })
  t.equal(res.statusCode, 400)
  t.equal(res.body, JSON.stringify({ error: 'invalid_dpop_proof', error_description: refusals.wrongUri }))
})

t.test('a refused proof is logged by its error code only, never the proof', async (t) => {
  const capture = logCapture()
  const { as } = await listening(t, { logger: { level: 'info', stream: capture } })
  const { handle } = await dpopKey({ modify: (header) => { header.typ = 'JWT' } })
  const res = await passwordGrant(as, handle)
  t.equal(res.status, 400)
  const refused = capture.lines.filter((line) => line.includes('"msg":"token request refused"'))
  t.equal(refused.length, 1)
  t.match(refused[0], '"error":"invalid_dpop_proof"')
  t.notMatch(capture.lines.join(''), /eyJ/, 'no JWS in the log')
})

t.test('a DPoP-bound token is logged as such', async (t) => {
  const capture = logCapture()
  const { as } = await listening(t, { logger: { level: 'info', stream: capture } })
  const { handle } = await dpopKey()
  t.equal((await passwordGrant(as, handle)).status, 200)
  t.ok(capture.lines.some((line) => line.includes('"msg":"access token issued"') && line.includes('"tokenType":"DPoP"')))
})
