// RFC 9728 §2, §3: the document the plugin serves, where, and with which headers; what it
// says is read from the schemes and routes.
import { test } from 'tap'
import swagger from '@fastify/swagger'
import { ISSUER } from './helpers/jwt.js'
import { RESOURCE, resourceApp } from './helpers/protected-resource.js'
import { build } from './helpers/app.js'

const handler = async (): Promise<string> => 'ok'

test('the document at the path-inserted URL and at the bare one, with the routes\' scopes', async (t) => {
  const { app } = await resourceApp(t, { schemes: { key: { type: 'apiKey', in: 'header', name: 'X-Key', tokens: { k: { id: 1 } } } } })
  app.get('/tools', { config: { auth: { scopes: ['mcp:tools'] } } }, handler)
  app.get('/both', { config: { auth: { scopes: ['mcp:tools', 'mcp:admin'] } } }, handler)
  app.get('/any', { config: { auth: true } }, handler)
  // A route that takes only the API key: its scopes are not OAuth scopes of this resource.
  app.get('/keys', { config: { auth: { schemes: ['key'], scopes: ['key:only'] } } }, handler)
  const expected = {
    resource: RESOURCE,
    authorization_servers: [ISSUER],
    scopes_supported: ['mcp:tools', 'mcp:admin'],
    bearer_methods_supported: ['header']
  }
  for (const url of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.equal(res.headers['cache-control'], 'public, max-age=3600')
    t.equal(res.headers['access-control-allow-origin'], '*')
    t.equal(res.headers['www-authenticate'], undefined, 'no challenge')
    t.same(res.json(), expected)
  }
  const head = await app.inject({ method: 'HEAD', url: '/.well-known/oauth-protected-resource/mcp' })
  t.equal(head.statusCode, 200, 'HEAD too')
})

test('a browser\'s CORS preflight gets its answer with no credential', async (t) => {
  const { app } = await resourceApp(t, { plugin: { protectByDefault: true } })
  const res = await app.inject({
    method: 'OPTIONS',
    url: '/.well-known/oauth-protected-resource/mcp',
    headers: { origin: 'https://client.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'mcp-protocol-version' }
  })
  t.equal(res.statusCode, 204)
  t.same({ ...res.headers }, {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET, HEAD, OPTIONS',
    'access-control-allow-headers': '*',
    'access-control-max-age': '86400',
    date: res.headers.date,
    connection: 'keep-alive'
  })
  t.equal(res.body, '')
})

test('public under protectByDefault; a resource without a path has one document URL', async (t) => {
  const { app } = await resourceApp(t, { plugin: { protectByDefault: true }, protectedResource: { resource: 'https://api.example/' } })
  app.get('/secret', handler)
  const res = await app.inject({ url: '/.well-known/oauth-protected-resource' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { resource: 'https://api.example/', authorization_servers: [ISSUER], bearer_methods_supported: ['header'] }, 'no route requires a scope: no scopes_supported')
  t.equal((await app.inject({ url: '/secret' })).statusCode, 401, 'the app\'s own routes stay protected')
  t.equal((await app.inject({ url: '/.well-known/oauth-protected-resource/' })).statusCode, 404, 'no path-inserted form')
})

test('every optional field, in RFC 9728 names; given lists replace the derived ones', async (t) => {
  const { app } = await resourceApp(t, {
    protectedResource: {
      authorizationServers: ['https://as.example', 'http://127.0.0.1:9000/realms/dev'],
      scopesSupported: ['a', 'b'],
      resourceName: 'Example MCP server',
      resourceDocumentation: 'https://docs.example/mcp',
      resourcePolicyUri: 'https://docs.example/policy',
      resourceTosUri: 'https://docs.example/tos',
      jwksUri: 'https://api.example/jwks.json',
      resourceSigningAlgValuesSupported: ['ES256'],
      authorizationDetailsTypesSupported: ['payment_initiation']
    }
  })
  app.get('/tools', { config: { auth: { scopes: ['mcp:tools'] } } }, handler)
  const res = await app.inject({ url: '/.well-known/oauth-protected-resource/mcp' })
  t.same(res.json(), {
    resource: RESOURCE,
    authorization_servers: ['https://as.example', 'http://127.0.0.1:9000/realms/dev'],
    scopes_supported: ['a', 'b'],
    bearer_methods_supported: ['header'],
    resource_name: 'Example MCP server',
    resource_documentation: 'https://docs.example/mcp',
    resource_policy_uri: 'https://docs.example/policy',
    resource_tos_uri: 'https://docs.example/tos',
    jwks_uri: 'https://api.example/jwks.json',
    resource_signing_alg_values_supported: ['ES256'],
    authorization_details_types_supported: ['payment_initiation']
  })
  t.equal(res.body.indexOf('"resource"'), 1, 'resource comes first')
})

test('the issuers of every jwt and introspection scheme, each once, URLs only', async (t) => {
  const app = await build(t, {
    schemes: {
      a: { type: 'bearer', jwt: { secret: new Uint8Array(32), algorithms: ['HS256'], issuer: 'internal' } },
      b: {
        type: 'bearer',
        jwt: {
          algorithms: ['HS256'],
          issuers: [{ issuer: 'https://one.example/', secret: new Uint8Array(32) }, { issuer: 'http://localhost:8080/realms/x', secret: new Uint8Array(32) }, { issuer: 'https://one.example', secret: new Uint8Array(32) }]
        }
      },
      c: { type: 'bearer', introspection: { url: 'https://one.example/introspect', clientId: 'c', clientSecret: 's', issuer: 'https://one.example/' } },
      d: { type: 'bearer', introspection: { url: 'https://two.example/introspect', clientId: 'c', clientSecret: 's' } },
      e: { type: 'bearer', verify: () => null }
    },
    protectedResource: { resource: RESOURCE }
  })
  const res = await app.inject({ url: '/.well-known/oauth-protected-resource' })
  t.same(res.json().authorization_servers, ['https://one.example/', 'http://localhost:8080/realms/x', 'https://one.example'], 'as written: an issuer is compared exactly')
})

test('DPoP: its algorithms, and whether every bearer scheme requires it', async (t) => {
  const jwt = (issuer: string) => ({ secret: new Uint8Array(32), algorithms: ['HS256'], issuer })
  const document = async (schemes: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const app = await build(t, { schemes, protectedResource: { resource: RESOURCE } } as never)
    return (await app.inject({ url: '/.well-known/oauth-protected-resource' })).json()
  }
  const optional = await document({ a: { type: 'bearer', jwt: jwt(ISSUER), dpop: { algorithms: ['ES256', 'EdDSA'] } }, b: { type: 'bearer', jwt: jwt(ISSUER), dpop: { algorithms: ['EdDSA', 'PS256'], required: true } } })
  t.same(optional.dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'PS256'])
  t.equal(optional.dpop_bound_access_tokens_required, false, 'scheme a takes bearer tokens too')
  const required = await document({ a: { type: 'bearer', jwt: jwt(ISSUER), dpop: { required: true } }, key: { type: 'apiKey', in: 'header', name: 'X-Key', tokens: { k: {} } } })
  t.same(required.dpop_signing_alg_values_supported, ['ES256', 'PS256', 'EdDSA', 'RS256'])
  t.equal(required.dpop_bound_access_tokens_required, true, 'an API key is no access token')
  const none = await document({ a: { type: 'bearer', jwt: jwt(ISSUER) } })
  t.notOk('dpop_signing_alg_values_supported' in none)
  t.notOk('dpop_bound_access_tokens_required' in none)
})

test('left out of the OpenAPI document; the protected operations keep their security', async (t) => {
  const { app } = await resourceApp(t)
  await app.register(swagger, { openapi: { info: { title: 't', version: '1' } } })
  app.get('/tools', { config: { auth: { scopes: ['mcp:tools'] } } }, handler)
  await app.ready()
  const spec = app.swagger() as { paths: Record<string, { get: { security: unknown } }> }
  t.same(Object.keys(spec.paths), ['/tools'])
  t.same(spec.paths['/tools']!.get.security, [{ bearerAuth: [] }], 'an http bearer scheme lists no scopes (OpenAPI 3.0)')
})
