// protectedResource and mcpAuthInfo are checked at boot; every problem is named with what to fix.
import { test } from 'tap'
import Fastify from 'fastify'
import protectedRoutes, { type ProtectedRoutesOptions } from '../lib/index.js'
import { fresh } from './helpers/app.js'
import { ISSUER } from './helpers/jwt.js'
import { RESOURCE } from './helpers/protected-resource.js'

const jwt = { type: 'bearer', jwt: { secret: new Uint8Array(32), algorithms: ['HS256'], issuer: ISSUER } } as const
const prefix = 'Invalid fastify-protected-routes option: '
const url = "(https:, or http: on a loopback host; no query, fragment or credentials), e.g. 'https://api.example/mcp'"

async function boot (options: Record<string, unknown>, schemes: Record<string, unknown> = { bearerAuth: jwt }): Promise<void> {
  const app = Fastify()
  try {
    await app.register(protectedRoutes, { schemes, ...options } as unknown as ProtectedRoutesOptions)
    await app.ready()
  } finally {
    await app.close()
  }
}

test('bad protectedResource options fail the boot', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['not an object', 'https://api.example/', 'protectedResource must be an object with at least resource'],
    ['no resource', {}, `protectedResource.resource must be the URL clients use for this API ${url}`],
    ['a relative resource', { resource: '/mcp' }, `protectedResource.resource must be the URL clients use for this API ${url}`],
    ['http on a public host', { resource: 'http://api.example/mcp' }, `protectedResource.resource must be the URL clients use for this API ${url}`],
    ['a query', { resource: 'https://api.example/mcp?x=1' }, `protectedResource.resource must be the URL clients use for this API ${url}`],
    ['a fragment', { resource: 'https://api.example/mcp#x' }, `protectedResource.resource must be the URL clients use for this API ${url}`],
    ['an empty fragment', { resource: 'https://api.example/mcp#' }, `protectedResource.resource must be the URL clients use for this API ${url}`],
    ['credentials', { resource: 'https://me:pw@api.example/mcp' }, `protectedResource.resource must be the URL clients use for this API ${url}`],
    ['a URL object', { resource: new URL(RESOURCE) }, `protectedResource.resource must be the URL clients use for this API ${url}`],
    ['a route parameter in the path', { resource: 'https://api.example/a:b' }, "protectedResource.resource must have a path of letters, digits and '-._~' only: the document is served at a route under it"],
    ['a percent-encoded path', { resource: 'https://api.example/a%20b' }, "protectedResource.resource must have a path of letters, digits and '-._~' only: the document is served at a route under it"],
    ['an unknown key', { resource: RESOURCE, resource_name: 'x' }, "protectedResource has an unknown key 'resource_name' (known: resource, authorizationServers, scopesSupported, resourceName, resourceDocumentation, resourcePolicyUri, resourceTosUri, jwksUri, resourceSigningAlgValuesSupported, authorizationDetailsTypesSupported)"],
    ['a derived field', { resource: RESOURCE, bearerMethodsSupported: ['query'] }, 'protectedResource.bearerMethodsSupported is not an option: the document reads it from the bearer schemes'],
    ['a derived DPoP field', { resource: RESOURCE, dpopBoundAccessTokensRequired: true }, "protectedResource.dpopBoundAccessTokensRequired is not an option: the document reads it from the schemes' dpop.required"],
    ['authorizationServers not a list', { resource: RESOURCE, authorizationServers: ISSUER }, "protectedResource.authorizationServers must be an array of authorization servers' issuer URLs (https:, or http: on a loopback host; no query or fragment)"],
    ['an authorization server with a query', { resource: RESOURCE, authorizationServers: ['https://as.example/?tenant=1'] }, "protectedResource.authorizationServers must be an array of authorization servers' issuer URLs (https:, or http: on a loopback host; no query or fragment)"],
    ['an authorization server twice', { resource: RESOURCE, authorizationServers: [ISSUER, ISSUER] }, 'protectedResource.authorizationServers lists an entry twice'],
    ['a scope with a space', { resource: RESOURCE, scopesSupported: ['a b'] }, 'protectedResource.scopesSupported must be an array of scope tokens'],
    ['an empty resourceName', { resource: RESOURCE, resourceName: '' }, 'protectedResource.resourceName must be a non-empty string'],
    ['a documentation URL that is not one', { resource: RESOURCE, resourceDocumentation: 'docs' }, 'protectedResource.resourceDocumentation must be a URL (https:, or http: on a loopback host)'],
    ['a jwksUri that is not a string', { resource: RESOURCE, jwksUri: 1 }, 'protectedResource.jwksUri must be a URL (https:, or http: on a loopback host)'],
    ['an empty algorithm', { resource: RESOURCE, resourceSigningAlgValuesSupported: [''] }, 'protectedResource.resourceSigningAlgValuesSupported must be an array of non-empty strings']
  ]
  for (const [name, value, message] of cases) {
    await t.rejects(boot({ protectedResource: value }), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message: prefix + message }, name)
  }
})

test('a resource needs a bearer scheme, and authorization servers to name', async (t) => {
  await t.rejects(boot({ protectedResource: { resource: RESOURCE } }, { key: { type: 'apiKey', in: 'header', name: 'X-Key', tokens: { k: {} } } }),
    { message: `${prefix}protectedResource.resource needs a bearer scheme: the document describes OAuth access tokens, which API keys are not` })
  const internal = { type: 'bearer', jwt: { secret: new Uint8Array(32), algorithms: ['HS256'], issuer: 'internal' } }
  const message = `${prefix}protectedResource.authorizationServers: no jwt or introspection scheme names an issuer URL, so list the issuer identifiers of the authorization servers clients get tokens from (RFC 9728 §2); without them the document tells a client nothing to follow`
  await t.rejects(boot({ protectedResource: { resource: RESOURCE } }, { bearerAuth: internal }), { message })
  await t.rejects(boot({ protectedResource: { resource: RESOURCE } }, { bearerAuth: { type: 'bearer', verify: () => null } }), { message })
  await t.resolves(boot({ protectedResource: { resource: RESOURCE, authorizationServers: ['https://as.example/'] } }, { bearerAuth: internal }))
})

test('the document\'s URL is at the host\'s root: a prefixed registration fails the boot', async (t) => {
  const app = fresh(t)
  await t.rejects(async () => {
    await app.register(async (child) => {
      await child.register(protectedRoutes, { schemes: { bearerAuth: jwt }, protectedResource: { resource: RESOURCE } })
    }, { prefix: '/api' })
  }, { message: `${prefix}protectedResource: the plugin is registered under the prefix '/api', and RFC 9728 puts the document at /.well-known/oauth-protected-resource/mcp from the host's root; register the plugin in a context without a prefix` })
})

test('a route of the app at the document\'s URL is a boot error (Fastify\'s own)', async (t) => {
  const app = fresh(t)
  await app.register(protectedRoutes, { schemes: { bearerAuth: jwt }, protectedResource: { resource: RESOURCE } })
  t.throws(() => app.get('/.well-known/oauth-protected-resource', async () => ({})), { code: 'FST_ERR_DUPLICATED_ROUTE' })
})

test('mcpAuthInfo must be a boolean', async (t) => {
  await t.rejects(boot({ mcpAuthInfo: 'yes' }), { message: `${prefix}mcpAuthInfo must be a boolean` })
  await t.resolves(boot({ mcpAuthInfo: false }, { bearerAuth: { type: 'bearer', verify: () => null } }))
})
