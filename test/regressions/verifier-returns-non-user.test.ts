import t from 'tap'
import { MemoryTokenStore, type VerifyResult } from '../../lib/index.js'
import { build, errorBody } from '../helpers/app.js'
import { jwtApp, secret, sign } from '../helpers/jwt.js'

// Regression: a verifier that returned an Error (instead of throwing it) or a boxed primitive
// let the request through with that object as request.user: 200 where a 500 was due. The same
// held for the `user` mapping of the JWT and opaque verifiers.

const failed = errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed')

const notUsers: Array<[string, () => unknown]> = [
  ['an Error', () => new Error('token expired')],
  ['a TypeError', () => new TypeError('bad token')],
  ['new Boolean(false)', () => new Boolean(false)], // eslint-disable-line no-new-wrappers
  ['new Number(0)', () => new Number(0)], // eslint-disable-line no-new-wrappers
  ['new String("")', () => new String('')], // eslint-disable-line no-new-wrappers
  ['Object(Symbol())', () => Object(Symbol('user'))],
  ['Object(1n)', () => Object(1n)]
]

for (const [what, make] of notUsers) {
  for (const mode of ['returns', 'resolves to'] as const) {
    t.test(`a verify function that ${mode} ${what} is a fault, never a user`, async (t) => {
      let handled = 0
      const app = await build(t, {
        schemes: { bearer: { type: 'bearer', verify: () => (mode === 'returns' ? make() : Promise.resolve(make())) as VerifyResult } }
      })
      app.get('/me', { config: { auth: true } }, async () => { handled++; return 'handler ran' })
      const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer some-token' } })
      t.equal(res.statusCode, 500)
      t.same(res.json(), failed)
      t.equal(res.headers['www-authenticate'], undefined)
      t.equal(handled, 0, 'the handler never runs')
    })
  }
}

t.test('an API-key verify function that returns an Error is a fault', async (t) => {
  const app = await build(t, { schemes: { key: { type: 'apiKey', in: 'header', name: 'X-Key', verify: () => new Error('no') as unknown as VerifyResult } } })
  app.get('/me', { config: { auth: true } }, async () => 'handler ran')
  const res = await app.inject({ url: '/me', headers: { 'x-key': 'some-key' } })
  t.equal(res.statusCode, 500)
  t.same(res.json(), failed)
})

t.test('a plain object and a class instance are still users', async (t) => {
  class Account { readonly id = 'alice' }
  const users: Record<string, VerifyResult> = { plain: { id: 'bob' }, instance: new Account() as unknown as VerifyResult, bare: Object.create(null) as VerifyResult }
  const app = await build(t, { schemes: { bearer: { type: 'bearer', verify: (token) => users[token] } } })
  app.get('/me', { config: { auth: true } }, async (request) => ({ user: request.user }))
  for (const token of Object.keys(users)) {
    const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 200, token)
  }
})

t.test('a JWT user mapping that returns an Error is a fault', async (t) => {
  const key = secret()
  const { get } = await jwtApp(t, { secret: key, algorithms: ['HS256'], user: () => new Error('user not found') as never })
  const res = await get(await sign(key, 'HS256'))
  t.equal(res.statusCode, 500)
  t.same(res.json(), failed)
})

t.test('an opaque-token user mapping that resolves to a boxed primitive is a fault', async (t) => {
  const store = new MemoryTokenStore()
  t.teardown(() => store.close())
  const app = await build(t, { schemes: { bearer: { type: 'bearer', opaque: { store, user: async () => new String('alice') as never } } } }) // eslint-disable-line no-new-wrappers
  app.get('/me', { config: { auth: true } }, async () => 'handler ran')
  const { token } = await store.issue({ subject: 'alice', expiresIn: 60 })
  const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 500)
  t.same(res.json(), failed)
})
