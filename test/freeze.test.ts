import t from 'tap'
import { deepFreeze, MAX_FREEZE_DEPTH, MAX_FREEZE_PROPERTIES } from '../lib/verifiers/freeze.js'
import { build, errorBody } from './helpers/app.js'

const fault = errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed')

function nested (levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true }
  for (let i = 0; i < levels; i++) value = { value }
  return value
}

t.test('everything reachable through own data properties is frozen, in place', async (t) => {
  const symbol = Symbol('s')
  const hidden = { h: 1 }
  const user = { a: { b: [{ c: 1 }] }, [symbol]: { d: 2 } }
  Object.defineProperty(user, 'hidden', { value: hidden, enumerable: false })
  t.equal(deepFreeze(user), user, 'the same object')
  t.ok(Object.isFrozen(user) && Object.isFrozen(user.a) && Object.isFrozen(user.a.b) && Object.isFrozen(user.a.b[0]))
  t.ok(Object.isFrozen(user[symbol]), 'symbol-keyed')
  t.ok(Object.isFrozen(hidden), 'non-enumerable')
  t.equal(deepFreeze(null), null)
  t.equal(deepFreeze('text'), 'text')
})

t.test('an object frozen one level deep is frozen all the way down', async (t) => {
  const user = Object.freeze({ org: { plan: 'free' } })
  deepFreeze(user)
  t.ok(Object.isFrozen(user.org))
})

t.test('cycles end', async (t) => {
  const a: Record<string, unknown> = {}
  const b: Record<string, unknown> = { a }
  a.b = b
  a.self = a
  deepFreeze(a)
  t.ok(Object.isFrozen(a) && Object.isFrozen(b))
})

t.test('getters are not run, functions and what they hold are not frozen, typed arrays are left as they are', async (t) => {
  let ran = 0
  class Helper {}
  const bytes = new Uint8Array([1, 2])
  const user = { get lazy () { ran++; return {} }, Helper, bytes, when: new Date(0) }
  deepFreeze(user)
  t.equal(ran, 0)
  t.ok(Object.isFrozen(user))
  t.notOk(Object.isFrozen(Helper), 'a class the user refers to is the app\'s')
  t.notOk(Object.isFrozen(Helper.prototype))
  t.notOk(Object.isFrozen(bytes), 'a typed array with elements cannot be frozen')
  t.ok(Object.isFrozen(user.when), 'a Date is frozen (its time slot is not a property)')
})

t.test('a class instance stays usable: its methods live on the prototype, which is not frozen', async (t) => {
  class Account {
    #secret = 1
    constructor (readonly name: string) {}
    greet (): string { return `hi ${this.name} ${this.#secret}` }
  }
  const account = deepFreeze(new Account('alice'))
  t.ok(Object.isFrozen(account))
  t.equal(account.greet(), 'hi alice 1')
  t.notOk(Object.isFrozen(Account.prototype))
})

t.test('too deep or too large is a TypeError, and nothing is trusted after it', async (t) => {
  t.doesNotThrow(() => deepFreeze(nested(MAX_FREEZE_DEPTH - 1)))
  const deep = nested(MAX_FREEZE_DEPTH + 1)
  t.throws(() => deepFreeze(deep), new TypeError(`a user object nested more than ${MAX_FREEZE_DEPTH} levels deep cannot be frozen`))
  t.notOk(Object.isFrozen(deep.value), 'the walk stopped before freezing the way down')
  const wide = Object.fromEntries(Array.from({ length: MAX_FREEZE_PROPERTIES + 1 }, (_, i) => [`k${i}`, i]))
  t.throws(() => deepFreeze(wide), new TypeError(`a user object with more than ${MAX_FREEZE_PROPERTIES} properties cannot be frozen`))
  t.notOk(Object.isFrozen(wide))

  // A child marked while a failing walk passed through it is walked again next time.
  const child = { inner: { x: 1 } }
  const failing = { child, deep: nested(MAX_FREEZE_DEPTH + 1) }
  t.throws(() => deepFreeze(failing))
  const later = { child }
  deepFreeze(later)
  t.ok(Object.isFrozen(child) && Object.isFrozen(child.inner))
})

t.test('a verify function\'s user that cannot be frozen is a fault, never a crash', async (t) => {
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  const users: Record<string, unknown> = {
    deep: nested(MAX_FREEZE_DEPTH + 1),
    trap: new Proxy({}, { ownKeys () { throw new Error('trap') } }),
    refuses: new Proxy({ a: 1 }, { defineProperty () { return false } }),
    nonError: new Proxy({}, { ownKeys () { throw 'not an error' } }), // eslint-disable-line no-throw-literal
    nested: { inner: new Proxy({ y: 1 }, { getOwnPropertyDescriptor () { throw new Error('trap') } }), x: 1 },
    revoked: { inner: revoked.proxy }
  }
  const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', verify: (token) => users[token] as Record<string, unknown> } } })
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  for (const token of Object.keys(users)) {
    const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 500, token)
    t.same(res.json(), fault, token)
  }
})

t.test('static tokens: a user that cannot be frozen, or scopes that are not strings, stop the boot', async (t) => {
  await t.rejects(build(t, { schemes: { s: { type: 'bearer', tokens: { tok: nested(MAX_FREEZE_DEPTH + 1) } } } }), {
    code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
    message: `Invalid fastify-protected-routes option: schemes.s.tokens maps a token to a user object that cannot be frozen (nested more than ${MAX_FREEZE_DEPTH} levels deep, more than ${MAX_FREEZE_PROPERTIES} properties, or a Proxy that refuses)`
  })
  await t.rejects(build(t, { schemes: { s: { type: 'bearer', tokens: { tok: { id: 1 } } } }, getScopes: () => ['a', 2] as string[] }), {
    code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
    message: 'Invalid fastify-protected-routes option: schemes.s.tokens: getScopes must return an array of strings'
  })
})

t.test('verify functions: getScopes must give an array of strings, which is frozen', async (t) => {
  let scopes: unknown = ['a', 1]
  const app = await build(t, { schemes: { s: { type: 'bearer', verify: () => ({ id: 1 }) } }, getScopes: () => scopes as string[] })
  app.get('/me', { config: { auth: true } }, async (request) => ({ frozen: Object.isFrozen(request.auth?.scopes), scopes: request.auth?.scopes }))
  const bad = await app.inject({ url: '/me', headers: { authorization: 'Bearer tok' } })
  t.equal(bad.statusCode, 500)
  t.same(bad.json(), fault)
  scopes = ['a']
  const good = await app.inject({ url: '/me', headers: { authorization: 'Bearer tok' } })
  t.same(good.json(), { frozen: true, scopes: ['a'] })
})
