import t from 'tap'
import { captureLogs } from './helpers/app.js'
import { jwtDescriptions } from '../lib/verifiers/jwt-refusals.js'
import { assertRefused, assertUnavailable, claims, jwksServer, jwtApp, keyPair, sign, sleep, type KeyPair } from './helpers/jwt.js'

/** A token signed by `keys` with its kid; `jti` makes it distinct, so it is never a cache hit. */
async function token (keys: KeyPair, kid: string, jti: string): Promise<string> {
  return await sign(keys.privateKey, keys.alg, claims({ jti }), { kid })
}

t.test('keys are fetched from the JWKS once and reused', async (t) => {
  const a = await keyPair('RS256', 'a')
  const jwks = await jwksServer(t, [a.publicJwk])
  const { get } = await jwtApp(t, { jwksUrl: new URL(jwks.url), algorithms: ['RS256'] })
  t.equal(jwks.hits(), 0, 'nothing is fetched before the first token')
  t.equal((await get(await token(a, 'a', '1'))).statusCode, 200)
  t.equal((await get(await token(a, 'a', '2'))).statusCode, 200)
  t.equal(jwks.hits(), 1)
})

t.test('an unknown kid triggers at most one JWKS refresh per cooldown, which picks up a rotated key', async (t) => {
  const a = await keyPair('ES256', 'a')
  const b = await keyPair('ES256', 'b')
  const jwks = await jwksServer(t, [a.publicJwk])
  const { get } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['ES256'], jwksCooldown: 1000 })
  t.equal((await get(await token(a, 'a', '1'))).statusCode, 200)
  t.equal(jwks.hits(), 1)

  jwks.serve([a.publicJwk, b.publicJwk])
  for (const jti of ['2', '3', '4']) assertRefused(t, await get(await token(b, 'b', jti)), jwtDescriptions.unknownKey)
  assertRefused(t, await get(await token(b, 'nobody', '5')), jwtDescriptions.unknownKey)
  t.equal(jwks.hits(), 1, 'no refetch within the cooldown, however many unknown kids')

  await sleep(1050)
  t.equal((await get(await token(b, 'b', '6'))).statusCode, 200, 'after the cooldown, one refetch finds the new key')
  t.equal(jwks.hits(), 2)
  assertRefused(t, await get(await token(b, 'nobody', '7')), jwtDescriptions.unknownKey)
  t.equal(jwks.hits(), 2, 'and the cooldown starts again')
})

t.test('a key withdrawn from the JWKS stops verifying after jwksCacheMaxAge', async (t) => {
  const a = await keyPair('EdDSA', 'a')
  const b = await keyPair('EdDSA', 'b')
  const jwks = await jwksServer(t, [a.publicJwk, b.publicJwk])
  const { get } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['EdDSA'], jwksCacheMaxAge: 100, jwksCooldown: 1000 })
  t.equal((await get(await token(a, 'a', '1'))).statusCode, 200)
  jwks.serve([b.publicJwk])
  await sleep(150)
  assertRefused(t, await get(await token(a, 'a', '2')), jwtDescriptions.unknownKey)
  t.equal((await get(await token(b, 'b', '3'))).statusCode, 200)
  t.ok(jwks.hits() >= 2, 'the JWKS was fetched again')
})

t.test('a token without kid matching several JWKS keys is refused as an unknown key', async (t) => {
  const a = await keyPair('ES256', 'a')
  const b = await keyPair('ES256', 'b')
  const jwks = await jwksServer(t, [a.publicJwk, b.publicJwk])
  const { get } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['ES256'] })
  assertRefused(t, await get(await sign(a.privateKey, 'ES256')), jwtDescriptions.unknownKey)
})

t.test('JWKS endpoint down before any key was fetched: fail closed with 503', async (t) => {
  const a = await keyPair('RS256', 'a')
  for (const failure of ['refused', 'error', 'slow'] as const) {
    await t.test(failure, async (t) => {
      const jwks = await jwksServer(t, [a.publicJwk])
      if (failure === 'refused') await jwks.stop()
      else jwks.mode(failure, 1000)
      const logs = captureLogs()
      const { get } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['RS256'], jwksTimeout: 100, jwksCooldown: 1000 }, { server: { logger: { level: 'warn', stream: logs.stream } } })
      assertUnavailable(t, await get(await token(a, 'a', '1')))
      const hits = jwks.hits()
      assertUnavailable(t, await get(await token(a, 'a', '2')))
      t.equal(jwks.hits(), hits, 'no new fetch while the failure cools down')
      t.ok(logs.lines.some((line) => typeof line.msg === 'string' && line.msg.includes('the JWKS could not be fetched')), 'the failure is logged')
      t.notOk(logs.lines.some((line) => JSON.stringify(line).includes('eyJ')), 'no token in the logs')
      if (failure !== 'refused') {
        jwks.mode('ok')
        await sleep(1050)
        t.equal((await get(await token(a, 'a', '3'))).statusCode, 200, 'recovers once the endpoint answers')
      }
    })
  }
})

t.test('JWKS endpoint down after keys were fetched: the known keys keep verifying', async (t) => {
  const a = await keyPair('ES256', 'a')
  for (const failure of ['refused', 'error', 'slow'] as const) {
    await t.test(failure, async (t) => {
      const jwks = await jwksServer(t, [a.publicJwk])
      // jwksCacheMaxAge: 0 makes every verification try to refetch, so the failure path is taken.
      const { get } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['ES256'], jwksCacheMaxAge: 0, jwksTimeout: 100, jwksCooldown: 1000 })
      t.equal((await get(await token(a, 'a', '1'))).statusCode, 200)
      if (failure === 'refused') await jwks.stop()
      else jwks.mode(failure, 1000)
      t.equal((await get(await token(a, 'a', '2'))).statusCode, 200)
      const hits = jwks.hits()
      t.equal((await get(await token(a, 'a', '3'))).statusCode, 200)
      t.equal(jwks.hits(), hits, 'no new fetch while the failure cools down')
      assertRefused(t, await get(await token(a, 'unknown', '4')), jwtDescriptions.unknownKey)
    })
  }
})

t.test('a JWKS key that cannot be imported refuses the token naming it and holds back no fetch', async (t) => {
  const a = await keyPair('ES256', 'a')
  const broken = { ...a.publicJwk, x: 'AAAA' }
  const jwks = await jwksServer(t, [broken])
  const { get } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['ES256'], jwksCooldown: 1000 })
  assertRefused(t, await get(await token(a, 'a', '1')), jwtDescriptions.unknownKey)
  jwks.serve([a.publicJwk])
  await sleep(1050)
  t.equal((await get(await token(a, 'a', '2'))).statusCode, 200, 'the mended key is fetched after the unknown-kid cooldown')
  t.equal(jwks.hits(), 2)
})
