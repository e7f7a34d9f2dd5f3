import t from 'tap'
import Fastify from 'fastify'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import protectedRoutes, { type McpAuthInfo, type ProtectedResourceOptions, type ProtectedRoutesOptions } from '../../lib/index.js'

// Checked by `npm run typecheck`: protectedResource and mcpAuthInfo as the types allow them.

t.test('with protectedResource, a jwt scheme may leave audience to the resource', async (t) => {
  const options: ProtectedRoutesOptions = {
    schemes: { bearerAuth: { type: 'bearer', jwt: { issuer: 'https://as.example/', discovery: true, algorithms: ['RS256'] } } },
    protectedResource: { resource: 'https://api.example/mcp', resourceName: 'Example', scopesSupported: ['mcp:tools'], authorizationServers: ['https://as.example/'] },
    mcpAuthInfo: true
  }
  const app = Fastify()
  await app.register(protectedRoutes, options)
  t.ok(app.hasRoute({ method: 'GET', url: '/.well-known/oauth-protected-resource/mcp' }))
  await app.close()

  // @ts-expect-error resource is required
  const noResource: ProtectedResourceOptions = { resourceName: 'x' }
  // @ts-expect-error the document's DPoP and bearer fields are read from the schemes, not set
  const derived: ProtectedResourceOptions = { resource: 'https://api.example/', bearerMethodsSupported: ['header'] }
  // @ts-expect-error mcpAuthInfo is a boolean
  const mcp: Partial<ProtectedRoutesOptions> = { mcpAuthInfo: 'yes' }
  t.ok(noResource !== undefined && derived !== undefined && mcp !== undefined)
})

t.test('McpAuthInfo is read-only', async (t) => {
  const info: McpAuthInfo = { token: 't', clientId: 'c', scopes: [], extra: { scheme: 'bearerAuth', user: { username: 'alice', scopes: [] } } }
  // @ts-expect-error its fields are read-only
  info.clientId = 'other'
  t.equal(info.token, 't')
})

t.test('McpAuthInfo is the MCP SDK\'s AuthInfo', async (t) => {
  const info: McpAuthInfo = { token: 't', clientId: 'c', scopes: ['mcp:tools'], resource: new URL('https://api.example/mcp'), extra: { scheme: 'bearerAuth', user: { username: 'alice', scopes: [] } } }
  const handedOn: AuthInfo = info
  t.equal(handedOn.clientId, 'c')
})
