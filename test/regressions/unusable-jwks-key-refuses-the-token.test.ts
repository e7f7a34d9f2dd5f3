import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import type { JWK } from 'jose'
import { jwtDescriptions } from '../../lib/verifiers/jwt-refusals.js'
import { captureLogs, type LogCapture } from '../helpers/app.js'
import { assertRefused, assertUnavailable, claims, jwksServer, jwtApp, keyPair, sign, sleep, type JwtHarness, type KeyPair } from '../helpers/jwt.js'

// Regression: a JWKS entry jose cannot import (a point off the curve, an RSA key under 2048
// bits, garbage members, a private key), named by a forged token's kid, answered 500 and was
// taken for a failed fetch: no fetch was tried for one jwksCooldown, so a key the issuer had
// just published was refused meanwhile. An unusable key now refuses the tokens naming it (401)
// and leaves the other keys, and key rotation, alone; only a failed fetch counts as one.

const ZEROS = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' // 32 zero bytes: (0, 0) is not on P-256

function smallRsaJwk (kid: string): JWK {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
  return { ...publicKey.export({ format: 'jwk' }) as JWK, kid, alg: 'RS256', use: 'sig' }
}

/** A token signed by `keys` naming `kid`; `jti` makes it distinct, so it is never a cache hit. */
async function token (keys: KeyPair, kid: string, jti: string): Promise<string> {
  return await sign(keys.privateKey, keys.alg, claims({ jti }), { kid })
}

interface Unusable {
  readonly jwk: JWK
  /** The key a forger signs with: the algorithm the bad entry claims. */
  readonly forger: KeyPair
}

async function unusableKeys (): Promise<Record<string, Unusable>> {
  const es = await keyPair('ES256')
  const rs = await keyPair('RS256')
  const privateJwk = { ...(await keyPair('ES256', 'private')).publicJwk }
  return {
    'an EC key whose point is off the curve': { jwk: { kty: 'EC', crv: 'P-256', x: ZEROS, y: ZEROS, kid: 'bad', alg: 'ES256', use: 'sig' }, forger: es },
    'an RSA key of 1024 bits': { jwk: smallRsaJwk('bad'), forger: rs },
    'an EC key with garbage members': { jwk: { kty: 'EC', crv: 'P-256', x: '%%%', y: 5 as unknown as string, kid: 'bad' }, forger: es },
    'a private key': { jwk: { ...privateJwk, d: ZEROS, kid: 'bad' }, forger: es }
  }
}

async function app (t: Test, url: string, logs: LogCapture, jwks: { jwksCooldown: number, jwksCacheMaxAge?: number }): Promise<JwtHarness> {
  return await jwtApp(t, { jwksUrl: url, algorithms: ['ES256', 'RS256'], jwksTimeout: 500, ...jwks }, { server: { logger: { level: 'warn', stream: logs.stream } } })
}

function said (logs: LogCapture, words: string): number {
  return logs.lines.filter((line) => typeof line.msg === 'string' && line.msg.includes(words)).length
}

t.test('a token naming a JWKS key that cannot be used is refused, and the other keys keep verifying', async (t) => {
  const good = await keyPair('ES256', 'good')
  for (const [what, bad] of Object.entries(await unusableKeys())) {
    await t.test(what, async (t) => {
      const jwks = await jwksServer(t, [good.publicJwk, bad.jwk])
      const logs = captureLogs()
      const { get, verifications } = await app(t, jwks.url, logs, { jwksCooldown: 60_000 })
      assertRefused(t, await get(await token(bad.forger, 'bad', '1')), jwtDescriptions.unknownKey)
      t.equal(verifications(), 1, 'the token reached the verifier')
      assertRefused(t, await get(await token(bad.forger, 'bad', '2')), jwtDescriptions.unknownKey)
      t.equal((await get(await token(good, 'good', '3'))).statusCode, 200, 'the good key still verifies')
      t.equal(jwks.hits(), 1, 'one fetch')
      t.equal(said(logs, 'could not be fetched'), 0, 'not taken for a failed fetch')
      t.equal(said(logs, 'cannot be used'), 1, 'the unusable key is logged once per fetched JWKS')
      t.notOk(logs.text().includes('eyJ'), 'no token in the logs')
    })
  }
})

t.test('a token naming an unusable key does not freeze key rotation', async (t) => {
  const good = await keyPair('ES256', 'good')
  const next = await keyPair('ES256', 'next')
  const { jwk: bad, forger } = (await unusableKeys())['an EC key whose point is off the curve']!

  await t.test('a new kid is fetched once the unknown-kid cooldown has passed', async (t) => {
    const jwks = await jwksServer(t, [good.publicJwk, bad])
    const { get } = await app(t, jwks.url, captureLogs(), { jwksCooldown: 300 })
    t.equal((await get(await token(good, 'good', '1'))).statusCode, 200)
    await sleep(350)
    jwks.serve([good.publicJwk, bad, next.publicJwk])
    assertRefused(t, await get(await token(forger, 'bad', '2')), jwtDescriptions.unknownKey)
    const res = await get(await token(next, 'next', '3'))
    t.equal(res.statusCode, 200, 'the key published a moment ago verifies at once')
    t.equal(res.json().user.jti, '3')
    t.equal(jwks.hits(), 2, 'the new kid was fetched')
  })

  await t.test('the JWKS is refetched at jwksCacheMaxAge, however long the cooldown', async (t) => {
    const jwks = await jwksServer(t, [good.publicJwk, bad])
    const { get } = await app(t, jwks.url, captureLogs(), { jwksCooldown: 60_000, jwksCacheMaxAge: 100 })
    assertRefused(t, await get(await token(forger, 'bad', '1')), jwtDescriptions.unknownKey)
    jwks.serve([good.publicJwk, bad, next.publicJwk])
    await sleep(150)
    t.equal((await get(await token(next, 'next', '2'))).statusCode, 200, 'the rotated key verifies at the next refresh')
    t.equal(jwks.hits(), 2)
  })
})

t.test('a failed fetch still counts as one', async (t) => {
  const good = await keyPair('ES256', 'good')
  const failures: Array<[string, (jwks: Awaited<ReturnType<typeof jwksServer>>) => void]> = [
    ['an error status', (jwks) => jwks.mode('error')],
    ['a body that is not a JWKS', (jwks) => jwks.serve([5 as unknown as JWK])]
  ]
  for (const [what, fail] of failures) {
    await t.test(`${what}: the keys fetched before keep verifying, and no fetch is tried for a cooldown`, async (t) => {
      const jwks = await jwksServer(t, [good.publicJwk])
      const logs = captureLogs()
      const { get } = await app(t, jwks.url, logs, { jwksCooldown: 60_000, jwksCacheMaxAge: 0 })
      t.equal((await get(await token(good, 'good', '1'))).statusCode, 200)
      fail(jwks)
      t.equal((await get(await token(good, 'good', '2'))).statusCode, 200, 'verified with the keys fetched before')
      t.equal(jwks.hits(), 2, 'a refetch was tried')
      t.equal((await get(await token(good, 'good', '3'))).statusCode, 200)
      assertRefused(t, await get(await token(good, 'other', '4')), jwtDescriptions.unknownKey)
      t.equal(jwks.hits(), 2, 'no fetch within the cooldown')
      t.equal(said(logs, 'could not be fetched'), 1, 'the failure is logged')
    })

    await t.test(`${what} before any key was fetched: 503`, async (t) => {
      const jwks = await jwksServer(t, [good.publicJwk])
      fail(jwks)
      const { get } = await app(t, jwks.url, captureLogs(), { jwksCooldown: 60_000 })
      assertUnavailable(t, await get(await token(good, 'good', '1')))
      assertUnavailable(t, await get(await token(good, 'good', '2')))
      t.equal(jwks.hits(), 1, 'no fetch within the cooldown')
    })
  }
})
