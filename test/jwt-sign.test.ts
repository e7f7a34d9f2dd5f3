import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { decodeJwt, decodeProtectedHeader, exportJWK } from 'jose'
import { signAccessToken } from '../lib/sign.js'
import { AUDIENCE, ISSUER, jwtApp, keyPair, secret } from './helpers/jwt.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

t.test('signAccessToken issues an RFC 9068 access token the JWT verifier accepts', async (t) => {
  const keys = await keyPair('ES256')
  const before = Math.floor(Date.now() / 1000)
  const token = await signAccessToken({ key: keys.privateKey, algorithm: 'ES256', kid: 'k1', issuer: ISSUER, audience: AUDIENCE, subject: 'alice', scope: 'read admin', claims: { client_id: 'app' } })
  t.same(decodeProtectedHeader(token), { alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
  const payload = decodeJwt(token)
  t.match(payload, { iss: ISSUER, aud: AUDIENCE, sub: 'alice', scope: 'read admin', client_id: 'app' })
  t.ok(payload.iat! >= before && payload.iat! <= before + 1)
  t.equal(payload.exp! - payload.iat!, 900, 'fifteen minutes by default')
  t.match(payload.jti, UUID)

  const { get } = await jwtApp(t, { publicKey: keys.publicJwk, algorithms: ['ES256'], typ: 'at+jwt', requiredClaims: ['sub', 'iat', 'jti', 'client_id'] }, { realClock: true })
  const res = await get(token, '/admin')
  t.equal(res.statusCode, 200)
  t.same(res.json().auth.scopes, ['read', 'admin'])
})

t.test('every token gets its own jti, no kid unless asked, and the lifetime asked for', async (t) => {
  const key = secret()
  const options = { key, algorithm: 'HS256', issuer: ISSUER, audience: [AUDIENCE, 'other'], subject: 'bob', expiresIn: 60 }
  const [one, two] = await Promise.all([signAccessToken(options), signAccessToken(options)])
  t.not(decodeJwt(one).jti, decodeJwt(two).jti)
  t.same(decodeProtectedHeader(one), { alg: 'HS256', typ: 'at+jwt' })
  const payload = decodeJwt(one)
  t.equal(payload.exp! - payload.iat!, 60)
  t.same(payload.aud, [AUDIENCE, 'other'])
  t.equal(payload.scope, undefined)
  const { get } = await jwtApp(t, { secret: key, algorithms: ['HS256'] }, { realClock: true })
  t.equal((await get(one)).statusCode, 200)
})

t.test('claims cannot override the registered claims set by the helper', async (t) => {
  const token = await signAccessToken({
    key: secret(),
    algorithm: 'HS256',
    issuer: ISSUER,
    audience: AUDIENCE,
    subject: 'carol',
    scope: 'read',
    claims: { iss: 'https://evil.example/', sub: 'root', aud: 'evil', exp: 9_999_999_999, jti: 'fixed', scope: 'admin', role: 'user' }
  })
  t.match(decodeJwt(token), { iss: ISSUER, sub: 'carol', aud: AUDIENCE, scope: 'read', role: 'user' })
  t.not(decodeJwt(token).jti, 'fixed')
  t.ok(decodeJwt(token).exp! < 9_999_999_999)
})

t.test('signAccessToken signs with a KeyObject, a private JWK or a CryptoKey', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ed = await keyPair('EdDSA')
  const cases: Array<[string, Parameters<typeof signAccessToken>[0]['key'], string, unknown]> = [
    ['RS256 KeyObject', rsa.privateKey, 'RS256', rsa.publicKey],
    ['EdDSA private JWK', await exportJWK(ed.privateKey), 'EdDSA', ed.publicJwk],
    ['EdDSA CryptoKey', ed.privateKey, 'EdDSA', ed.publicPem]
  ]
  for (const [name, key, algorithm, publicKey] of cases) {
    await t.test(name, async (t) => {
      const token = await signAccessToken({ key, algorithm, issuer: ISSUER, audience: AUDIENCE, subject: 'dave' })
      const { get } = await jwtApp(t, { publicKey: publicKey as never, algorithms: [algorithm] }, { realClock: true })
      t.equal((await get(token)).statusCode, 200)
    })
  }
})

t.test('signAccessToken refuses alg none and a lifetime that is not a positive whole number of seconds', async (t) => {
  const base = { key: secret(), issuer: ISSUER, audience: AUDIENCE, subject: 'eve' }
  for (const algorithm of ['none', 'NONE', 'nOnE']) {
    await t.rejects(signAccessToken({ ...base, algorithm }), new TypeError('signAccessToken: algorithm must name a signing algorithm, never none'))
  }
  await t.rejects(signAccessToken({ ...base, algorithm: undefined as unknown as string }), TypeError)
  for (const expiresIn of [0, -60, 1.5, Number.NaN]) {
    await t.rejects(signAccessToken({ ...base, algorithm: 'HS256', expiresIn }), new RangeError('signAccessToken: expiresIn must be a positive whole number of seconds'))
  }
})

t.test('signAccessToken takes a string secret, as jwt.secret does, and the token verifies under that jwt.secret', async (t) => {
  const cases: Array<[string, number]> = [['HS256', 32], ['HS384', 48], ['HS512', 64]]
  for (const [algorithm, bytes] of cases) {
    const text = 'é'.repeat(bytes / 2)
    const token = await signAccessToken({ key: text, algorithm, issuer: ISSUER, audience: AUDIENCE, subject: 'frank' })
    t.same(decodeProtectedHeader(token), { alg: algorithm, typ: 'at+jwt' })
    const { get } = await jwtApp(t, { secret: text, algorithms: [algorithm] }, { realClock: true })
    const res = await get(token)
    t.equal(res.statusCode, 200, `${algorithm}: a ${bytes}-byte UTF-8 string verifies`)
    t.equal(res.json().user.sub, 'frank')
    const bytesKey = await signAccessToken({ key: new TextEncoder().encode(text), algorithm, issuer: ISSUER, audience: AUDIENCE, subject: 'frank' })
    t.equal((await get(bytesKey)).statusCode, 200, `${algorithm}: the same secret as bytes signs the same way`)
  }
})

t.test('a string or bytes key is refused when jwt.secret would refuse it, or when the algorithm is not HS*', async (t) => {
  const base = { issuer: ISSUER, audience: AUDIENCE, subject: 'grace' }
  const invalid = (message: string) => ({ code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message: `Invalid fastify-protected-routes option: ${message}` })
  await t.rejects(signAccessToken({ ...base, key: 'x'.repeat(31), algorithm: 'HS256' }), invalid('signAccessToken.secret is 31 bytes; HS256 needs at least 32 random bytes'))
  await t.rejects(signAccessToken({ ...base, key: secret(47), algorithm: 'HS384' }), invalid('signAccessToken.secret is 47 bytes; HS384 needs at least 48 random bytes'))
  // RFC 8725 §2.1: a PEM key is never an HMAC secret.
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  await t.rejects(signAccessToken({ ...base, key: pem + 'x'.repeat(32), algorithm: 'HS256' }), invalid('signAccessToken.secret is a PEM key; put a public key in publicKey and list asymmetric algorithms'))
  for (const key of ['x'.repeat(64), secret(64)]) {
    await t.rejects(signAccessToken({ ...base, key, algorithm: 'ES256' }), new TypeError('signAccessToken: a string or Uint8Array key is an HS* secret; ES256 signs with a private key (KeyObject, CryptoKey or private JWK)'))
  }
})
