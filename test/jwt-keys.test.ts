import { generateKeyPairSync, KeyObject } from 'node:crypto'
import t from 'tap'
import { exportJWK, importSPKI } from 'jose'
import { assertRefused, AUDIENCE, claims, ISSUER, jwtApp, keyPair, secret, sign } from './helpers/jwt.js'
import { jwtDescriptions } from '../lib/verifiers/jwt-refusals.js'

t.test('a valid token signed with each supported algorithm family is accepted, with its claims on request.auth', async (t) => {
  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519']) {
    await t.test(alg, async (t) => {
      const keys = await keyPair(alg)
      const { get, verifications } = await jwtApp(t, { publicKey: keys.publicPem, algorithms: [alg] })
      const token = await sign(keys.privateKey, alg)
      const res = await get(token)
      t.equal(res.statusCode, 200)
      const expected = claims()
      t.same(res.json(), { user: expected, auth: { scheme: 'bearerAuth', scopes: ['read', 'write'], claims: expected } })
      t.equal(verifications(), 1)
    })
  }
  await t.test('HS256', async (t) => {
    const key = secret()
    const { get } = await jwtApp(t, { secret: key, algorithms: ['HS256'] })
    const res = await get(await sign(key, 'HS256'))
    t.equal(res.statusCode, 200)
    t.same(res.json().auth.scopes, ['read', 'write'])
  })
  await t.test('HS512 with a string secret', async (t) => {
    const key = 'x'.repeat(64)
    const { get } = await jwtApp(t, { secret: key, algorithms: ['HS512'] })
    const res = await get(await sign(new TextEncoder().encode(key), 'HS512'))
    t.equal(res.statusCode, 200)
  })
})

t.test('the public key may be a PEM, a JWK, a KeyObject or a CryptoKey', async (t) => {
  const keys = await keyPair('ES256')
  const forms: Array<[string, unknown]> = [
    ['PEM with surrounding whitespace', `\n${keys.publicPem}\n`],
    ['JWK', keys.publicJwk],
    ['JWK naming its alg and use', { ...keys.publicJwk, alg: 'ES256', use: 'sig' }],
    ['KeyObject', KeyObject.from(keys.publicKey as never)],
    ['CryptoKey', keys.publicKey],
    ['CryptoKey that is not extractable', await importSPKI(keys.publicPem, 'ES256')]
  ]
  for (const [name, publicKey] of forms) {
    await t.test(name, async (t) => {
      const { get } = await jwtApp(t, { publicKey: publicKey as never, algorithms: ['ES256'] })
      t.equal((await get(await sign(keys.privateKey, 'ES256'))).statusCode, 200)
    })
  }
})

t.test('one RSA key verifies both RS256 and PS256 when both are listed', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const { get } = await jwtApp(t, { publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string, algorithms: ['RS256', 'PS256'] })
  t.equal((await get(await sign(privateKey as never, 'RS256'))).statusCode, 200)
  t.equal((await get(await sign(privateKey as never, 'PS256'))).statusCode, 200)
})

t.test('a token signed by another key of the right type is refused as a bad signature', async (t) => {
  for (const alg of ['HS256', 'RS256', 'ES256', 'EdDSA']) {
    await t.test(alg, async (t) => {
      if (alg === 'HS256') {
        const { get } = await jwtApp(t, { secret: secret(), algorithms: [alg] })
        assertRefused(t, await get(await sign(secret(), alg)), jwtDescriptions.badSignature)
        return
      }
      const ours = await keyPair(alg)
      const theirs = await keyPair(alg)
      const { get } = await jwtApp(t, { publicKey: ours.publicJwk, algorithms: [alg] })
      assertRefused(t, await get(await sign(theirs.privateKey, alg)), jwtDescriptions.badSignature)
    })
  }
})

t.test('the key type must fit the algorithms at boot', async (t) => {
  const rsa = await keyPair('RS256')
  const ec = await keyPair('ES256')
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a secret with RS256', { secret: secret(), algorithms: ['RS256'] }, /secret is for HS\* algorithms; RS256 need publicKey, jwksUrl or discovery/],
    ['a public key with HS256', { publicKey: rsa.publicPem, algorithms: ['HS256'] }, /publicKey is for asymmetric algorithms; HS256 need secret/],
    ['a JWKS with HS256', { jwksUrl: 'https://issuer.example/jwks', algorithms: ['HS256'] }, /jwksUrl is for asymmetric algorithms/],
    ['an EC key with RS256', { publicKey: ec.publicPem, algorithms: ['RS256'] }, /publicKey does not fit RS256/],
    ['a P-256 JWK with ES384', { publicKey: ec.publicJwk, algorithms: ['ES384'] }, /publicKey does not fit ES384/],
    ['an RSA key with ES256 and RS256', { publicKey: rsa.publicJwk, algorithms: ['RS256', 'ES256'] }, /publicKey does not fit ES256/],
    ['a JWK whose alg is another', { publicKey: { ...rsa.publicJwk, alg: 'RS256' }, algorithms: ['PS256'] }, /publicKey is a JWK for RS256; it cannot verify PS256/],
    ['an encryption JWK', { publicKey: { ...rsa.publicJwk, use: 'enc' }, algorithms: ['RS256'] }, /publicKey is a JWK for use 'enc', not 'sig'/],
    ['a private JWK', { publicKey: await exportJWK(rsa.privateKey), algorithms: ['RS256'] }, /publicKey must be a public key, not a private or secret one/],
    ['a symmetric JWK', { publicKey: { kty: 'oct', k: 'AAAA' }, algorithms: ['RS256'] }, /publicKey must be a public key, not a private or secret one/],
    ['a private KeyObject', { publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, algorithms: ['ES256'] }, /publicKey must be a public key/],
    ['a private CryptoKey', { publicKey: ec.privateKey, algorithms: ['ES256'] }, /publicKey must be a public key/],
    ['a private PEM', { publicKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', algorithms: ['ES256'] }, /publicKey must be an SPKI PEM/],
    ['a 1024-bit RSA key', { publicKey: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, algorithms: ['RS256'] }, /publicKey is a 1024-bit RSA key; RS256 needs at least 2048 bits/],
    ['an RS256 CryptoKey with PS256', { publicKey: rsa.publicKey, algorithms: ['RS256', 'PS256'] }, /publicKey is a CryptoKey for RSASSA-PKCS1-v1_5; it cannot verify PS256/],
    ['an RS256 CryptoKey with RS384', { publicKey: rsa.publicKey, algorithms: ['RS384'] }, /publicKey is a CryptoKey for RSASSA-PKCS1-v1_5; it cannot verify RS384/],
    ['a P-256 CryptoKey with ES384', { publicKey: ec.publicKey, algorithms: ['ES384'] }, /publicKey is a CryptoKey for ECDSA; it cannot verify ES384/],
    ['a 1024-bit RSA CryptoKey', { publicKey: await importSPKI(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string, 'RS256'), algorithms: ['RS256'] }, /publicKey is a 1024-bit RSA key/]
  ]
  for (const [name, jwt, message] of cases) {
    await t.test(name, async (t) => {
      await t.rejects(jwtApp(t, { issuer: ISSUER, audience: AUDIENCE, ...jwt }), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message })
    })
  }
})

t.test('the RS256 public key PEM used as an HS256 secret never verifies (algorithm confusion)', async (t) => {
  const keys = await keyPair('RS256')
  const { get, verifications } = await jwtApp(t, { publicKey: keys.publicPem, algorithms: ['RS256'] })
  const forged = await sign(new TextEncoder().encode(keys.publicPem), 'HS256', claims({ sub: 'admin' }))
  assertRefused(t, await get(forged), jwtDescriptions.unsupportedAlgorithm)
  t.equal(verifications(), 1)
  // Nor can the PEM be configured as a secret in the first place.
  await t.rejects(jwtApp(t, { secret: keys.publicPem, algorithms: ['HS256'] }), { message: /secret is a PEM key/ })
})
