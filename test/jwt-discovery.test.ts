import t, { type Test } from 'tap'
import type { ServerResponse } from 'node:http'
import { captureLogs } from './helpers/app.js'
import { jwtDescriptions } from '../lib/verifiers/jwt-refusals.js'
import { AUDIENCE, assertRefused, assertUnavailable, claims, jwtApp, keyPair, sign } from './helpers/jwt.js'
import { json, metadataServer, sleep, type MetadataServer } from './helpers/metadata-server.js'

const OIDC = '/.well-known/openid-configuration'

/** An issuer on 127.0.0.1: its metadata at the OpenID Connect URL, its JWKS at /jwks. */
async function issuerServer (t: Test, keys: unknown[], metadata: Record<string, unknown> = {}): Promise<{ server: MetadataServer, issuer: string }> {
  const server = await metadataServer(t)
  const issuer = `${server.origin}/`
  server.route(OIDC, { issuer, jwks_uri: `${server.origin}/jwks`, ...metadata })
  server.route('/jwks', { keys })
  return { server, issuer }
}

t.test('discovery: true verifies with the JWKS at the metadata\'s jwks_uri, fetched lazily, once', async (t) => {
  const a = await keyPair('RS256', 'a')
  const { server, issuer } = await issuerServer(t, [a.publicJwk])
  const { get } = await jwtApp(t, { issuer, discovery: true, algorithms: ['RS256'] }, { realClock: true })
  t.same(server.requests, [], 'nothing fetched at boot')
  const now = Math.floor(Date.now() / 1000)
  for (const jti of ['1', '2']) {
    const res = await get(await sign(a.privateKey, 'RS256', claims({ iss: issuer, iat: now, exp: now + 60, jti }), { kid: 'a' }))
    t.equal(res.statusCode, 200)
  }
  t.same(server.requests, [OIDC, '/jwks'], 'metadata then keys, each once')
})

t.test('the algorithms come from the configuration, never from the metadata', async (t) => {
  const es = await keyPair('ES256', 'es')
  const { issuer } = await issuerServer(t, [es.publicJwk], { id_token_signing_alg_values_supported: ['RS256', 'HS256', 'none'] })
  const { get } = await jwtApp(t, { issuer, discovery: true, algorithms: ['ES256'] }, { realClock: true })
  const now = Math.floor(Date.now() / 1000)
  const payload = claims({ iss: issuer, iat: now, exp: now + 60 })
  t.equal((await get(await sign(es.privateKey, 'ES256', payload, { kid: 'es' }))).statusCode, 200, 'ES256, not in the metadata, is accepted')
  const rs = await keyPair('RS256', 'rs')
  assertRefused(t, await get(await sign(rs.privateKey, 'RS256', payload, { kid: 'rs' })), jwtDescriptions.unsupportedAlgorithm)
})

t.test('an issuer down at boot: the app boots, answers 503, then 200 once the issuer is back', async (t) => {
  const a = await keyPair('ES256', 'a')
  const { server, issuer } = await issuerServer(t, [a.publicJwk])
  server.route(OIDC, json(503, { error: 'starting' }))
  const logs = captureLogs()
  const { get } = await jwtApp(t, { issuer, discovery: true, algorithms: ['ES256'], jwksCooldown: 100 }, { realClock: true, server: { logger: { stream: logs.stream } } })
  const now = Math.floor(Date.now() / 1000)
  const token = await sign(a.privateKey, 'ES256', claims({ iss: issuer, iat: now, exp: now + 60 }), { kid: 'a' })
  assertUnavailable(t, await get(token))
  const line = logs.lines.find((entry) => typeof entry.msg === 'string' && entry.msg.includes('metadata'))
  t.match(line?.msg, /^fastify-protected-routes: the metadata of http:\/\/127\.0\.0\.1:\d+\/ could not be fetched: the server answered 503$/)
  t.equal(JSON.stringify(logs.lines).includes(token), false, 'the token is never logged')
  server.route(OIDC, { issuer, jwks_uri: `${server.origin}/jwks` })
  await sleep(150)
  t.equal((await get(token)).statusCode, 200)
})

t.test('metadata naming another issuer is refused: 503 and a line that says what to fix', async (t) => {
  const a = await keyPair('ES256', 'a')
  const { server, issuer } = await issuerServer(t, [a.publicJwk])
  server.route(OIDC, { issuer: 'https://attacker.example/', jwks_uri: `${server.origin}/jwks` })
  const logs = captureLogs()
  const { get } = await jwtApp(t, { issuer, discovery: true, algorithms: ['ES256'] }, { realClock: true, server: { logger: { stream: logs.stream } } })
  const now = Math.floor(Date.now() / 1000)
  assertUnavailable(t, await get(await sign(a.privateKey, 'ES256', claims({ iss: issuer, iat: now, exp: now + 60 }), { kid: 'a' })))
  t.ok(logs.lines.some((entry) => String(entry.msg).endsWith('the metadata names another issuer: configure issuer exactly as the metadata\'s issuer (the trailing slash counts)')))
  t.same(server.requests, [OIDC], 'the JWKS of a document naming another issuer is never fetched')
})

t.test('discovery options are checked at boot', async (t) => {
  const path = 'schemes.bearerAuth.jwt'
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an http: issuer off loopback', { issuer: 'http://issuer.example/', discovery: true, algorithms: ['RS256'] }, `${path}.issuer must be the issuer's URL (https:, or http: on a loopback host; no query or fragment) to use discovery`],
    ['an issuer with a query', { issuer: 'https://issuer.example/?t=1', discovery: true, algorithms: ['RS256'] }, `${path}.issuer must be the issuer's URL (https:, or http: on a loopback host; no query or fragment) to use discovery`],
    ['discovery: false', { discovery: false, algorithms: ['RS256'] }, `${path}.discovery must be true (or left out)`],
    ['discovery and jwksUrl', { discovery: true, jwksUrl: 'https://issuer.example/jwks', algorithms: ['RS256'] }, `${path} needs exactly one of secret, publicKey, jwksUrl or discovery: true`],
    ['discovery with HS256', { discovery: true, algorithms: ['HS256'] }, `${path}.discovery is for asymmetric algorithms; HS256 need secret`]
  ]
  for (const [name, jwt, message] of cases) {
    await t.rejects(jwtApp(t, { issuer: 'https://issuer.example/', audience: AUDIENCE, ...jwt }), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message: `Invalid fastify-protected-routes option: ${message}` }, name)
  }
})

t.test('a jwksUrl that does not answer a JWKS is reported at the first fetch with what to fix', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['a discovery document', { issuer: 'https://issuer.example/', jwks_uri: 'https://issuer.example/jwks' }, /: the answer is authorization server metadata, not a JWKS: set jwksUrl to its jwks_uri, or use discovery: true with the issuer;/],
    ['an HTML page', (_req: unknown, res: ServerResponse) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html></html>') }, /: the answer is not JSON: is jwksUrl the JWKS URL \(jwks_uri\) of the issuer\?;/],
    ['a JSON array', [], /: the answer is not a JWKS \(no JSON object\);/],
    ['an object without keys', { hello: 'world' }, /: the answer is not a JWKS \(no keys array\);/],
    ['a 404', json(404, {}), /: it answered 404;/],
    ['a redirect', (_req: unknown, res: ServerResponse) => { res.writeHead(301, { location: '/jwks2' }); res.end() }, /: it answered a redirect \(301\), which is not followed: configure the final URL;/]
  ]
  const a = await keyPair('ES256', 'a')
  for (const [name, answer, message] of cases) {
    await t.test(name, async (t) => {
      const server = await metadataServer(t)
      server.route('/jwks', answer)
      server.route('/jwks2', { keys: [a.publicJwk] })
      const logs = captureLogs()
      const { get } = await jwtApp(t, { jwksUrl: `${server.origin}/jwks`, algorithms: ['ES256'] }, { server: { logger: { stream: logs.stream } } })
      assertUnavailable(t, await get(await sign(a.privateKey, 'ES256', claims(), { kid: 'a' })))
      const line = logs.lines.find((entry) => String(entry.msg).startsWith('fastify-protected-routes: the JWKS could not be fetched'))
      t.match(line?.msg, message)
      t.same(server.requests, ['/jwks'], 'no redirect followed')
    })
  }
  await t.test('a slow JWKS: the timeout, without a diagnosis', async (t) => {
    const server = await metadataServer(t)
    server.route('/jwks', (_req: unknown, res: ServerResponse) => { res.writeHead(200, { 'content-type': 'application/json' }); res.write('{"keys":') })
    const logs = captureLogs()
    const { get } = await jwtApp(t, { jwksUrl: `${server.origin}/jwks`, algorithms: ['ES256'], jwksTimeout: 100 }, { server: { logger: { stream: logs.stream } } })
    assertUnavailable(t, await get(await sign(a.privateKey, 'ES256', claims(), { kid: 'a' })))
    t.ok(logs.lines.some((entry) => entry.msg === 'fastify-protected-routes: the JWKS could not be fetched; verifying with the keys fetched before, if any'))
  })
})

t.test('a jwks_uri the issuer moves is followed once the metadata is fetched again (jwksCacheMaxAge)', async (t) => {
  const a = await keyPair('ES256', 'a')
  const b = await keyPair('ES256', 'b')
  const { server, issuer } = await issuerServer(t, [a.publicJwk])
  const { get } = await jwtApp(t, { issuer, discovery: true, algorithms: ['ES256'], jwksCacheMaxAge: 50 }, { realClock: true })
  const now = Math.floor(Date.now() / 1000)
  const payload = claims({ iss: issuer, iat: now, exp: now + 60 })
  t.equal((await get(await sign(a.privateKey, 'ES256', payload, { kid: 'a' }))).statusCode, 200)
  server.route('/jwks2', { keys: [b.publicJwk] })
  server.route(OIDC, { issuer, jwks_uri: `${server.origin}/jwks2` })
  await sleep(80)
  t.equal((await get(await sign(b.privateKey, 'ES256', payload, { kid: 'b' }))).statusCode, 200, 'the new jwks_uri\'s key')
  assertRefused(t, await get(await sign(a.privateKey, 'ES256', { ...payload, jti: 'x' }, { kid: 'a' })), jwtDescriptions.unknownKey)
  t.ok(server.requests.includes('/jwks2'))
})
