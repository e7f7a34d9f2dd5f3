import t from 'tap'
import Fastify from 'fastify'
import protectedRoutes, { type ProtectedRoutesOptions, type SchemeOptions } from '../lib/index.js'

// The document-only options of a bearer scheme: tokenUrl and scope descriptions.

const tokens = { 'alice-token': { username: 'alice' } }

async function register (t: { teardown: (fn: () => unknown) => void }, scheme: unknown): Promise<void> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { s: scheme } } as unknown as ProtectedRoutesOptions)
  await app.ready()
}

t.test('a bearer scheme takes a tokenUrl and scope descriptions', async (t) => {
  await t.resolves(register(t, { type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items:read': 'Read items' } }))
  await t.resolves(register(t, { type: 'bearer', tokens, tokenUrl: 'https://auth.example.com/oauth2/token' }))
})

t.test('tokenUrl and scopes that cannot be documented stop the boot', async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ type: 'apiKey', in: 'header', name: 'X-Token', tokens, tokenUrl: '/token' }, 'schemes.s.tokenUrl and scopes are for bearer schemes'],
    [{ type: 'apiKey', in: 'header', name: 'X-Token', tokens, scopes: {} }, 'schemes.s.tokenUrl and scopes are for bearer schemes'],
    [{ type: 'bearer', tokens, scopes: { 'items:read': 'Read items' } }, 'schemes.s.scopes needs tokenUrl: it describes the scopes of the OAuth2 flow'],
    [{ type: 'bearer', tokens, tokenUrl: 42 }, "schemes.s.tokenUrl must be a URL or a path, e.g. '/token'"],
    [{ type: 'bearer', tokens, tokenUrl: '' }, "schemes.s.tokenUrl must be a URL or a path, e.g. '/token'"],
    [{ type: 'bearer', tokens, tokenUrl: '/oauth token' }, "schemes.s.tokenUrl must be a URL or a path, e.g. '/token'"],
    [{ type: 'bearer', tokens, tokenUrl: '/token', scopes: ['items:read'] }, 'schemes.s.scopes must map scope tokens to descriptions'],
    [{ type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items read': 'Read items' } }, 'schemes.s.scopes must map scope tokens to descriptions'],
    [{ type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items:read': true } }, 'schemes.s.scopes must map scope tokens to descriptions']
  ]
  for (const [scheme, reason] of cases) {
    await t.rejects(register(t, scheme), {
      code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
      message: `Invalid fastify-protected-routes option: ${reason}`
    }, reason)
  }
})

t.test('the types allow tokenUrl and scopes on bearer schemes only', async (t) => {
  const bearer: SchemeOptions = { type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items:read': 'Read items' } }
  // @ts-expect-error tokenUrl is not an API-key option
  const apiKey: SchemeOptions = { type: 'apiKey', in: 'header', name: 'X-Token', tokens, tokenUrl: '/token' }
  // @ts-expect-error scope descriptions are strings
  const badScopes: SchemeOptions = { type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items:read': 1 } }
  t.ok(bearer && apiKey && badScopes)
})
