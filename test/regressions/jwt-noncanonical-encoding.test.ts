import t from 'tap'
import { jwtDescriptions } from '../../lib/verifiers/jwt-refusals.js'
import { assertRefused, jwtApp, keyPair, secret, sign } from '../helpers/jwt.js'

// Regression: jose decodes base64url leniently, so a validly signed JWT with `=` padding
// appended, or with the unused low bits of its last signature character changed, verified as
// the same token under another string. Each spelling missed the cache and cost a full
// signature check (thousands of spellings per token: padding is unbounded within
// maxTokenLength), and each got past any deny-list an app keeps by the token's string. Only
// the canonical compact serialization (RFC 7515 §7.1, RFC 4648 §3.5) is accepted now.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The token with its last character's unused low bits set: the same bytes, another string. */
function flipPadBits (token: string): string {
  const last = token.at(-1)!
  const free = token.slice(token.lastIndexOf('.') + 1).length % 4 === 2 ? 0b1111 : 0b11
  return token.slice(0, -1) + ALPHABET[ALPHABET.indexOf(last) | free]!
}

for (const [alg, makeKey] of [['RS256', async () => await keyPair('RS256')], ['HS256', async () => secret()]] as const) {
  t.test(`${alg}: another spelling of a valid token is refused as malformed, before any signature check`, async (t) => {
    const material = await makeKey()
    const jwt = material instanceof Uint8Array ? { secret: material } : { publicKey: material.publicPem }
    const { get, verifications } = await jwtApp(t, { ...jwt, algorithms: [alg] })
    const token = await sign(material instanceof Uint8Array ? material : material.privateKey, alg)
    t.equal((await get(token)).statusCode, 200, 'the token as signed')
    t.equal(verifications(), 1)
    for (const spelling of [`${token}=`, `${token}==`, `${token}${'='.repeat(100)}`, flipPadBits(token)]) {
      t.not(spelling, token)
      assertRefused(t, await get(spelling), jwtDescriptions.malformed)
    }
    t.equal(verifications(), 1, 'no spelling reached jose')
  })
}

t.test('a segment is checked for its length and its last character', async (t) => {
  const key = secret()
  const { get } = await jwtApp(t, { secret: key, algorithms: ['HS256'] })
  const [header, payload, signature] = (await sign(key, 'HS256')).split('.') as [string, string, string]
  t.equal(signature.length, 43, 'an HS256 signature is 43 characters (4n+3)')
  const withSignature = (value: string) => get(`${header}.${payload}.${value}`)
  assertRefused(t, await withSignature(`${signature}AA`), jwtDescriptions.malformed) // 4n+1: no whole bytes
  assertRefused(t, await withSignature(`${signature.slice(0, 41)}B`), jwtDescriptions.malformed) // 4n+2 ending in bits that must be 0
  assertRefused(t, await withSignature(`${signature.slice(0, 42)}B`), jwtDescriptions.malformed) // 4n+3 likewise
  assertRefused(t, await get(`${header}.${payload}.${signature.slice(0, 41)}A`), jwtDescriptions.badSignature) // canonical, just wrong
  t.equal((await get(`${header}.${payload}=.${signature}`)).statusCode, 400, 'padding inside is not even a b64token (RFC 6750 §2.1)')
  assertRefused(t, await get(`${header}.${payload}.${signature.replace(/[-_]/g, (c) => c === '-' ? '+' : '/')}${/[-_]/.test(signature) ? '' : '+'}`), jwtDescriptions.malformed)
})
