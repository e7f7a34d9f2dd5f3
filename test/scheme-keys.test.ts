import t from 'tap'
import protectedRoutes, { MemoryTokenStore, type ProtectedRoutesOptions } from '../lib/index.js'
import { fresh } from './helpers/app.js'

// A misspelled key in a scheme used to be ignored (`verfiy` beside `tokens`) or reported as a
// missing verifier (`verfiy` alone). Each is now named at boot; the options are untyped here,
// the types refuse them too (test/types/schemes.test.ts).
const verify = (): null => null
const bearerKeys = 'type, verify, tokens, jwt, opaque, introspection, dpop, tokenUrl, scopes'
const apiKeyKeys = 'type, in, name, verify, tokens'
const cases: Array<[string, unknown, string]> = [
  ['a misspelled verifier alone', { type: 'bearer', verfiy: verify }, `schemes.s has an unknown key 'verfiy' (known for bearer schemes: ${bearerKeys})`],
  ['a misspelled key beside a verifier', { type: 'bearer', tokens: { t: { id: 1 } }, tokenURL: '/token' }, `schemes.s has an unknown key 'tokenURL' (known for bearer schemes: ${bearerKeys})`],
  ['a key of no scheme type on an API key', { type: 'apiKey', in: 'header', name: 'X-Token', verify, header: 'X-Token' }, `schemes.s has an unknown key 'header' (known for apiKey schemes: ${apiKeyKeys})`],
  ['a misspelled API key field', { type: 'apiKey', in: 'header', name: 'X-Token', verify, nmae: 'X' }, `schemes.s has an unknown key 'nmae' (known for apiKey schemes: ${apiKeyKeys})`]
]

for (const [what, scheme, message] of cases) {
  t.test(`${what} fails the boot naming the key`, async (t) => {
    const app = fresh(t)
    await t.rejects(async () => { await app.register(protectedRoutes, { schemes: { s: scheme } } as unknown as ProtectedRoutesOptions) },
      { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message: `Invalid fastify-protected-routes option: ${message}` })
  })
}

t.test('every known key of each scheme type boots', async (t) => {
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: {
      withVerify: { type: 'bearer', verify, tokenUrl: '/token', scopes: { read: 'Read' } },
      withTokens: { type: 'bearer', tokens: { t: { id: 1 } } },
      withJwt: { type: 'bearer', jwt: { secret: 'x'.repeat(32), algorithms: ['HS256'], issuer: 'i', audience: 'a' } },
      withOpaque: { type: 'bearer', opaque: { store: new MemoryTokenStore() } },
      keyVerify: { type: 'apiKey', in: 'header', name: 'X-Token', verify },
      keyTokens: { type: 'apiKey', in: 'query', name: 'key', tokens: { k: { id: 2 } } }
    }
  })
  await app.ready()
  t.pass('booted')
})
