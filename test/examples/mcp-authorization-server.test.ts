// The MCP example's demo authorization server: RFC 9068 access tokens for the resources it knows,
// the scopes each client is allowed, and nothing else.
import t, { type Test } from 'tap'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import * as oauth from 'oauth4webapi'
import { withoutExpectedWarnings } from '../../examples/mcp/provider-warnings.js'
import { startAuthorizationServer, type AuthorizationServer, type DemoClient } from '../../examples/mcp/authorization-server.js'

const RESOURCE = 'http://127.0.0.1:3001/mcp'
const insecure = { [oauth.allowInsecureRequests]: true } as const

async function demo (t: Test): Promise<AuthorizationServer> {
  const as = await startAuthorizationServer({ resources: [RESOURCE] })
  t.teardown(() => as.close())
  return as
}

async function grant (as: AuthorizationServer, client: DemoClient, parameters: Record<string, string>): Promise<oauth.TokenEndpointResponse> {
  const issuer = new URL(as.issuer)
  const metadata = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }))
  const response = await oauth.clientCredentialsGrantRequest(metadata, { client_id: client.id }, oauth.ClientSecretBasic(client.secret), parameters, insecure)
  return await oauth.processClientCredentialsResponse(metadata, { client_id: client.id }, response)
}

t.test('a token for the MCP resource is an at+jwt whose aud is the resource and whose client_id is the client', async (t) => {
  const as = await demo(t)
  t.match(as.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
  const answer = await grant(as, as.clients.tools, { resource: RESOURCE, scope: 'mcp:tools' })
  t.match(answer, { token_type: 'bearer', expires_in: 300, scope: 'mcp:tools' })
  t.same(decodeProtectedHeader(answer.access_token), { alg: 'ES256', typ: 'at+jwt', kid: 'mcp-example-1' })
  const claims = decodeJwt(answer.access_token)
  t.match(claims, { iss: as.issuer, aud: RESOURCE, client_id: 'mcp-client', sub: 'mcp-client', scope: 'mcp:tools' })
  t.equal((claims.exp as number) - (claims.iat as number), 300)
})

t.test('a resource it does not know is invalid_target', async (t) => {
  const as = await demo(t)
  await t.rejects(grant(as, as.clients.tools, { resource: 'https://elsewhere.example/mcp', scope: 'mcp:tools' }), { name: 'ResponseBodyError', error: 'invalid_target' })
})

t.test('a client asking for a scope it is not allowed is invalid_scope: mcp-reader never gets mcp:tools', async (t) => {
  const as = await demo(t)
  await t.rejects(grant(as, as.clients.reader, { resource: RESOURCE, scope: 'mcp:tools' }), { name: 'ResponseBodyError', error: 'invalid_scope' })
  t.match(await grant(as, as.clients.reader, { resource: RESOURCE, scope: 'mcp:resources' }), { scope: 'mcp:resources' })
})

t.test('a wrong secret is invalid_client; each start has new secrets', async (t) => {
  const as = await demo(t)
  await t.rejects(grant(as, { ...as.clients.tools, secret: 'guess' }, { resource: RESOURCE, scope: 'mcp:tools' }), {
    name: 'WWWAuthenticateChallengeError',
    cause: [{ scheme: 'basic', parameters: { error: 'invalid_client' } }]
  })
  const again = await demo(t)
  t.not(again.clients.tools.secret, as.clients.tools.secret)
  t.match(as.clients.tools.secret, /^[\w-]{32}$/)
})

t.test('close stops it listening', async (t) => {
  const as = await startAuthorizationServer({ resources: [RESOURCE] })
  await as.close()
  await t.rejects(fetch(`${as.issuer}/.well-known/openid-configuration`), TypeError)
})

t.test('oidc-provider\'s warnings about a demo are dropped while it starts; any other warning is printed', async (t) => {
  const printed: unknown[][] = []
  const warn = console.warn
  const capture = (...args: unknown[]): void => { printed.push(args) }
  console.warn = capture
  t.teardown(() => { console.warn = warn })
  const answer = await withoutExpectedWarnings(() => {
    console.warn('oidc-provider WARNING: a quick start development-only in-memory adapter is used, you MUST change it')
    console.warn('oidc-provider WARNING: Unsupported runtime. Use Node.js v22.x LTS, or a later LTS release.')
    console.warn('oidc-provider WARNING: something else', 1)
    console.warn(new Error('not a string'))
    return 42
  })
  t.equal(answer, 42)
  t.equal(printed.length, 2)
  t.same(printed[0], ['oidc-provider WARNING: something else', 1])
  t.type(printed[1]?.[0], Error)
  t.equal(console.warn, capture, 'console.warn is the one before again')
})
