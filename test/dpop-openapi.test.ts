import t from 'tap'
import { securityScheme } from '../lib/openapi.js'
import { MemoryTokenStore, type SchemeOptions } from '../lib/index.js'

// What the OpenAPI document says of a scheme with DPoP: OpenAPI cannot describe a proof made per
// request, so the description says it; a scheme that requires DPoP is an http scheme named DPoP.

const jwt = { secret: 'a-secret-of-at-least-32-bytes-long!', algorithms: ['HS256'], issuer: 'https://issuer.example', audience: 'api' }
const how = 'Authorization: DPoP <token> with a DPoP proof header (RFC 9449; proof algorithms ES256 PS256 EdDSA RS256)'

t.test('DPoP accepted beside Bearer: the bearer scheme, described', async (t) => {
  t.same(securityScheme({ type: 'bearer', jwt, dpop: {} } as SchemeOptions, '3.1', []),
    { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `Bearer tokens, and DPoP-bound tokens as ${how}.` })
  t.same(securityScheme({ type: 'bearer', opaque: { store: new MemoryTokenStore() }, dpop: { algorithms: ['ES256'] } } as SchemeOptions, '3.0', []),
    { type: 'http', scheme: 'bearer', description: 'Bearer tokens, and DPoP-bound tokens as Authorization: DPoP <token> with a DPoP proof header (RFC 9449; proof algorithms ES256).' })
})

t.test('DPoP required: an http scheme named DPoP', async (t) => {
  t.same(securityScheme({ type: 'bearer', jwt, dpop: { required: true } } as SchemeOptions, '3.1', []),
    { type: 'http', scheme: 'DPoP', bearerFormat: 'JWT', description: `Only DPoP-bound tokens: ${how}.` })
  t.same(securityScheme({ type: 'bearer', jwt, dpop: { required: true } } as SchemeOptions, '2.0', []),
    { type: 'apiKey', in: 'header', name: 'Authorization', description: `Authorization: DPoP <JWT>. Only DPoP-bound tokens: ${how}.` })
})

t.test('an OAuth2 flow keeps its shape, described', async (t) => {
  t.same(securityScheme({ type: 'bearer', jwt, tokenUrl: '/token', dpop: {} } as SchemeOptions, '3.1', ['read']),
    { type: 'oauth2', flows: { password: { tokenUrl: '/token', scopes: { read: '' } } }, description: `Bearer tokens, and DPoP-bound tokens as ${how}.` })
})

t.test('without dpop nothing changes', async (t) => {
  t.same(securityScheme({ type: 'bearer', jwt } as SchemeOptions, '3.1', []), { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
})
