import t from 'tap'
import fc from 'fast-check'
import { FlattenedSign, SignJWT } from 'jose'
import { jwtDescriptions } from '../lib/verifiers/jwt-refusals.js'
import { assertRefused, claims, encodePart, jwksServer, jwtApp, keyPair, secret, sign } from './helpers/jwt.js'

const key = secret()
const hs256 = { secret: key, algorithms: ['HS256'] }

/** Every letter case of a word: none, None, nOne, ... NONE. */
function letterCases (word: string): string[] {
  return Array.from({ length: 2 ** word.length }, (_, mask) =>
    [...word].map((letter, i) => (mask & (1 << i)) !== 0 ? letter.toUpperCase() : letter).join(''))
}

t.test('an unsecured token (alg none, in every letter case) is refused before any key is used', async (t) => {
  const rsa = await keyPair('RS256')
  for (const [name, jwt] of [['HS256', hs256], ['RS256', { publicKey: rsa.publicPem, algorithms: ['RS256'] }]] as const) {
    await t.test(name, async (t) => {
      const { get } = await jwtApp(t, jwt)
      for (const alg of letterCases('none')) {
        const unsigned = `${encodePart({ alg, typ: 'at+jwt' })}.${encodePart(claims())}.`
        assertRefused(t, await get(unsigned), jwtDescriptions.unsupportedAlgorithm)
        // A signature part does not help.
        assertRefused(t, await get(`${unsigned}c2ln`), jwtDescriptions.unsupportedAlgorithm)
      }
    })
  }
})

t.test('an algorithm outside the list is refused even when the key could verify it', async (t) => {
  const { get } = await jwtApp(t, { secret: secret(64), algorithms: ['HS512'] })
  assertRefused(t, await get(await sign(key, 'HS256')), jwtDescriptions.unsupportedAlgorithm)
})

t.test('RS256 -> HS256 confusion: an HMAC over the JWKS or PEM public key is refused', async (t) => {
  const rsa = await keyPair('RS256', 'k1')
  const jwks = await jwksServer(t, [rsa.publicJwk])
  const { get } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['RS256'] })
  for (const material of [rsa.publicPem, JSON.stringify(rsa.publicJwk), JSON.stringify({ keys: [rsa.publicJwk] })]) {
    const forged = await sign(new TextEncoder().encode(material), 'HS256', claims({ sub: 'admin' }), { kid: 'k1' })
    assertRefused(t, await get(forged), jwtDescriptions.unsupportedAlgorithm)
  }
  t.equal(jwks.hits(), 0, 'refused on the header alone: no key was even fetched')
})

t.test('malformed compact serialisations are refused as malformed', async (t) => {
  const { get, verifications } = await jwtApp(t, hs256)
  const good = await sign(key, 'HS256')
  const [header, payload, signature] = good.split('.') as [string, string, string]
  const cases: Array<[string, string]> = [
    ['one part', 'abc'],
    ['two parts', `${header}.${payload}`],
    ['four parts', `${good}.${signature}`],
    ['five parts (a JWE)', `${header}.${payload}.${signature}.${signature}.${signature}`],
    ['empty parts', '..'],
    ['a header that is not JSON', `${Buffer.from('hello').toString('base64url')}.${payload}.${signature}`],
    ['a header that is a JSON array', `${encodePart(['HS256'])}.${payload}.${signature}`],
    ['a header without alg', `${encodePart({ typ: 'at+jwt' })}.${payload}.${signature}`],
    ['a header whose alg is not a string', `${encodePart({ alg: ['HS256'] })}.${payload}.${signature}`],
    ['a signature that is not base64url', `${header}.${payload}.${signature.slice(0, -2)}+/`],
    ['a header in standard base64', `${Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64')}+.${payload}.${signature}`]
  ]
  for (const [name, token] of cases) {
    assertRefused(t, await get(token), jwtDescriptions.malformed)
    t.comment(name)
  }
  // Well signed, but the payload is not a JSON object.
  for (const body of ['[1,2]', '42', 'not json']) {
    const token = await new FlattenedSign(new TextEncoder().encode(body)).setProtectedHeader({ alg: 'HS256' }).sign(key)
    assertRefused(t, await get(`${token.protected!}.${token.payload}.${token.signature}`), jwtDescriptions.malformed)
  }
  t.ok(verifications() > 0)
})

t.test('a crit header is refused, even one jose understands', async (t) => {
  const { get } = await jwtApp(t, hs256)
  const unknownExtension = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', crit: ['exp'], exp: 1 }).sign(key, { crit: { exp: true } })
  assertRefused(t, await get(unknownExtension), jwtDescriptions.criticalHeader)
  const b64 = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', crit: ['b64'], b64: true }).sign(key)
  assertRefused(t, await get(b64), jwtDescriptions.criticalHeader)
  const emptyCrit = `${encodePart({ alg: 'HS256', crit: [] })}.${encodePart(claims())}.c2ln`
  assertRefused(t, await get(emptyCrit), jwtDescriptions.malformed)
})

t.test('jku, x5u, jwk and kid header values are never fetched or trusted', async (t) => {
  const ours = await keyPair('ES256', 'ours')
  const attacker = await keyPair('ES256', 'attacker')
  const trap = await jwksServer(t, [attacker.publicJwk])
  const header = { kid: 'attacker', jku: trap.url, x5u: trap.url, jwk: attacker.publicJwk }
  await t.test('with a static public key', async (t) => {
    const { get } = await jwtApp(t, { publicKey: ours.publicJwk, algorithms: ['ES256'] })
    assertRefused(t, await get(await sign(attacker.privateKey, 'ES256', claims(), header)), jwtDescriptions.badSignature)
  })
  await t.test('with a JWKS', async (t) => {
    const jwks = await jwksServer(t, [ours.publicJwk])
    const { get } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['ES256'] })
    assertRefused(t, await get(await sign(attacker.privateKey, 'ES256', claims(), header)), jwtDescriptions.unknownKey)
    assertRefused(t, await get(await sign(attacker.privateKey, 'ES256', claims(), { ...header, kid: 'ours' })), jwtDescriptions.badSignature)
    t.equal(jwks.hits(), 1, 'only the configured JWKS was fetched')
  })
  t.equal(trap.hits(), 0, 'the URLs in the header were never fetched')
})

t.test('arbitrary bearer tokens and tampered tokens are refused with 401, never a 500', async (t) => {
  const { get } = await jwtApp(t, hs256)
  const descriptions = new Set<string>(Object.values(jwtDescriptions))
  const good = await sign(key, 'HS256')
  const b64token = fc.stringMatching(/^[A-Za-z0-9\-._~+/]+=*$/, { maxLength: 300 })
  await fc.assert(fc.asyncProperty(b64token, async (token) => {
    const res = await get(token)
    return res.statusCode === 401 && descriptions.has(res.json().message)
  }), { numRuns: 300 })
  // Changing any character of the header or payload breaks the signature or the encoding.
  const signed = good.lastIndexOf('.')
  await fc.assert(fc.asyncProperty(fc.nat({ max: signed - 1 }), fc.constantFrom(...'AQgw_-xyz09'), async (index, char) => {
    fc.pre(good[index] !== char && good[index] !== '.')
    const res = await get(good.slice(0, index) + char + good.slice(index + 1))
    return res.statusCode === 401 && descriptions.has(res.json().message)
  }), { numRuns: 300 })
})
