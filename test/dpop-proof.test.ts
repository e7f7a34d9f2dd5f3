import t, { type Test } from 'tap'
import { base64url, CompactSign, SignJWT, type JWK } from 'jose'
import { dpopDescriptions, jwtDescriptions } from '../lib/errors.js'
import { errorBody } from './helpers/app.js'
import { ath, BEARER, clientKey, DPOP, dpopApp, dpopRefusal, NOW, ORIGIN, proof, type DpopHarness } from './helpers/dpop.js'
import { encodePart } from './helpers/jwt.js'

// Every check of RFC 9449 §4.3 on a DPoP request, each refused with 401 invalid_dpop_proof on the
// DPoP challenge (§7.1), the Bearer one offered plain beside it; nothing of the proof echoed.

function assertProofRefused (t: Test, res: Awaited<ReturnType<DpopHarness['call']>>, description: string): void {
  t.equal(res.statusCode, 401, 'status')
  t.same(res.headers['www-authenticate'], dpopRefusal('invalid_dpop_proof', description), 'challenges')
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_DPOP_PROOF', description), 'body')
}

/** Sends `dpop` as the proof of a bound token. */
async function withProof (h: DpopHarness, dpop: string, token?: string, url = '/me'): Promise<Awaited<ReturnType<DpopHarness['call']>>> {
  return await h.app.inject({ url, headers: { authorization: `DPoP ${token ?? await h.token()}`, dpop } })
}

t.test('a bound token with a valid proof is accepted: request.auth.dpop is the key thumbprint', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  const res = await h.call(token)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['www-authenticate'], undefined)
  t.equal(res.headers['dpop-nonce'], undefined, 'no nonces configured')
  t.same(res.json().auth.dpop, { jkt: h.key.jkt })
  t.equal(res.json().auth.scheme, 'bearerAuth')
  // The scheme name is case-insensitive (RFC 9110 §11.1).
  const lower = await h.app.inject({ url: '/me', headers: { authorization: `dpop ${token}`, dpop: await proof(h.key, { token }) } })
  t.equal(lower.statusCode, 200)
  const post = await h.call(token, { method: 'POST' })
  t.equal(post.statusCode, 200, 'htm is the request method')
})

t.test('a bearer token on the same scheme has no request.auth.dpop', async (t) => {
  const h = await dpopApp(t)
  const res = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${await h.bearerToken()}` } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().auth.dpop, undefined)
})

t.test('no proof with a DPoP token', async (t) => {
  const h = await dpopApp(t)
  assertProofRefused(t, await h.app.inject({ url: '/me', headers: { authorization: `DPoP ${await h.token()}` } }), dpopDescriptions.missing)
})

t.test('a proof that is not one compact JWS, or too long', async (t) => {
  const h = await dpopApp(t)
  for (const dpop of ['not-a-jwt', 'a.b', 'a.b.', 'a.b.c.d', `${'a'.repeat(8190)}.b.c`]) {
    assertProofRefused(t, await withProof(h, dpop), dpopDescriptions.malformed)
  }
  // Well-formed segments, a header that is not JSON.
  assertProofRefused(t, await withProof(h, `${base64url.encode('not json')}.${encodePart({})}.c2ln`), dpopDescriptions.malformed)
})

t.test('typ must be dpop+jwt', async (t) => {
  const h = await dpopApp(t)
  for (const typ of ['JWT', 'at+jwt', 'application/dpop+jwt', 'DPOP+JWT', undefined]) {
    assertProofRefused(t, await withProof(h, await proof(h.key, { header: { typ } })), dpopDescriptions.wrongType)
  }
})

t.test('alg must be one of the accepted asymmetric algorithms', async (t) => {
  const h = await dpopApp(t, { dpop: { algorithms: ['ES256'] } })
  const rsa = await clientKey('PS256')
  const res = await withProof(h, await proof(rsa))
  t.equal(res.statusCode, 401)
  t.same(res.headers['www-authenticate'], [BEARER, 'DPoP algs="ES256", error="invalid_dpop_proof", error_description="The DPoP proof algorithm is not accepted"'])
  // HS256 with a key header: a MAC is no proof of possession.
  const mac = `${encodePart({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } })}.${encodePart({ jti: 'x', htm: 'GET', htu: `${ORIGIN}/me`, iat: NOW })}.c2ln`
  t.equal((await withProof(h, mac)).json().message, dpopDescriptions.unsupportedAlgorithm)
  const none = `${encodePart({ alg: 'none', typ: 'dpop+jwt', jwk: h.key.publicJwk })}.${encodePart({ jti: 'x', htm: 'GET', htu: `${ORIGIN}/me`, iat: NOW })}.c2ln`
  t.equal((await withProof(h, none)).json().message, dpopDescriptions.unsupportedAlgorithm)
  const noAlg = `${encodePart({ typ: 'dpop+jwt', jwk: h.key.publicJwk })}.${encodePart({})}.c2ln`
  t.equal((await withProof(h, noAlg)).json().message, dpopDescriptions.unsupportedAlgorithm)
})

t.test('jwk must be a public key that imports for alg', async (t) => {
  const h = await dpopApp(t)
  const privateJwk = { ...h.key.publicJwk, d: 'AAAA' }
  const cases: Record<string, unknown> = {
    'no jwk': undefined,
    'a string': 'key',
    'an array': [h.key.publicJwk],
    'a private key (d)': privateJwk,
    'a symmetric key (k)': { kty: 'oct', k: 'c2VjcmV0' },
    'a key of another type than alg': (await clientKey('EdDSA')).publicJwk,
    'a broken EC point': { ...h.key.publicJwk, x: 'AAAA' }
  }
  for (const [what, jwk] of Object.entries(cases)) {
    const header = `${encodePart({ alg: 'ES256', typ: 'dpop+jwt', ...(jwk === undefined ? {} : { jwk }) })}`
    const res = await withProof(h, `${header}.${encodePart({ jti: 'x', htm: 'GET', htu: `${ORIGIN}/me`, iat: NOW })}.c2ln`)
    t.equal(res.json().message, dpopDescriptions.badKey, what)
    t.notMatch(res.body, /AAAA|c2VjcmV0/, 'nothing of the proof echoed')
  }
})

t.test('the signature must verify with the jwk of the header', async (t) => {
  const h = await dpopApp(t)
  const other = await clientKey()
  // Signed by another key than the one its header names.
  const forged = await new SignJWT({ jti: 'x', htm: 'GET', htu: `${ORIGIN}/me`, iat: NOW })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: h.key.publicJwk as JWK } as never).sign(other.privateKey)
  assertProofRefused(t, await withProof(h, forged), dpopDescriptions.badSignature)
})

t.test('a crit header is refused', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  const signed = await new SignJWT({ jti: 'x', htm: 'GET', htu: `${ORIGIN}/me`, iat: NOW, ath: ath(token) })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: h.key.publicJwk, crit: ['urn:example:x'], 'urn:example:x': 1 } as never)
    .sign(h.key.privateKey, { crit: { 'urn:example:x': true } })
  assertProofRefused(t, await withProof(h, signed, token), dpopDescriptions.criticalHeader)
})

t.test('jti, htm, htu and iat are required, with their types', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  for (const claim of ['jti', 'htm', 'htu', 'iat']) {
    assertProofRefused(t, await h.call(token, { claims: { [claim]: undefined } }), dpopDescriptions.missingClaim)
  }
  for (const [claim, value] of [['jti', 7], ['jti', ''], ['htm', ['GET']], ['htu', 1], ['iat', 'now']] as const) {
    assertProofRefused(t, await h.call(token, { claims: { [claim]: value } }), dpopDescriptions.malformed)
  }
  // A claims set that is not a JSON object, signed: jose's JWTInvalid.
  const notClaims = await new CompactSign(new TextEncoder().encode('[1]'))
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: h.key.publicJwk as JWK } as never).sign(h.key.privateKey)
  assertProofRefused(t, await withProof(h, notClaims, token), dpopDescriptions.malformed)
})

t.test('an oversized jti is refused before anything is recorded', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  assertProofRefused(t, await h.call(token, { claims: { jti: 'j'.repeat(257) } }), dpopDescriptions.idTooLong)
  t.equal((await h.call(token, { claims: { jti: 'j'.repeat(256) } })).statusCode, 200, '256 characters are enough')
})

t.test('htm must be the request method, exactly', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  assertProofRefused(t, await h.call(token, { htm: 'POST' }), dpopDescriptions.wrongMethod)
  assertProofRefused(t, await h.call(token, { htm: 'get' }), dpopDescriptions.wrongMethod)
})

t.test('htu must be the request URI without query, compared after RFC 3986 normalisation', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  const accepted = ['http://localhost/me', 'HTTP://LOCALHOST:80/me', 'http://localhost:80/me?x=1', 'http://localhost:80/me#f', 'http://localhost:80/%6De', 'http://localhost:80/a/../me']
  for (const htu of accepted) t.equal((await h.call(token, { htu })).statusCode, 200, htu)
  const refused = ['http://localhost:80/ME', 'https://localhost/me', 'http://localhost:8080/me', 'http://evil.example/me', 'http://localhost:80/me/', 'http://user@localhost:80/me', 'not a uri', 'ftp://localhost/me']
  for (const htu of refused) assertProofRefused(t, await h.call(token, { htu }), dpopDescriptions.wrongUri)
  // The request's query is not part of it either.
  t.equal((await h.call(token, { url: '/me?page=2' })).statusCode, 200, 'a request with a query')
})

t.test('a configured origin is what htu names, whatever Host says', async (t) => {
  const h = await dpopApp(t, { dpop: { origin: 'https://api.example' } })
  const token = await h.token()
  t.equal((await h.call(token, { htu: 'https://api.example/me' })).statusCode, 200)
  assertProofRefused(t, await h.call(token), dpopDescriptions.wrongUri)
})

t.test('iat: at most proofMaxAge old and clockTolerance in the future, at both edges', async (t) => {
  const h = await dpopApp(t, { dpop: { proofMaxAge: 60, clockTolerance: 5 } })
  const token = await h.token()
  t.equal((await h.call(token, { iat: NOW - 65 })).statusCode, 200, 'proofMaxAge + clockTolerance old')
  assertProofRefused(t, await h.call(token, { iat: NOW - 66 }), dpopDescriptions.tooOld)
  t.equal((await h.call(token, { iat: NOW + 5 })).statusCode, 200, 'clockTolerance ahead')
  assertProofRefused(t, await h.call(token, { iat: NOW + 6 }), dpopDescriptions.issuedInFuture)
  assertProofRefused(t, await h.call(token, { claims: { exp: NOW - 10 } }), dpopDescriptions.expired)
  assertProofRefused(t, await h.call(token, { claims: { nbf: NOW + 100 } }), dpopDescriptions.malformed)
})

t.test('ath: required, and the hash of the token presented', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  assertProofRefused(t, await withProof(h, await proof(h.key), token), dpopDescriptions.missingClaim)
  assertProofRefused(t, await withProof(h, await proof(h.key, { token: await h.token({ sub: 'other' }) }), token), dpopDescriptions.wrongToken)
})

t.test('a proof is used once: the same one again is refused, and a refusal for its token does not use it up', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  const once = await proof(h.key, { token })
  t.equal((await withProof(h, once, token)).statusCode, 200)
  assertProofRefused(t, await withProof(h, once, token), dpopDescriptions.replayed)

  const expired = await h.token({ exp: NOW - 100 })
  const kept = await proof(h.key, { token: expired })
  const first = await withProof(h, kept, expired)
  t.equal(first.json().message, jwtDescriptions.expired)
  t.equal((await withProof(h, kept, expired)).json().message, jwtDescriptions.expired, 'still a token refusal: the proof was not recorded')
})

t.test('the token must be bound to the proof key', async (t) => {
  const h = await dpopApp(t)
  const other = await clientKey()
  const token = await h.token({ cnf: { jkt: other.jkt } })
  const res = await withProof(h, await proof(h.key, { token }), token)
  t.equal(res.statusCode, 401)
  t.same(res.headers['www-authenticate'], dpopRefusal('invalid_token', jwtDescriptions.wrongKey))
  t.same(res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', jwtDescriptions.wrongKey))
  const unbound = await h.bearerToken()
  const refused = await withProof(h, await proof(h.key, { token: unbound }), unbound)
  t.same(refused.headers['www-authenticate'], dpopRefusal('invalid_token', jwtDescriptions.notBound))
})

t.test('a bound token presented as Bearer is refused on the Bearer challenge', async (t) => {
  const h = await dpopApp(t)
  const res = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${await h.token()}` } })
  t.equal(res.statusCode, 401)
  t.same(res.headers['www-authenticate'], [`${BEARER}, error="invalid_token", error_description="${jwtDescriptions.bound}"`, DPOP])
})

t.test('a long protected header is verified each time (not cached) and still accepted', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  for (const attempt of ['first', 'second']) {
    const res = await h.call(token, { header: { 'urn:example:pad': 'p'.repeat(2100) } })
    t.equal(res.statusCode, 200, attempt)
  }
})
