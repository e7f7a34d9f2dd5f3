import t from 'tap'
import { jwtDescriptions } from '../lib/verifiers/jwt-refusals.js'
import { assertRefused, claims, encodePart, jwksServer, jwtApp, keyPair, NOW, secret, sign } from './helpers/jwt.js'

const key = secret()
const hs256 = { secret: key, algorithms: ['HS256'] }

t.test('a cached token is answered without verifying it again', async (t) => {
  const { get, verifications } = await jwtApp(t, hs256)
  const token = await sign(key, 'HS256')
  const first = await get(token)
  const second = await get(token)
  t.equal(first.statusCode, 200)
  t.same(second.json(), first.json())
  t.equal(verifications(), 1)
})

t.test('a cache hit is the whole token: another token with the same signature is verified, and refused', async (t) => {
  const { get, verifications } = await jwtApp(t, hs256)
  const token = await sign(key, 'HS256', claims({ sub: 'alice' }))
  t.equal((await get(token)).statusCode, 200)
  // The cache is keyed by the token's tail, which lies in its signature: this token shares it.
  const [header, , signature] = token.split('.')
  const forged = `${header!}.${encodePart(claims({ sub: 'mallory' }))}.${signature!}`
  assertRefused(t, await get(forged), jwtDescriptions.badSignature)
  t.equal(verifications(), 2, 'the forged token was verified in full')
  t.equal((await get(token)).statusCode, 200, 'the cached token still is')
})

t.test('with cache: false every request verifies the token', async (t) => {
  const { get, verifications } = await jwtApp(t, { ...hs256, cache: false })
  const token = await sign(key, 'HS256')
  t.equal((await get(token)).statusCode, 200)
  t.equal((await get(token)).statusCode, 200)
  t.equal(verifications(), 2)
})

t.test('isRevoked is consulted on every request, cache hit included', async (t) => {
  for (const kind of ['sync', 'async']) {
    await t.test(kind, async (t) => {
      const revoked = new Set<unknown>()
      const seen: unknown[] = []
      const isRevoked = (claims: Readonly<Record<string, unknown>>, request: { url: string }): boolean | Promise<boolean> => {
        seen.push([claims.jti, request.url])
        return kind === 'sync' ? revoked.has(claims.jti) : Promise.resolve(revoked.has(claims.jti))
      }
      const { get, verifications } = await jwtApp(t, { ...hs256, isRevoked: isRevoked as never })
      const token = await sign(key, 'HS256', claims({ jti: 'token-1' }))
      t.equal((await get(token)).statusCode, 200)
      revoked.add('token-1')
      assertRefused(t, await get(token), jwtDescriptions.revoked)
      t.equal(verifications(), 1, 'the second answer came from the cache')
      t.same(seen, [['token-1', '/me'], ['token-1', '/me']])
    })
  }
})

t.test('an isRevoked that answers neither true nor false is a fault (500), not an acceptance', async (t) => {
  const { get } = await jwtApp(t, { ...hs256, isRevoked: (() => 'no') as never })
  const res = await get(await sign(key, 'HS256'))
  t.equal(res.statusCode, 500)
  t.same(res.json(), { statusCode: 500, code: 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', error: 'Internal Server Error', message: 'Authentication could not be completed' })
})

t.test('the user mapping runs on every request, so a disabled user is refused at once', async (t) => {
  for (const kind of ['sync', 'async']) {
    await t.test(kind, async (t) => {
      const disabled = new Set<unknown>()
      let calls = 0
      const user = (claims: Readonly<Record<string, unknown>>) => {
        calls++
        const found = disabled.has(claims.sub) ? null : { username: claims.sub }
        return kind === 'sync' ? found : Promise.resolve(found)
      }
      const { get, verifications } = await jwtApp(t, { ...hs256, user })
      const token = await sign(key, 'HS256')
      const res = await get(token)
      t.equal(res.statusCode, 200)
      t.same(res.json(), { user: { username: 'user-1' }, auth: { scheme: 'bearerAuth', scopes: ['read', 'write'], claims: claims() } })
      disabled.add('user-1')
      assertRefused(t, await get(token), 'The access token is invalid')
      t.equal(calls, 2)
      t.equal(verifications(), 1)
    })
  }
})

t.test('a user mapping that returns something other than an object or a falsy value is a fault', async (t) => {
  const { get } = await jwtApp(t, { ...hs256, user: (() => 'user-1') as never })
  t.equal((await get(await sign(key, 'HS256'))).statusCode, 500)
  const { get: getArray } = await jwtApp(t, { ...hs256, user: (() => ['user-1']) as never })
  t.equal((await getArray(await sign(key, 'HS256'))).statusCode, 500)
})

t.test('concurrent requests with the same uncached token share one verification', async (t) => {
  // A slow JWKS holds the first verification open while the others arrive.
  const keys = await keyPair('ES256', 'k1')
  const jwks = await jwksServer(t, [keys.publicJwk])
  jwks.mode('slow', 500)
  const { get, verifications } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['ES256'] })
  const token = await sign(keys.privateKey, 'ES256', claims(), { kid: 'k1' })
  const other = await sign(keys.privateKey, 'ES256', claims({ jti: 'other' }), { kid: 'k1' })
  const answers = await Promise.all([...Array.from({ length: 10 }, () => get(token)), get(other)])
  t.same(answers.map((res) => res.statusCode), Array(11).fill(200))
  t.equal(verifications(), 2, 'one verification per distinct token')
  t.equal(jwks.hits(), 1)
})

t.test('concurrent requests with the same bad token share the refusal, which is not cached', async (t) => {
  const { get, verifications } = await jwtApp(t, hs256)
  const forged = await sign(secret(), 'HS256')
  const answers = await Promise.all(Array.from({ length: 5 }, () => get(forged)))
  for (const res of answers) assertRefused(t, res, jwtDescriptions.badSignature)
  t.equal(verifications(), 1)
  assertRefused(t, await get(forged), jwtDescriptions.badSignature)
  t.equal(verifications(), 2, 'verified again: failures are not cached')
})

t.test('the cache is bounded and evicts the least recently used token', async (t) => {
  const { get, verifications } = await jwtApp(t, { ...hs256, cache: { max: 2 } })
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((jti) => sign(key, 'HS256', claims({ jti }))))
  for (const token of [a!, b!, a!, c!]) t.equal((await get(token)).statusCode, 200)
  t.equal(verifications(), 3, 'a was a hit, c evicted b')
  await get(a!)
  t.equal(verifications(), 3, 'a is still cached')
  await get(b!)
  t.equal(verifications(), 4, 'b had been evicted')
})

t.test('a cached entry never outlives the token exp', async (t) => {
  const { get, clock, verifications } = await jwtApp(t, { ...hs256, clockTolerance: 30 })
  const token = await sign(key, 'HS256', claims({ exp: NOW + 10 }))
  t.equal((await get(token)).statusCode, 200)
  clock.ms = (NOW + 10) * 1000 - 1
  t.equal((await get(token)).statusCode, 200)
  t.equal(verifications(), 1, 'a hit until exp')
  clock.at(NOW + 10)
  t.equal((await get(token)).statusCode, 200, 'still accepted within the tolerance')
  t.equal(verifications(), 2, 'but verified again at exp')
  t.equal((await get(token)).statusCode, 200)
  t.equal(verifications(), 3, 'and not cached past exp')
  clock.at(NOW + 40)
  assertRefused(t, await get(token), jwtDescriptions.expired)
})

t.test('a cached entry never outlives iat + maxTokenAge', async (t) => {
  const { get, clock, verifications } = await jwtApp(t, { ...hs256, clockTolerance: 0, maxTokenAge: 600 })
  const token = await sign(key, 'HS256', claims({ iat: NOW - 500, exp: NOW + 3600 }))
  t.equal((await get(token)).statusCode, 200)
  clock.at(NOW + 99)
  t.equal((await get(token)).statusCode, 200)
  t.equal(verifications(), 1)
  clock.at(NOW + 100)
  t.equal((await get(token)).statusCode, 200)
  t.equal(verifications(), 2, 'verified again once iat + maxTokenAge is reached')
  clock.at(NOW + 101)
  assertRefused(t, await get(token), jwtDescriptions.tooOld)
})

t.test('the real clock is used when none is injected', async (t) => {
  const { get } = await jwtApp(t, hs256, { realClock: true })
  assertRefused(t, await get(await sign(key, 'HS256')), jwtDescriptions.expired)
  const now = Math.floor(Date.now() / 1000)
  t.equal((await get(await sign(key, 'HS256', claims({ iat: now, exp: now + 60 })))).statusCode, 200)
})

t.test('a token accepted within the tolerance after its exp is not cached, so it displaces nothing', async (t) => {
  const { get, verifications } = await jwtApp(t, { ...hs256, clockTolerance: 30, cache: { max: 1 } })
  const fresh = await sign(key, 'HS256')
  const late = await sign(key, 'HS256', claims({ exp: NOW - 5 }))
  t.equal((await get(fresh)).statusCode, 200)
  t.equal((await get(late)).statusCode, 200)
  t.equal((await get(fresh)).statusCode, 200)
  t.equal(verifications(), 2, 'the fresh token stayed cached')
})
