import t, { type Test } from 'tap'
import type { ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { checkIssuerUrl, discovery, metadataUrls, type DiscoveryOptions } from '../lib/verifiers/discovery.js'
import { capturingLogger, json, metadataServer, sleep, slow, type MetadataServer } from './helpers/metadata-server.js'

const OIDC = '/.well-known/openid-configuration'

function document (server: MetadataServer, issuer: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { issuer, jwks_uri: `${server.origin}/jwks`, introspection_endpoint: `${server.origin}/introspect`, ...extra }
}

function options (issuer: string, extra: Partial<DiscoveryOptions> = {}): DiscoveryOptions {
  return { issuer, endpoints: ['jwks_uri'], ...extra }
}

/** Asserts that fetching the metadata fails closed (503) with one log line carrying `message`. */
async function assertFails (t: Test, found: ReturnType<typeof discovery>, message: RegExp): Promise<void> {
  const { log, lines } = capturingLogger()
  await t.rejects(found.metadata(log), { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', statusCode: 503 })
  t.equal(lines.length, 1, 'one log line')
  t.equal(lines[0]!.level, 40, 'at warn')
  t.match(lines[0]!.msg, message, 'saying what to fix')
  t.equal(lines[0]!.issuer, found.issuer)
}

t.test('metadataUrls: OpenID Connect Discovery appends, RFC 8414 inserts before the path', async (t) => {
  t.same(metadataUrls('https://as.example/').map(String), ['https://as.example/.well-known/openid-configuration', 'https://as.example/.well-known/oauth-authorization-server'])
  t.same(metadataUrls('https://as.example').map(String), ['https://as.example/.well-known/openid-configuration', 'https://as.example/.well-known/oauth-authorization-server'])
  t.same(metadataUrls('https://kc.example/realms/main').map(String), ['https://kc.example/realms/main/.well-known/openid-configuration', 'https://kc.example/.well-known/oauth-authorization-server/realms/main'])
  t.same(metadataUrls('https://kc.example/realms/main/').map(String), ['https://kc.example/realms/main/.well-known/openid-configuration', 'https://kc.example/.well-known/oauth-authorization-server/realms/main'])
})

t.test('checkIssuerUrl refuses what cannot be discovered safely and returns the issuer unchanged', async (t) => {
  t.equal(checkIssuerUrl('p', 'https://as.example/'), 'https://as.example/')
  t.equal(checkIssuerUrl('p', 'http://127.0.0.1:8080/realms/x'), 'http://127.0.0.1:8080/realms/x')
  for (const bad of ['http://as.example/', 'https://as.example/?tenant=1', 'https://as.example/?', 'https://as.example/#x', 'as.example', '', 42, undefined]) {
    t.throws(() => checkIssuerUrl('schemes.idp.jwt.issuer', bad), {
      code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
      message: 'Invalid fastify-protected-routes option: schemes.idp.jwt.issuer must be the issuer\'s URL (https:, or http: on a loopback host; no query or fragment) to use discovery'
    }, String(bad))
  }
})

t.test('OpenID Connect metadata is fetched once, lazily, and cached', async (t) => {
  const server = await metadataServer(t)
  const issuer = `${server.origin}/`
  server.route(OIDC, document(server, issuer))
  const found = discovery(options(issuer, { endpoints: ['jwks_uri', 'introspection_endpoint'] }))
  t.same(server.requests, [], 'nothing fetched before it is needed')
  const { log, lines } = capturingLogger()
  const [a, b] = await Promise.all([found.metadata(log), found.metadata(log)])
  t.equal(a, b, 'concurrent callers share one fetch')
  t.equal(a.issuer, issuer)
  t.equal(a.endpoints.get('jwks_uri')!.href, `${server.origin}/jwks`)
  t.equal((await found.endpoint('introspection_endpoint', log)).href, `${server.origin}/introspect`)
  t.ok(Object.isFrozen(a.document))
  t.same(server.requests, [OIDC], 'one request')
  t.same(lines, [])
})

t.test('an issuer with a path: OpenID Connect absent (404), RFC 8414 path-inserted found', async (t) => {
  const server = await metadataServer(t)
  const issuer = `${server.origin}/realms/main`
  server.route('/.well-known/oauth-authorization-server/realms/main', document(server, issuer))
  const found = discovery(options(issuer))
  const { log } = capturingLogger()
  t.equal((await found.endpoint('jwks_uri', log)).href, `${server.origin}/jwks`)
  t.same(server.requests, ['/realms/main/.well-known/openid-configuration', '/.well-known/oauth-authorization-server/realms/main'])
})

t.test('neither document: 503 and a line naming both URLs', async (t) => {
  const server = await metadataServer(t)
  await assertFails(t, discovery(options(`${server.origin}/`)), /^fastify-protected-routes: the metadata of http:\/\/127\.0\.0\.1:\d+\/ could not be fetched: neither http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration nor this URL holds metadata \(the server answered 404\): is issuer the authorization server's issuer URL\?$/)
  t.equal(server.requests.length, 2)
})

t.test('OpenID Connect absent and RFC 8414 failing: the RFC 8414 failure is reported', async (t) => {
  const server = await metadataServer(t)
  server.route('/.well-known/oauth-authorization-server', json(502, {}))
  await assertFails(t, discovery(options(`${server.origin}/`)), /: the server answered 502$/)
})

t.test('fault shapes fail closed with a line that says what to fix', async (t) => {
  const cases: Array<[string, (server: MetadataServer, issuer: string) => unknown, RegExp, Partial<DiscoveryOptions>?]> = [
    ['another issuer', (s) => document(s, 'https://elsewhere.example/'), /the metadata names another issuer: configure issuer exactly as the metadata's issuer \(the trailing slash counts\)$/],
    ['the issuer without its trailing slash', (s, issuer) => document(s, issuer.slice(0, -1)), /names another issuer/],
    ['no issuer', (s) => ({ jwks_uri: `${s.origin}/jwks` }), /the metadata has no issuer$/],
    ['not JSON', () => (_req: unknown, res: ServerResponse) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html>login</html>') }, /the answer is not JSON: is issuer the authorization server's issuer URL\?$/],
    ['a JSON array', () => [1, 2], /the metadata is not a JSON object$/],
    ['a JWKS', () => ({ keys: [] }), /this is a JWKS, not authorization server metadata: configure it as jwksUrl, or configure the issuer URL for discovery$/],
    ['a jwks_uri that is no string', (s, issuer) => document(s, issuer, { jwks_uri: 42 }), /the metadata's jwks_uri is not an https: URL/],
    ['no jwks_uri', (_s, issuer) => ({ issuer }), /the metadata has no jwks_uri$/],
    ['an http: jwks_uri off loopback', (s, issuer) => document(s, issuer, { jwks_uri: 'http://as.example/jwks' }), /the metadata's jwks_uri is not an https: URL \(http: is allowed on a loopback host only\)$/],
    ['a jwks_uri that is no URL', (s, issuer) => document(s, issuer, { jwks_uri: 'jwks' }), /the metadata's jwks_uri is not an https: URL/],
    ['no introspection_endpoint', (s, issuer) => ({ issuer, jwks_uri: `${s.origin}/jwks` }), /the metadata has no introspection_endpoint$/, { endpoints: ['introspection_endpoint'] }],
    ['500', () => json(500, { error: 'down' }), /the server answered 500$/],
    ['a redirect', (s) => (_req: unknown, res: ServerResponse) => { res.writeHead(302, { location: `${s.origin}/elsewhere` }); res.end() }, /the server answered a redirect \(302\); configure the issuer the metadata names$/],
    ['slow', (s, issuer) => slow(2000, document(s, issuer)), /no answer within 100 ms$/, { timeout: 100 }]
  ]
  for (const [name, answer, message, extra] of cases) {
    await t.test(name, async (t) => {
      const server = await metadataServer(t)
      const issuer = `${server.origin}/`
      server.route(OIDC, answer(server, issuer))
      server.route('/elsewhere', document(server, issuer))
      await assertFails(t, discovery(options(issuer, extra)), message)
      t.same(server.requests, [OIDC], 'no fallback, no redirect followed')
    })
  }
})

t.test('an unreachable server: 503, one line, and no fetch again within the cooldown', async (t) => {
  const server = await metadataServer(t)
  const issuer = `${server.origin}/`
  await server.stop()
  const found = discovery(options(issuer, { cooldown: 60_000 }))
  await assertFails(t, found, /the server could not be reached$/)
  const { log, lines } = capturingLogger()
  await t.rejects(found.metadata(log), { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', statusCode: 503 })
  t.same(lines, [], 'within the cooldown nothing is fetched, nothing logged')
})

t.test('an issuer down at first that comes back is found after the cooldown', async (t) => {
  const server = await metadataServer(t)
  const issuer = `${server.origin}/`
  server.route(OIDC, json(500, {}))
  const found = discovery(options(issuer, { cooldown: 100 }))
  const { log } = capturingLogger()
  await t.rejects(found.metadata(log), { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', statusCode: 503 })
  server.route(OIDC, document(server, issuer))
  await t.rejects(found.metadata(log), { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', statusCode: 503 }, 'still cooling down')
  t.equal(server.requests.length, 1)
  await sleep(150)
  t.equal((await found.metadata(log)).issuer, issuer)
  t.equal(server.requests.length, 2)
})

t.test('after maxAge the metadata is fetched again; a failed refetch keeps the metadata fetched before', async (t) => {
  const server = await metadataServer(t)
  const issuer = `${server.origin}/`
  server.route(OIDC, document(server, issuer))
  const found = discovery(options(issuer, { maxAge: 50, cooldown: 1000 }))
  const { log, lines } = capturingLogger()
  const first = await found.metadata(log)
  await sleep(80)
  server.route(OIDC, json(503, {}))
  t.equal(await found.metadata(log), first, 'kept')
  t.equal(server.requests.length, 2)
  t.equal(lines.length, 1, 'the failed refetch is logged')
  t.equal(await found.metadata(log), first)
  t.equal(server.requests.length, 2, 'no refetch within the cooldown')
})

t.test('a jwks_uri moved by the issuer is picked up at the next refetch', async (t) => {
  const server = await metadataServer(t)
  const issuer = `${server.origin}/`
  server.route(OIDC, document(server, issuer))
  const found = discovery(options(issuer, { maxAge: 30 }))
  const { log } = capturingLogger()
  t.equal((await found.endpoint('jwks_uri', log)).pathname, '/jwks')
  server.route(OIDC, document(server, issuer, { jwks_uri: `${server.origin}/keys2` }))
  await sleep(50)
  t.equal((await found.endpoint('jwks_uri', log)).pathname, '/keys2')
})

t.test('asking for an endpoint the discovery was not set up for is a programming error', async (t) => {
  const server = await metadataServer(t)
  const issuer = `${server.origin}/`
  server.route(OIDC, document(server, issuer))
  const { log } = capturingLogger()
  await t.rejects(discovery(options(issuer)).endpoint('introspection_endpoint', log), new TypeError(`discovery of ${issuer} was not set up for introspection_endpoint`))
})

t.test('a logger that throws cannot change the answer', async (t) => {
  const server = await metadataServer(t)
  const found = discovery(options(`${server.origin}/`))
  const log = { warn: () => { throw new Error('logger down') } } as unknown as FastifyBaseLogger
  await t.rejects(found.metadata(log), { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', statusCode: 503 })
})
