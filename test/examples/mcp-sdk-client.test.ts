// The MCP example end to end with the official SDK's client: its client credentials provider
// finds the authorization server from the 401 alone and calls the tools with the token it got.
import t from 'tap'
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { callTools } from '../../examples/mcp/connect.js'
import { createMcpServer, describeCaller } from '../../examples/mcp/tools.js'
import { mcpExample } from './fixtures/mcp.js'

t.test('from no token to a tool result: 401, protected resource metadata, authorization server, token for the resource, 200', async (t) => {
  const { resource, origin, as } = await mcpExample(t)
  const seen: string[] = []
  async function recording (url: string | URL, init?: RequestInit): Promise<Response> {
    const response = await fetch(url, init)
    const { origin: at, pathname } = new URL(url)
    seen.push(`${init?.method ?? 'GET'} ${at === origin ? 'mcp' : at === as.issuer ? 'as' : at}${pathname} ${response.status}`)
    return response
  }
  const authProvider = new ClientCredentialsProvider({ clientId: as.clients.tools.id, clientSecret: as.clients.tools.secret, expectedIssuer: as.issuer, scope: 'mcp:tools' })
  const client = new Client({ name: 'test', version: '1.0.0' })
  t.teardown(() => client.close())
  await client.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider, fetch: recording }))

  t.same(seen.slice(0, 6), [
    // initialize, without a token
    'POST mcp/mcp 401',
    // resource_metadata of the challenge, then the metadata (RFC 8414) of the issuer it names
    'GET mcp/.well-known/oauth-protected-resource/mcp 200',
    'GET as/.well-known/oauth-authorization-server 200',
    'POST as/token 200',
    // initialize again, with the token; then notifications/initialized
    'POST mcp/mcp 200',
    'POST mcp/mcp 202'
  ])
  t.equal(seen.filter((line) => line.startsWith('POST as/token')).length, 1, 'one token, for every later request')

  const { tools } = await client.listTools()
  t.same(tools.map((tool) => tool.name), ['whoami', 'add'])
  const whoami = await client.callTool({ name: 'whoami' })
  t.notOk(whoami.isError)
  const caller = whoami.structuredContent as Record<string, unknown>
  t.type(caller.expiresAt, 'number')
  t.same(caller, { clientId: 'mcp-client', scopes: ['mcp:tools'], resource, expiresAt: caller.expiresAt }, 'the caller as the plugin verified it (extra.authInfo)')
  t.ok(Math.abs((caller.expiresAt as number) - Math.floor(Date.now() / 1000) - 300) <= 5, 'the token\'s exp')
  t.same(whoami.content, [{ type: 'text', text: JSON.stringify(caller) }])
  t.same((await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } })).structuredContent, { sum: 42 })
  t.equal(seen.filter((line) => line.startsWith('POST as/token')).length, 1)
  t.same(seen.filter((line) => line.startsWith('POST mcp/mcp')).slice(1).every((line) => / 20[02]$/.test(line)), true, 'no refusal once it has the token')
})

t.test('callTools, the client script\'s function, lists the tools and calls them', async (t) => {
  const { resource, as } = await mcpExample(t)
  const results = await callTools({ serverUrl: new URL(resource), clientId: as.clients.tools.id, clientSecret: as.clients.tools.secret, expectedIssuer: as.issuer, scope: 'mcp:tools' })
  const whoami = results.whoami as Record<string, unknown>
  t.same(results, { tools: ['whoami', 'add'], whoami: { clientId: 'mcp-client', scopes: ['mcp:tools'], resource, expiresAt: whoami.expiresAt }, add: { sum: 5 } })
})

t.test('a client whose token lacks mcp:tools is refused 403 after the SDK\'s one try at a new token', async (t) => {
  const { resource, as } = await mcpExample(t)
  const error = await callTools({ serverUrl: new URL(resource), clientId: as.clients.reader.id, clientSecret: as.clients.reader.secret, expectedIssuer: as.issuer, scope: 'mcp:resources' })
    .then(() => undefined, (err: unknown) => err)
  t.type(error, StreamableHTTPError)
  t.equal((error as StreamableHTTPError).code, 403)
  t.equal((error as Error).message, 'Streamable HTTP error: Server returned 403 after trying upscoping')
})

t.test('the client\'s secret goes to the authorization server it was issued by and no other', async (t) => {
  const { resource, as } = await mcpExample(t)
  const error = await callTools({ serverUrl: new URL(resource), clientId: as.clients.tools.id, clientSecret: as.clients.tools.secret, expectedIssuer: 'http://127.0.0.1:1', scope: 'mcp:tools' })
    .then(() => undefined, (err: unknown) => err)
  t.match(error, { message: `OAuth client information is bound to authorization server http://127.0.0.1:1 and is not presented to ${as.issuer}.` })
})

t.test('whoami outside the plugin (no authInfo) answers a tool error instead of a caller', async (t) => {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  const server = createMcpServer()
  const client = new Client({ name: 'test', version: '1.0.0' })
  t.teardown(async () => { await client.close(); await server.close() })
  await server.connect(serverSide)
  await client.connect(clientSide)
  t.same(await client.callTool({ name: 'whoami' }), {
    isError: true,
    content: [{ type: 'text', text: '"this server is not behind fastify-protected-routes with mcpAuthInfo: true"' }]
  })
})

t.test('the caller of a token without exp or resource leaves them out; the token itself is never shown', async (t) => {
  t.same(describeCaller({ token: 'secret-token', clientId: 'c', scopes: ['mcp:tools'] }), { clientId: 'c', scopes: ['mcp:tools'] })
  t.same(describeCaller({ token: 'secret-token', clientId: 'c', scopes: [], expiresAt: 1, resource: new URL('https://mcp.example/mcp') }), { clientId: 'c', scopes: [], resource: 'https://mcp.example/mcp', expiresAt: 1 })
})
