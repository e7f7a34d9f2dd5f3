// The MCP example's protected resource metadata (RFC 9728), as a certified client reads it.
import t from 'tap'
import * as oauth from 'oauth4webapi'
import { mcpExample } from './fixtures/mcp.js'

t.test('oauth4webapi discovers the resource\'s metadata and accepts it for the resource identifier', async (t) => {
  const { resource, as } = await mcpExample(t)
  const response = await oauth.resourceDiscoveryRequest(new URL(resource), { [oauth.allowInsecureRequests]: true })
  t.equal(response.url, new URL('/.well-known/oauth-protected-resource/mcp', resource).href, 'the path-inserted URL (RFC 9728 §3.1)')
  t.equal(response.headers.get('access-control-allow-origin'), '*')
  const metadata = await oauth.processResourceDiscoveryResponse(new URL(resource), response)
  t.same(metadata, {
    resource,
    authorization_servers: [as.issuer],
    scopes_supported: ['mcp:tools'],
    bearer_methods_supported: ['header'],
    resource_name: 'fastify-protected-routes MCP example'
  })
})

t.test('the metadata is public although every route of the example needs a token', async (t) => {
  const { resource, origin, as } = await mcpExample(t)
  for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
    const res = await fetch(`${origin}${path}`)
    t.equal(res.status, 200, path)
    t.match(res.headers.get('content-type'), /^application\/json/)
    t.match(await res.json(), { resource, authorization_servers: [as.issuer] })
  }
})
