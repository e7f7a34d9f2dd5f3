// What the MCP example answers a client without the right token: the RFC 6750 challenges with
// RFC 9728's resource_metadata, over a real socket, with tokens of the demo authorization server.
import t from 'tap'
import { errorBody } from './fixtures/helpers.js'
import { initialize, mcpExample, OTHER_RESOURCE, rpc } from './fixtures/mcp.js'

const DESCRIPTION = {
  audience: 'The access token audience is not accepted',
  scope: 'The access token does not grant the required scope'
}

function challenge (origin: string, extra = ''): string {
  return `Bearer realm="mcp", resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"${extra}`
}

t.test('no token: 401 with the challenge that names the protected resource metadata', async (t) => {
  const { resource, origin } = await mcpExample(t)
  const res = await fetch(resource, { method: 'POST', ...initialize() })
  t.equal(res.status, 401)
  t.equal(res.headers.get('www-authenticate'), challenge(origin))
  t.same(await res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))
})

t.test('a token of the same authorization server for another resource: 401 invalid_token', async (t) => {
  const { resource, origin, as, token } = await mcpExample(t)
  const other = await token(as.clients.tools, { resource: OTHER_RESOURCE, scope: 'mcp:tools' })
  const res = await fetch(resource, { method: 'POST', headers: { ...initialize().headers, authorization: `Bearer ${other}` }, body: initialize().body })
  t.equal(res.status, 401)
  t.equal(res.headers.get('www-authenticate'), challenge(origin, `, error="invalid_token", error_description="${DESCRIPTION.audience}"`))
  t.same(await res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', DESCRIPTION.audience))
})

t.test('a token for the resource without mcp:tools: 403 insufficient_scope naming the scope', async (t) => {
  const { resource, origin, as, token } = await mcpExample(t)
  const reader = await token(as.clients.reader, { resource, scope: 'mcp:resources' })
  const res = await fetch(resource, { method: 'POST', headers: { ...initialize().headers, authorization: `Bearer ${reader}` }, body: initialize().body })
  t.equal(res.status, 403)
  t.equal(res.headers.get('www-authenticate'), challenge(origin, `, error="insufficient_scope", error_description="${DESCRIPTION.scope}", scope="mcp:tools"`))
  t.same(await res.json(), errorBody(403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', DESCRIPTION.scope))
})

t.test('a token for the resource with mcp:tools: the MCP server answers, in JSON', async (t) => {
  const { resource, as, token } = await mcpExample(t)
  const tools = await token(as.clients.tools, { resource, scope: 'mcp:tools' })
  const headers = { ...initialize().headers, authorization: `Bearer ${tools}` }
  const init = await fetch(resource, { method: 'POST', headers, body: initialize().body })
  t.equal(init.status, 200)
  t.equal(init.headers.get('www-authenticate'), null)
  t.match(init.headers.get('content-type'), /^application\/json/)
  t.match(await init.json(), { jsonrpc: '2.0', id: 1, result: { protocolVersion: '2025-06-18', serverInfo: { name: 'fastify-protected-routes-mcp-example', version: '1.0.0' } } })

  // Stateless: any request stands alone, with its own token check.
  const called = await fetch(resource, { method: 'POST', headers: { ...headers, 'mcp-protocol-version': '2025-06-18' }, body: rpc('tools/call', { name: 'whoami' }, 2).body })
  t.equal(called.status, 200)
  const { result } = await called.json() as { result: { structuredContent: Record<string, unknown> } }
  t.same(result.structuredContent, { clientId: 'mcp-client', scopes: ['mcp:tools'], resource, expiresAt: result.structuredContent.expiresAt })
})

t.test('GET and DELETE /mcp: 405 for a caller with a token, the challenge for one without', async (t) => {
  const { resource, origin, as, token } = await mcpExample(t)
  const authorization = `Bearer ${await token(as.clients.tools, { resource, scope: 'mcp:tools' })}`
  for (const method of ['GET', 'DELETE']) {
    const res = await fetch(resource, { method, headers: { authorization, accept: 'text/event-stream' } })
    t.equal(res.status, 405, method)
    t.equal(res.headers.get('allow'), 'POST')
    t.same(await res.json(), { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null })
    const anonymous = await fetch(resource, { method })
    t.equal(anonymous.status, 401, method)
    t.equal(anonymous.headers.get('www-authenticate'), challenge(origin))
    await anonymous.body?.cancel()
  }
})

t.test('a token asked for without a resource indicator (an opaque one, for no resource): 401 invalid_token', async (t) => {
  const { resource, origin, as, token } = await mcpExample(t)
  const opaque = await token(as.clients.tools, { scope: 'mcp:tools' })
  const res = await fetch(resource, { method: 'POST', headers: { ...initialize().headers, authorization: `Bearer ${opaque}` }, body: initialize().body })
  t.equal(res.status, 401)
  t.equal(res.headers.get('www-authenticate'), challenge(origin, ', error="invalid_token", error_description="The access token is malformed"'))
  t.same(await res.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is malformed'))
})
