import { once } from 'node:events'
import { runInNewContext } from 'node:vm'
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { MemoryTokenStore, type SchemeOptions, type VerifyResult } from '../../lib/index.js'
import { build, errorBody, spyVerify } from '../helpers/app.js'
import { AUDIENCE, claims, ISSUER, secret, sign } from '../helpers/jwt.js'

// Regression: a verifier that returned an Error the built-in tag does not name was taken for a
// user: a DOMException (an aborted fetch, a fired AbortSignal.timeout, a WebCrypto DataError),
// an object made from Error.prototype, an Error from another realm made from its prototype.
// Each answered 200 with request.user = that object, through a verify function and through the
// `user` mappings of the JWT and opaque verifiers alike.

const failed = errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed')

async function firedTimeoutReason (): Promise<unknown> {
  const signal = AbortSignal.timeout(1)
  // AbortSignal.timeout's timer does not hold the loop open: this one does, until it fires.
  const keepAlive = setTimeout(() => {}, 1000)
  await once(signal, 'abort')
  clearTimeout(keepAlive)
  return signal.reason
}

async function webCryptoError (): Promise<unknown> {
  // A P-256 public key whose point is not on the curve: WebCrypto rejects with a DataError.
  const offCurve = { kty: 'EC', crv: 'P-256', x: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', y: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }
  return await crypto.subtle.importKey('jwk', offCurve, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']).then(() => 'imported', (err: unknown) => err)
}

class Refusal extends Error {}

const notUsers: Array<[string, () => Promise<unknown>]> = [
  ['a DOMException', async () => new DOMException('x', 'AbortError')],
  ['the reason of a fired AbortSignal.timeout', firedTimeoutReason],
  ['a WebCrypto DataError', webCryptoError],
  ['an object made from Error.prototype', async () => Object.create(Error.prototype)],
  ['an object whose prototype chain reaches TypeError.prototype', async () => Object.setPrototypeOf({ id: 'alice' }, Object.create(TypeError.prototype))],
  ['an Error subclass', async () => new Refusal('no')],
  ['an Error from another realm', async () => runInNewContext('new RangeError("x")')],
  ['an Error that hides its tag and its prototype', async () => Object.setPrototypeOf(Object.assign(new Error('x'), { [Symbol.toStringTag]: 'Account' }), null)],
  ['an object made from the Error.prototype of another realm', async () => runInNewContext('Object.create(Error.prototype)')],
  ['an object of a class extending the Error of another realm', async () => runInNewContext('class Fault extends Error {}; Object.create(Fault.prototype)')]
]

t.test('the fault shapes are what they claim to be', async (t) => {
  t.match(await firedTimeoutReason(), { name: 'TimeoutError' })
  t.ok((await firedTimeoutReason()) instanceof DOMException)
  t.match(await webCryptoError(), { name: 'DataError' })
  t.ok((await webCryptoError()) instanceof DOMException)
})

interface Seen {
  res: LightMyRequestResponse
  verified: number
  handled: number
}

/** GET /me through `scheme`, with a handler that counts its runs. */
async function through (t: Test, scheme: SchemeOptions, headers: Record<string, string>): Promise<Omit<Seen, 'verified'>> {
  let handled = 0
  const app = await build(t, { schemes: { main: scheme } })
  app.get('/me', { config: { auth: true } }, async () => { handled++; return 'handler ran' })
  const res = await app.inject({ url: '/me', headers })
  return { res, handled }
}

function assertFault (t: Test, { res, verified, handled }: Seen): void {
  t.equal(res.statusCode, 500, 'status')
  t.equal(res.headers['www-authenticate'], undefined, 'no challenge')
  t.same(res.json(), failed, 'body')
  t.equal(verified, 1, 'the verifier ran once')
  t.equal(handled, 0, 'the handler never ran')
}

for (const [what, make] of notUsers) {
  t.test(`${what} is a fault, never a user`, async (t) => {
    await t.test('returned by a bearer verify function', async (t) => {
      const value = await make()
      const verify = spyVerify({ 'some-token': value as VerifyResult })
      const seen = await through(t, { type: 'bearer', verify }, { authorization: 'Bearer some-token' })
      assertFault(t, { ...seen, verified: verify.calls.length })
    })

    await t.test('resolved by an async API-key verify function', async (t) => {
      const value = await make()
      const verify = spyVerify({ 'some-key': value as VerifyResult })
      const seen = await through(t, { type: 'apiKey', in: 'header', name: 'X-Key', verify: async (token) => verify(token) }, { 'x-key': 'some-key' })
      assertFault(t, { ...seen, verified: verify.calls.length })
    })

    await t.test('returned by a JWT user mapping', async (t) => {
      const value = await make()
      const key = secret()
      let mapped = 0
      const jwt = { secret: key, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, user: () => { mapped++; return value as never } }
      const now = Math.floor(Date.now() / 1000)
      const token = await sign(key, 'HS256', claims({ iat: now, exp: now + 600 }))
      const seen = await through(t, { type: 'bearer', jwt }, { authorization: `Bearer ${token}` })
      assertFault(t, { ...seen, verified: mapped })
    })

    await t.test('resolved by an opaque-token user mapping', async (t) => {
      const value = await make()
      const store = new MemoryTokenStore()
      t.teardown(() => store.close())
      const { token } = await store.issue({ subject: 'alice', expiresIn: 60 })
      let mapped = 0
      const seen = await through(t, { type: 'bearer', opaque: { store, user: async () => { mapped++; return value as never } } }, { authorization: `Bearer ${token}` })
      assertFault(t, { ...seen, verified: mapped })
    })
  })
}

t.test('a user with a prototype chain deeper than any class hierarchy is refused, not walked', async (t) => {
  let deep: object = {}
  for (let depth = 0; depth < 40; depth++) deep = Object.create(deep)
  const verify = spyVerify({ 'some-token': deep as VerifyResult })
  const seen = await through(t, { type: 'bearer', verify }, { authorization: 'Bearer some-token' })
  assertFault(t, { ...seen, verified: verify.calls.length })
})

t.test('an object that only looks like an Error is still a user', async (t) => {
  const user = { id: 'alice', name: 'Error', message: 'not an error', stack: '' }
  const verify = spyVerify({ 'some-token': user })
  let handled = 0
  const app = await build(t, { schemes: { main: { type: 'bearer', verify } } })
  app.get('/me', { config: { auth: true } }, async (request) => { handled++; return { user: request.user } })
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer some-token' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['www-authenticate'], undefined)
  t.same(res.json(), { user })
  t.same(verify.calls, ['some-token'])
  t.equal(handled, 1)
})
