import t from 'tap'
import { captureLogs } from './helpers/app.js'
import { answering, introspectionApp, introspectionServer, json, type Received, type Respond } from './helpers/introspection.js'
import type { ServerResponse } from 'node:http'

/** Serves OpenID Connect discovery at the same origin, and introspection at /introspect. */
function withMetadata (metadata: (origin: string) => unknown, introspect: Respond): Respond {
  return (received: Received, res: ServerResponse) => {
    if (received.url === '/.well-known/openid-configuration') return json(res, metadata(`http://${received.headers.host!}`))
    if (received.url === '/introspect') return introspect(received, res)
    json(res, { error: 'not found' }, 404)
  }
}

const metadataFor = (origin: string): Record<string, unknown> => ({ issuer: origin, token_endpoint: `${origin}/token`, introspection_endpoint: `${origin}/introspect` })

t.test('discovery: the introspection_endpoint comes from the issuer\'s metadata, fetched once', async (t) => {
  const server = await introspectionServer(t, () => {})
  const issuer = new URL(server.url).origin
  // The configured issuer is also the iss the answers must carry.
  server.respond(withMetadata(metadataFor, answering({ 'tok-1': { sub: 'alice', iss: issuer }, 'tok-2': { sub: 'bob', iss: issuer } })))
  const { get } = await introspectionApp(t, { issuer, discovery: true })
  t.equal(server.received.length, 0, 'nothing fetched at boot')
  t.equal((await get('tok-1')).json().user.sub, 'alice')
  t.equal((await get('tok-2')).json().user.sub, 'bob')
  t.same(server.received.map((entry) => entry.url), ['/.well-known/openid-configuration', '/introspect', '/introspect'])
})

t.test('discovery: metadata that cannot be had is 503, and no token is sent anywhere', async (t) => {
  for (const [name, metadata] of [
    ['no introspection_endpoint', (origin: string) => ({ issuer: origin })],
    ['another issuer', (origin: string) => ({ ...metadataFor(origin), issuer: `${origin}/other` })]
  ] as const) {
    await t.test(name, async (t) => {
      const logs = captureLogs()
      const server = await introspectionServer(t, withMetadata(metadata, answering({ 'tok-1': { sub: 'alice' } })))
      const { get } = await introspectionApp(t, { issuer: new URL(server.url).origin, discovery: true }, { server: { logger: { level: 'warn', stream: logs.stream } } })
      const res = await get('tok-1')
      t.equal(res.statusCode, 503)
      t.equal(res.headers['retry-after'], '5')
      t.equal(server.callsFor('tok-1'), 0)
      t.notOk(logs.text().includes('tok-1'))
    })
  }
})

t.test('discovery: the configured issuer is also the iss the response must carry', async (t) => {
  const server = await introspectionServer(t, withMetadata(metadataFor, answering({ 'tok-1': { sub: 'alice', iss: 'https://other.example/' } })))
  const { get } = await introspectionApp(t, { issuer: new URL(server.url).origin, discovery: true })
  t.equal((await get('tok-1')).json().message, 'The access token issuer is not accepted')
})

t.test('discovery: a configuration error names the discovered endpoint', async (t) => {
  const logs = captureLogs()
  const server = await introspectionServer(t, withMetadata(metadataFor, (_received, res) => json(res, { error: 'invalid_request' }, 400)))
  const issuer = new URL(server.url).origin
  const { get } = await introspectionApp(t, { issuer, discovery: true }, { server: { logger: { level: 'error', stream: logs.stream } } })
  t.equal((await get('tok-1')).statusCode, 500)
  t.ok(logs.lines.some((line) => line.msg === `fastify-protected-routes: configuration error: the introspection endpoint answered 400 invalid_request: check the introspection_endpoint in the metadata of ${issuer} and that this client may introspect tokens`))
})

t.test('discovery needs an issuer URL', async (t) => {
  await t.rejects(introspectionApp(t, { issuer: 'auth.example', discovery: true }), {
    message: "Invalid fastify-protected-routes option: schemes.idp.introspection.issuer must be the issuer's URL (https:, or http: on a loopback host; no query or fragment) to use discovery"
  })
})
