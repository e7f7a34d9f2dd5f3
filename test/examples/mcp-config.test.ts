import t from 'tap'
import { httpOrigin, mcpBanner, metadataUrl, readClientConfig, readMcpConfig } from '../../examples/mcp/config.js'
import { listenFirst } from '../../examples/mcp/server.js'

t.test('npm run example:mcp listens on 127.0.0.1:3001 with the demo server on 9000 unless told otherwise', async (t) => {
  const defaults = { host: '127.0.0.1', port: 3001, asPort: 9000, issuer: undefined, algorithms: undefined, publicOrigin: undefined }
  t.same(readMcpConfig({}), defaults)
  t.same(readMcpConfig({ HOST: '', MCP_PORT: '', AS_PORT: '', ISSUER: '', ALGORITHMS: '', PUBLIC_ORIGIN: '' }), defaults, 'empty counts as unset')
  t.same(readMcpConfig({ ALGORITHMS: ' , ' }).algorithms, undefined, 'no algorithm named is the default')
  t.same(readMcpConfig({
    HOST: '::1',
    MCP_PORT: '0',
    AS_PORT: '65535',
    ISSUER: 'https://kc.example/realms/mcp',
    ALGORITHMS: 'RS256, PS256',
    PUBLIC_ORIGIN: 'https://mcp.example'
  }), { host: '::1', port: 0, asPort: 65535, issuer: 'https://kc.example/realms/mcp', algorithms: ['RS256', 'PS256'], publicOrigin: 'https://mcp.example' })
})

t.test('a port that is not a port stops the start, naming the variable', async (t) => {
  for (const value of ['abc', '-1', '65536', '3001.5', ' 3001', '100000']) {
    t.throws(() => readMcpConfig({ MCP_PORT: value }), new RangeError('MCP_PORT must be an integer from 0 to 65535'), value)
    t.throws(() => readMcpConfig({ AS_PORT: value }), new RangeError('AS_PORT must be an integer from 0 to 65535'), value)
  }
})

t.test('the origin of a listening address puts an IPv6 address in brackets', async (t) => {
  t.equal(httpOrigin('127.0.0.1', 3001), 'http://127.0.0.1:3001')
  t.equal(httpOrigin('::1', 3001), 'http://[::1]:3001')
  t.equal(httpOrigin('localhost', 80), 'http://localhost:80')
  t.equal(metadataUrl('http://127.0.0.1:3001/mcp'), 'http://127.0.0.1:3001/.well-known/oauth-protected-resource/mcp')
})

t.test('the client script needs the client id and secret, and defaults to the demo servers', async (t) => {
  const message = 'MCP_CLIENT_ID and MCP_CLIENT_SECRET are required: the client id and secret `npm run example:mcp` prints'
  t.throws(() => readClientConfig({}), new RangeError(message))
  t.throws(() => readClientConfig({ MCP_CLIENT_ID: 'mcp-client' }), new RangeError(message))
  t.throws(() => readClientConfig({ MCP_CLIENT_ID: 'mcp-client', MCP_CLIENT_SECRET: '' }), new RangeError(message))
  t.same(readClientConfig({ MCP_CLIENT_ID: 'mcp-client', MCP_CLIENT_SECRET: 's3cret' }), {
    serverUrl: new URL('http://127.0.0.1:3001/mcp'),
    clientId: 'mcp-client',
    clientSecret: 's3cret',
    expectedIssuer: 'http://127.0.0.1:9000',
    scope: 'mcp:tools'
  })
  t.same(readClientConfig({ MCP_CLIENT_ID: 'c', MCP_CLIENT_SECRET: 's', MCP_SERVER_URL: 'https://mcp.example/mcp', MCP_EXPECTED_ISSUER: 'https://kc.example/realms/mcp', MCP_SCOPE: 'mcp:tools mcp:resources' }), {
    serverUrl: new URL('https://mcp.example/mcp'),
    clientId: 'c',
    clientSecret: 's',
    expectedIssuer: 'https://kc.example/realms/mcp',
    scope: 'mcp:tools mcp:resources'
  })
})

t.test('the banner shows the URLs, and the demo clients with the command that tries them', async (t) => {
  const clients = {
    tools: { id: 'mcp-client', secret: 'tools-secret', scope: 'mcp:tools' },
    reader: { id: 'mcp-reader', secret: 'reader-secret', scope: 'mcp:resources' }
  }
  t.equal(mcpBanner('http://127.0.0.1:3001/mcp', 'http://127.0.0.1:9000', clients), [
    'MCP server listening on http://127.0.0.1:3001/mcp',
    'Protected resource metadata: http://127.0.0.1:3001/.well-known/oauth-protected-resource/mcp',
    'Demo authorization server: http://127.0.0.1:9000',
    'Clients (client credentials grant, client_secret_basic):',
    '  mcp-client / tools-secret  scope: mcp:tools',
    '  mcp-reader / reader-secret  scope: mcp:resources',
    'Try it:',
    '  MCP_SERVER_URL=http://127.0.0.1:3001/mcp MCP_EXPECTED_ISSUER=http://127.0.0.1:9000 MCP_CLIENT_ID=mcp-client MCP_CLIENT_SECRET=tools-secret npm run example:mcp:client',
    ''
  ].join('\n'))
  t.equal(mcpBanner('https://mcp.example/mcp', 'https://kc.example/realms/mcp'), [
    'MCP server listening on https://mcp.example/mcp',
    'Protected resource metadata: https://mcp.example/.well-known/oauth-protected-resource/mcp',
    'Authorization server: https://kc.example/realms/mcp (its access tokens must name https://mcp.example/mcp in aud, and mcp:tools in scope)',
    ''
  ].join('\n'))
})

t.test('behind a proxy, the resource is the public origin\'s /mcp; an origin with a path stops the start', async (t) => {
  const { server, resource } = await listenFirst({ publicOrigin: 'https://mcp.example' })
  t.teardown(() => { server.close() })
  t.equal(resource, 'https://mcp.example/mcp')
  t.ok(server.listening)
  await t.rejects(listenFirst({ publicOrigin: 'https://mcp.example/' }), new TypeError("publicOrigin must be an http(s) origin such as 'https://api.example' (lower case, no path, no trailing slash)"))
})
