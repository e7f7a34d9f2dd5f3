import t from 'tap'
import Fastify from 'fastify'
import protectedRoutes, { type JwtOptions } from '../../lib/index.js'

// Checked by `npm run typecheck`: a JWT scheme has one issuer with one key source, or `issuers`
// replacing both. Each @ts-expect-error must stay an error; the boot refuses the same at run time.

const secret = 'x'.repeat(32)

t.test('JwtOptions: one key source, and issuers instead of issuer', async (t) => {
  const discovered: JwtOptions = { issuer: 'https://kc.example/realms/demo', discovery: true, algorithms: ['RS256'], audience: ['a', 'b'] }
  const several: JwtOptions = {
    algorithms: ['RS256'],
    audience: 'a',
    issuers: [
      { issuer: 'https://kc.example/realms/demo', discovery: true },
      { issuer: 'https://tenant.auth0.com/', jwksUrl: 'https://tenant.auth0.com/.well-known/jwks.json', audience: ['c'] },
      { issuer: 'internal', secret, algorithms: ['HS256'] }
    ]
  }
  // @ts-expect-error discovery and jwksUrl exclude each other
  const both: JwtOptions = { issuer: 'https://i.example/', discovery: true, jwksUrl: 'https://i.example/jwks', algorithms: ['RS256'], audience: 'a' }
  // @ts-expect-error issuers replaces issuer
  const issuerToo: JwtOptions = { issuer: 'i', algorithms: ['HS256'], audience: 'a', issuers: [{ issuer: 'i', secret }] }
  // @ts-expect-error issuers replaces the key source
  const secretToo: JwtOptions = { secret, algorithms: ['HS256'], audience: 'a', issuers: [{ issuer: 'i', secret }] }
  // @ts-expect-error an entry needs a key source
  const noSource: JwtOptions = { algorithms: ['HS256'], audience: 'a', issuers: [{ issuer: 'i' }] }
  // @ts-expect-error discovery is true or absent
  const off: JwtOptions = { issuer: 'https://i.example/', discovery: false, algorithms: ['RS256'], audience: 'a' }
  for (const jwt of [issuerToo, secretToo, noSource, both, off]) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(protectedRoutes, { schemes: { s: { type: 'bearer', jwt } } }) }, { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION' })
    await app.close()
  }
  for (const jwt of [discovered, several]) {
    const app = Fastify()
    await app.register(protectedRoutes, { schemes: { s: { type: 'bearer', jwt } } })
    await app.close()
  }
})
