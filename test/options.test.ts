import { setTimeout } from 'node:timers/promises'
import t from 'tap'
import protectedRoutes, { InvalidOptionError, type ProtectedRoutesOptions } from '../lib/index.js'
import { defaultGetScopes } from '../lib/options.js'
import { build, fresh, spyVerify } from './helpers/app.js'

const verify = spyVerify({})
const bearer = { type: 'bearer', verify } as const
const apiKey = { type: 'apiKey', in: 'header', name: 'X-Token', verify } as const

// Each case is one branch of normalizeOptions; the options are deliberately untyped.
const cases: Array<[string, unknown, string]> = [
  ['options that are not an object', [], 'options must be an object'],
  ['an unknown option', { schemes: { bearer }, scheme: {} }, "unknown option 'scheme'"],
  ['no schemes', {}, 'schemes must name at least one scheme'],
  ['schemes that are not an object', { schemes: [bearer] }, 'schemes must name at least one scheme'],
  ['an empty schemes object', { schemes: {} }, 'schemes must name at least one scheme'],
  ['a scheme that is not an object', { schemes: { bearer: 'bearer' } }, 'schemes.bearer must be an object'],
  ['a scheme of unknown type', { schemes: { basic: { type: 'basic', verify } } }, "schemes.basic.type must be 'bearer' or 'apiKey'"],
  ['a scheme without a type', { schemes: { x: { verify } } }, "schemes.x.type must be 'bearer' or 'apiKey'"],
  ['an API key in the body', { schemes: { key: { ...apiKey, in: 'body' } } }, "schemes.key.in must be 'header', 'query' or 'cookie'"],
  ['an API key with no name', { schemes: { key: { type: 'apiKey', in: 'header', verify } } }, 'schemes.key.name must be a header, query or cookie name'],
  ['an API key name with a space', { schemes: { key: { ...apiKey, name: 'X Token' } } }, 'schemes.key.name must be a header, query or cookie name'],
  ['an empty API key name', { schemes: { key: { ...apiKey, name: '' } } }, 'schemes.key.name must be a header, query or cookie name'],
  ['an API key in the Authorization header', { schemes: { key: { ...apiKey, name: 'AUTHORIZATION' } } }, 'schemes.key.name cannot be Authorization: use a bearer scheme'],
  ['jwt on an API key scheme', { schemes: { key: { type: 'apiKey', in: 'query', name: 'key', jwt: {} } } }, 'schemes.key.jwt is for bearer schemes'],
  ['opaque on an API key scheme', { schemes: { key: { type: 'apiKey', in: 'query', name: 'key', opaque: {} } } }, 'schemes.key.opaque is for bearer schemes'],
  ['a bearer scheme with no verifier', { schemes: { bearer: { type: 'bearer' } } }, 'schemes.bearer needs exactly one of verify, tokens, jwt, opaque or introspection'],
  ['a bearer scheme with two verifiers', { schemes: { bearer: { ...bearer, tokens: { abc: {} } } } }, 'schemes.bearer needs exactly one of verify, tokens, jwt, opaque or introspection'],
  ['an API key scheme with no verifier', { schemes: { key: { type: 'apiKey', in: 'cookie', name: 'key' } } }, 'schemes.key needs exactly one of verify or tokens'],
  ['a verify that is not a function', { schemes: { bearer: { type: 'bearer', verify: 'yes' } } }, 'schemes.bearer.verify must be a function'],
  ['tokens that are null', { schemes: { bearer: { type: 'bearer', tokens: null } } }, 'schemes.bearer.tokens must be an object or a Map'],
  ['tokens that are an array', { schemes: { bearer: { type: 'bearer', tokens: [['abc', {}]] } } }, 'schemes.bearer.tokens must be an object or a Map'],
  ['tokens that are a string', { schemes: { key: { ...apiKey, verify: undefined, tokens: 'abc' } } }, 'schemes.key.tokens must be an object or a Map'],
  ['defaultSchemes that is not an array', { schemes: { bearer }, defaultSchemes: 'bearer' }, 'defaultSchemes must be a non-empty array'],
  ['an empty defaultSchemes', { schemes: { bearer }, defaultSchemes: [] }, 'defaultSchemes must be a non-empty array'],
  ['defaultSchemes naming an unknown scheme', { schemes: { bearer }, defaultSchemes: ['bearer', 'key'] }, "defaultSchemes names an unknown scheme 'key'"],
  ['defaultSchemes listing a scheme twice', { schemes: { bearer }, defaultSchemes: ['bearer', 'bearer'] }, 'defaultSchemes lists a scheme twice'],
  ['a protectByDefault that is not a boolean', { schemes: { bearer }, protectByDefault: 'yes' }, 'protectByDefault must be a boolean'],
  ['a publicRoutes that is not an array', { schemes: { bearer }, publicRoutes: '/documentation' }, 'publicRoutes must be an array of paths'],
  ['a realm that is not a string', { schemes: { bearer }, realm: 1 }, 'realm must be printable ASCII without quotes or backslashes'],
  ['an empty realm', { schemes: { bearer }, realm: '' }, 'realm must be printable ASCII without quotes or backslashes'],
  ['a realm with a quote', { schemes: { bearer }, realm: 'a"b' }, 'realm must be printable ASCII without quotes or backslashes'],
  ['a realm with a backslash', { schemes: { bearer }, realm: 'a\\b' }, 'realm must be printable ASCII without quotes or backslashes'],
  ['a realm with a line break', { schemes: { bearer }, realm: 'api\r\nX-Evil: 1' }, 'realm must be printable ASCII without quotes or backslashes'],
  ['a realm that is not ASCII', { schemes: { bearer }, realm: 'äpi' }, 'realm must be printable ASCII without quotes or backslashes'],
  ['an unknown hook', { schemes: { bearer }, hook: 'preParsing' }, "hook must be 'onRequest' or 'preHandler'"],
  ['a getScopes that is not a function', { schemes: { bearer }, getScopes: ['admin'] }, 'getScopes must be a function'],
  ['an unknown logLevel', { schemes: { bearer }, logLevel: 'verbose' }, 'logLevel must be a pino level name'],
  ['a verifyTimeout that is not a number', { schemes: { bearer }, verifyTimeout: '100' }, 'verifyTimeout must be a positive integer'],
  ['a fractional verifyTimeout', { schemes: { bearer }, verifyTimeout: 0.5 }, 'verifyTimeout must be a positive integer'],
  ['a zero verifyTimeout', { schemes: { bearer }, verifyTimeout: 0 }, 'verifyTimeout must be a positive integer'],
  ['an infinite verifyTimeout', { schemes: { bearer }, verifyTimeout: Infinity }, 'verifyTimeout must be a positive integer'],
  ['a verifyTimeout beyond what a timer can wait', { schemes: { bearer }, verifyTimeout: 2 ** 31 }, 'verifyTimeout must be at most 2147483647'],
  ['a negative maxTokenLength', { schemes: { bearer }, maxTokenLength: -1 }, 'maxTokenLength must be a positive integer'],
  ['a maxTokenLength that is not a number', { schemes: { bearer }, maxTokenLength: null }, 'maxTokenLength must be a positive integer']
]

for (const [what, options, reason] of cases) {
  t.test(`register rejects ${what}`, async (t) => {
    const app = fresh(t)
    await t.rejects(async () => { await app.register(protectedRoutes, options as ProtectedRoutesOptions) }, {
      name: 'FastifyError',
      code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
      message: `Invalid fastify-protected-routes option: ${reason}`
    })
  })
}

t.test('an option error is the exported InvalidOptionError', async (t) => {
  const app = fresh(t)
  const err = await app.register(protectedRoutes, {} as ProtectedRoutesOptions).then(() => null, (err: unknown) => err)
  t.ok(err instanceof InvalidOptionError)
})

t.test('the largest verifyTimeout a timer can wait is accepted and lets a slow verifier answer', async (t) => {
  const slow = async () => {
    await setTimeout(20)
    return { id: 1 }
  }
  const app = await build(t, { schemes: { bearer: { type: 'bearer', verify: slow } }, verifyTimeout: 2 ** 31 - 1 })
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer abc' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { id: 1 })
})

t.test('a verifyTimeout of 1 ms is accepted', async (t) => {
  const app = await build(t, { schemes: { bearer: { type: 'bearer', verify: () => ({ id: 1 }) } }, verifyTimeout: 1 })
  app.get('/me', { config: { auth: true } }, async (request) => request.user)
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer abc' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { id: 1 })
})

t.test('options may be given every default explicitly', async (t) => {
  const app = await build(t, {
    schemes: { bearer, key: apiKey },
    defaultSchemes: ['key', 'bearer'],
    protectByDefault: false,
    realm: 'my api',
    hook: 'preHandler',
    verifyTimeout: 10_000,
    maxTokenLength: 8192,
    getScopes: defaultGetScopes,
    logLevel: 'silent'
  })
  app.get('/me', { config: { auth: true } }, async () => 'ok')
  app.get('/public', async () => 'public')
  const res = await app.inject('/me')
  t.equal(res.statusCode, 401)
  t.same(res.headers['www-authenticate'], ['ApiKey realm="my api", in="header", name="X-Token"', 'Bearer realm="my api"'])
  t.equal((await app.inject('/public')).body, 'public')
})

t.test('defaultSchemes defaults to every scheme in declared order', async (t) => {
  const app = await build(t, { schemes: { key: apiKey, bearer } })
  app.get('/me', { config: { auth: true } }, async () => 'ok')
  const res = await app.inject('/me')
  t.same(res.headers['www-authenticate'], ['ApiKey realm="api", in="header", name="X-Token"', 'Bearer realm="api"'])
})

t.test('the default scope reader', async (t) => {
  t.same(defaultGetScopes({ scopes: ['a', 1, 'b', null] }), ['a', 'b'], 'takes the strings of a scopes array')
  t.same(defaultGetScopes({ scope: '  a b   c ' }), ['a', 'b', 'c'], 'splits a space-delimited scope string (RFC 6749 §3.3)')
  t.same(defaultGetScopes({ scopes: ['a'], scope: 'b' }), ['a'], 'prefers the scopes array')
  t.same(defaultGetScopes({ scopes: 'a b', scope: 'c' }), ['c'], 'ignores a scopes value that is not an array')
  t.same(defaultGetScopes({ scope: ['a'] }), [], 'ignores a scope value that is not a string')
  t.same(defaultGetScopes({ id: 1 }), [], 'grants nothing when the user has neither')
})
