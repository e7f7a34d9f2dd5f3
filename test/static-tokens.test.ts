import crypto from 'node:crypto'
import { syncBuiltinESMExports } from 'node:module'
import t, { type Test } from 'tap'
import protectedRoutes, { type AuthUser, type ProtectedRoutesOptions, type StaticTokens } from '../lib/index.js'
import type { FastifyRequest } from 'fastify'
import { staticTokensVerifier } from '../lib/verifiers/static-tokens.js'
import { build, errorBody, fresh } from './helpers/app.js'

/** Counts constant-time comparisons made by code that imported timingSafeEqual from node:crypto. */
function countComparisons (t: Test): { count: number } {
  const counter = { count: 0 }
  const original = crypto.timingSafeEqual
  crypto.timingSafeEqual = function countingTimingSafeEqual (a, b) {
    counter.count++
    return original(a, b)
  }
  syncBuiltinESMExports()
  t.teardown(() => {
    crypto.timingSafeEqual = original
    syncBuiltinESMExports()
  })
  return counter
}

const refusedBearer = errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid')

t.test('static bearer tokens given as an object identify their users', async (t) => {
  const app = await build(t, {
    schemes: { bearerAuth: { type: 'bearer', tokens: { 'token-a': { id: 'a', scopes: ['read'] }, 'token-b': { id: 'b', scope: 'read write' } } } }
  })
  app.get('/me', { config: { auth: true } }, async (request) => ({ user: request.user, auth: request.auth }))
  const a = await app.inject({ url: '/me', headers: { authorization: 'Bearer token-a' } })
  t.equal(a.statusCode, 200)
  t.same(a.json(), { user: { id: 'a', scopes: ['read'] }, auth: { scheme: 'bearerAuth', scopes: ['read'] } })
  const b = await app.inject({ url: '/me', headers: { authorization: 'Bearer token-b' } })
  t.same(b.json(), { user: { id: 'b', scope: 'read write' }, auth: { scheme: 'bearerAuth', scopes: ['read', 'write'] } })
})

t.test('static API keys given as a Map identify their users', async (t) => {
  const app = await build(t, {
    schemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: new Map([['key-1', { id: 1 }], ['key-2', { id: 2 }]]) } }
  })
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  t.same((await app.inject({ url: '/me', headers: { 'x-token': 'key-2' } })).json(), { id: 2 })
  t.same((await app.inject({ url: '/me', headers: { 'x-token': 'key-1' } })).json(), { id: 1 })
  const refused = await app.inject({ url: '/me', headers: { 'x-token': 'key-3' } })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['www-authenticate'], 'ApiKey realm="api", in="header", name="X-Token", error="invalid_token", error_description="The API key is invalid"')
  t.same(refused.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The API key is invalid'))
})

t.test('only the exact token matches: not a prefix, an extension or another letter case', async (t) => {
  const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', tokens: { SecretToken: { id: 1 } } } } })
  app.get('/me', { config: { auth: true } }, async () => 'ok')
  for (const token of ['Secret', 'SecretToken2', 'secrettoken', 'SecretTokeN', 'SecretToken=']) {
    const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401, token)
    t.same(res.json(), refusedBearer)
  }
  t.equal((await app.inject({ url: '/me', headers: { authorization: 'Bearer SecretToken' } })).statusCode, 200)
})

for (const form of ['object', 'Map'] as const) {
  t.test(`every ${form} entry is compared on every request, wherever the match is`, async (t) => {
    const entries: Array<[string, { id: number }]> = [['first', { id: 1 }], ['middle', { id: 2 }], ['last', { id: 3 }]]
    const tokens: StaticTokens = form === 'Map' ? new Map(entries) : Object.fromEntries(entries)
    const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', tokens } } })
    app.get('/me', { config: { auth: true } }, async (request) => request.user)
    await app.ready()
    const comparisons = countComparisons(t)
    for (const [token, expected] of [['first', { id: 1 }], ['middle', { id: 2 }], ['last', { id: 3 }], ['none', null]] as const) {
      comparisons.count = 0
      const res = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
      t.same(expected === null ? res.statusCode : res.json(), expected === null ? 401 : expected, token)
      t.equal(comparisons.count, 3, `${token}: all three entries compared`)
    }
  })
}

t.test('static tokens use the getScopes option', async (t) => {
  const app = await build(t, {
    getScopes: (user) => (user as { roles: string[] }).roles.map((role) => `role:${role}`),
    schemes: { bearerAuth: { type: 'bearer', tokens: { admin: { roles: ['admin'] }, user: { roles: ['user'] } } } }
  })
  app.get('/admin', { config: { auth: { scopes: ['role:admin'] } } }, async (request) => request.auth)
  t.same((await app.inject({ url: '/admin', headers: { authorization: 'Bearer admin' } })).json(), { scheme: 'bearerAuth', scopes: ['role:admin'] })
  t.equal((await app.inject({ url: '/admin', headers: { authorization: 'Bearer user' } })).statusCode, 403)
})

const bootErrors: Array<[string, ProtectedRoutesOptions, string]> = [
  ['an empty object', { schemes: { s: { type: 'bearer', tokens: {} } } }, 'schemes.s.tokens is empty'],
  ['an empty Map', { schemes: { s: { type: 'apiKey', in: 'query', name: 'k', tokens: new Map() } } }, 'schemes.s.tokens is empty'],
  ['a bearer token with a space', { schemes: { s: { type: 'bearer', tokens: { 'abc def': {} } } } }, 'schemes.s.tokens holds a token that no request could present'],
  ['a bearer token outside b64token', { schemes: { s: { type: 'bearer', tokens: { 'abc!': {} } } } }, 'schemes.s.tokens holds a token that no request could present'],
  ['an empty bearer token', { schemes: { s: { type: 'bearer', tokens: { '': {} } } } }, 'schemes.s.tokens holds a token that no request could present'],
  ['a bearer token longer than maxTokenLength', { maxTokenLength: 4, schemes: { s: { type: 'bearer', tokens: { abcde: {} } } } }, 'schemes.s.tokens holds a token that no request could present'],
  ['an API key with a space', { schemes: { s: { type: 'apiKey', in: 'header', name: 'X-Key', tokens: { 'key 1': {} } } } }, 'schemes.s.tokens holds a token that no request could present'],
  ['an API key with a non-ASCII character', { schemes: { s: { type: 'apiKey', in: 'cookie', name: 'k', tokens: { kéy: {} } } } }, 'schemes.s.tokens holds a token that no request could present'],
  ['an API key longer than maxTokenLength', { maxTokenLength: 4, schemes: { s: { type: 'apiKey', in: 'query', name: 'k', tokens: new Map([['abcde', {}]]) } } }, 'schemes.s.tokens holds a token that no request could present'],
  ['a Map with a key that is not a string', { schemes: { s: { type: 'bearer', tokens: new Map([[123 as unknown as string, {}]]) } } }, 'schemes.s.tokens holds a token that no request could present'],
  ['a null user', { schemes: { s: { type: 'bearer', tokens: { abc: null as unknown as AuthUser } } } }, 'schemes.s.tokens maps a token to something that is not a user object'],
  ['a string user', { schemes: { s: { type: 'bearer', tokens: { abc: 'admin' as unknown as AuthUser } } } }, 'schemes.s.tokens maps a token to something that is not a user object'],
  ['an array user', { schemes: { s: { type: 'bearer', tokens: new Map([['abc', [] as unknown as AuthUser]]) } } }, 'schemes.s.tokens maps a token to something that is not a user object'],
  ['an Error user', { schemes: { s: { type: 'bearer', tokens: { abc: new Error('x') as unknown as AuthUser } } } }, 'schemes.s.tokens maps a token to something that is not a user object'],
  ['a true user', { schemes: { s: { type: 'apiKey', in: 'header', name: 'X-Key', tokens: { abc: true as unknown as AuthUser } } } }, 'schemes.s.tokens maps a token to something that is not a user object'],
  ['a getScopes that returns a string', {
    getScopes: (user) => (user as { scope: string }).scope as unknown as string[],
    schemes: { s: { type: 'bearer', tokens: { abc: { scope: 'read write' } } } }
  }, 'schemes.s.tokens: getScopes must return an array']
]

for (const [what, options, reason] of bootErrors) {
  t.test(`static tokens with ${what} stop the boot`, async (t) => {
    const app = fresh(t)
    await t.rejects(async () => { await app.register(protectedRoutes, options) }, {
      code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
      message: `Invalid fastify-protected-routes option: ${reason}`
    })
  })
}

t.test('the boot error never quotes the offending token', async (t) => {
  const app = fresh(t)
  const err = await app.register(protectedRoutes, { schemes: { s: { type: 'bearer', tokens: { 'secret value': {} } } } })
    .then(() => null, (err: Error) => err)
  t.ok(err)
  t.notMatch(String(err?.message), 'secret')
})

t.test('the comparison itself refuses what no extractor would pass: non-ASCII, NUL or longer than maxTokenLength', async (t) => {
  const verify = staticTokensVerifier('s', { abc: { id: 1 }, abcd: { id: 2 } }, () => true, () => [], 4)
  t.same(verify('abc', {} as FastifyRequest), { user: { id: 1 }, scopes: [], auth: { scheme: 's', scopes: [], user: { id: 1 } } })
  // Written as bytes, U+0163 would end in 0x63 ('c') and U+00E9 would become two bytes.
  t.equal(verify('ab\u0163', {} as FastifyRequest), null)
  t.equal(verify('ab\u00e9', {} as FastifyRequest), null)
  // Cut to maxTokenLength it would read 'abcd'; NUL-padded it would read 'abc'.
  t.equal(verify('abcde', {} as FastifyRequest), null)
  t.equal(verify('abc\u0000', {} as FastifyRequest), null)
  // The buffer is clean again after each call: the same short token still matches.
  t.same(verify('abcd', {} as FastifyRequest), { user: { id: 2 }, scopes: [], auth: { scheme: 's', scopes: [], user: { id: 2 } } })
  t.same(verify('abc', {} as FastifyRequest), { user: { id: 1 }, scopes: [], auth: { scheme: 's', scopes: [], user: { id: 1 } } })
})
