import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { ServerResponse } from 'node:http'
import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { errorBody, captureLogs } from './helpers/app.js'
import { answering, BASIC, CLIENT_SECRET, introspectionApp, introspectionServer, json, type Received } from './helpers/introspection.js'

function assertUnavailable (t: Test, res: LightMyRequestResponse): void {
  t.equal(res.statusCode, 503, 'status')
  t.equal(res.headers['retry-after'], '5', 'Retry-After')
  t.equal(res.headers['www-authenticate'], undefined, 'no challenge')
  t.same(res.json(), errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable'), 'body')
}

function assertFailed (t: Test, res: LightMyRequestResponse): void {
  t.equal(res.statusCode, 500, 'status')
  t.equal(res.headers['retry-after'], undefined, 'no Retry-After')
  t.equal(res.headers['www-authenticate'], undefined, 'no challenge')
  t.same(res.json(), errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed'), 'body')
}

/** A loopback port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const TOKEN = 'opaque-token-that-must-never-be-logged'

t.test('the endpoint down: 503 with Retry-After, never 401', async (t) => {
  const { get } = await introspectionApp(t, { url: `http://127.0.0.1:${await closedPort()}/introspect` })
  assertUnavailable(t, await get(TOKEN))
})

t.test('the endpoint slower than timeout: 503, and the call is abandoned', async (t) => {
  let closed = 0
  const server = await introspectionServer(t, (_received, res) => { res.on('close', () => { closed++ }) })
  const { get } = await introspectionApp(t, { url: server.url, timeout: 100 }, { realClock: true })
  const started = Date.now()
  assertUnavailable(t, await get(TOKEN))
  t.ok(Date.now() - started < 2000, 'answered at the timeout, not at verifyTimeout')
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(closed, 1, 'the connection was closed')
})

t.test('a body slower than timeout: 503', async (t) => {
  const server = await introspectionServer(t, (_received, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"active":')
  })
  const { get } = await introspectionApp(t, { url: server.url, timeout: 100 })
  assertUnavailable(t, await get(TOKEN))
})

t.test('5xx and 429 answers: 503', async (t) => {
  for (const status of [500, 502, 503, 504, 429]) {
    await t.test(String(status), async (t) => {
      const server = await introspectionServer(t, (_received, res) => json(res, { active: true, sub: 'alice' }, status))
      const { get } = await introspectionApp(t, { url: server.url })
      assertUnavailable(t, await get(TOKEN))
    })
  }
})

t.test('an answer that is not a JSON object: 503', async (t) => {
  const bodies: Array<[string, (res: ServerResponse) => void]> = [
    ['an HTML page', (res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html><body>Gateway login</body></html>') }],
    ['an empty body', (res) => { res.writeHead(200); res.end() }],
    ['a JSON array', (res) => json(res, [{ active: true }])],
    ['JSON null', (res) => json(res, null)],
    ['a JSON string', (res) => json(res, 'active')],
    ['truncated JSON', (res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"active":true') }]
  ]
  for (const [name, answer] of bodies) {
    await t.test(name, async (t) => {
      const server = await introspectionServer(t, (_received, res) => answer(res))
      const { get } = await introspectionApp(t, { url: server.url })
      assertUnavailable(t, await get(TOKEN))
    })
  }
})

t.test('the endpoint refusing our own request: 500, logged once as a configuration error saying what to fix', async (t) => {
  const cases: Array<[string, (received: Received, res: ServerResponse) => void, string]> = [
    ['401 to our credentials', (_r, res) => json(res, { error: 'invalid_client' }, 401),
      'configuration error: the introspection endpoint answered 401: it does not accept this API\'s client credentials; check schemes.idp.introspection.clientId, schemes.idp.introspection.clientSecret and schemes.idp.introspection.auth (the client\'s token endpoint auth method)'],
    ['403', (_r, res) => { res.writeHead(403); res.end() },
      'configuration error: the introspection endpoint answered 403: it does not accept this API\'s client credentials; check schemes.idp.introspection.clientId, schemes.idp.introspection.clientSecret and schemes.idp.introspection.auth (the client\'s token endpoint auth method)'],
    ['400 invalid_client', (_r, res) => json(res, { error: 'invalid_client', error_description: 'client authentication failed' }, 400),
      'configuration error: the introspection endpoint answered 400 invalid_client: it does not accept this API\'s client credentials; check schemes.idp.introspection.clientId, schemes.idp.introspection.clientSecret and schemes.idp.introspection.auth (the client\'s token endpoint auth method)'],
    ['400 invalid_request', (_r, res) => json(res, { error: 'invalid_request' }, 400),
      'configuration error: the introspection endpoint answered 400 invalid_request: check schemes.idp.introspection.url (the server\'s introspection_endpoint) and that this client may introspect tokens'],
    ['400 with an error code we do not repeat', (_r, res) => json(res, { error: 'bad"code\n' }, 400),
      'configuration error: the introspection endpoint answered 400: check schemes.idp.introspection.url (the server\'s introspection_endpoint) and that this client may introspect tokens'],
    ['400 with HTML', (_r, res) => { res.writeHead(400); res.end('<html>') },
      'configuration error: the introspection endpoint answered 400: check schemes.idp.introspection.url (the server\'s introspection_endpoint) and that this client may introspect tokens'],
    ['404', (_r, res) => { res.writeHead(404); res.end('not found') },
      'configuration error: the introspection endpoint answered 404: check schemes.idp.introspection.url (the server\'s introspection_endpoint) and that this client may introspect tokens'],
    ['a redirect', (_r, res) => { res.writeHead(302, { location: 'https://elsewhere.example/introspect' }); res.end() },
      'configuration error: the introspection endpoint answered 302, a redirect: schemes.idp.introspection.url (the server\'s introspection_endpoint) must be the endpoint\'s final address']
  ]
  for (const [name, respond, message] of cases) {
    await t.test(name, async (t) => {
      const logs = captureLogs()
      const server = await introspectionServer(t, respond)
      const { get } = await introspectionApp(t, { url: server.url }, { server: { logger: { level: 'info', stream: logs.stream } } })
      assertFailed(t, await get(TOKEN))
      assertFailed(t, await get(TOKEN))
      t.equal(server.received.length, 2, 'a fault is not cached')
      const reports = logs.lines.filter((line) => line.msg === `fastify-protected-routes: ${message}`)
      t.equal(reports.length, 1, 'the configuration error is logged once')
      t.same({ level: reports[0]!.level, status: reports[0]!.status, url: reports[0]!.introspectionUrl }, { level: 50, status: Number(name.match(/\d{3}/)?.[0] ?? 302), url: server.url })
      const text = logs.text()
      t.notOk(text.includes(TOKEN), 'the token is never logged')
      t.notOk(text.includes(CLIENT_SECRET), 'nor the secret')
      t.notOk(text.includes(BASIC.slice('Basic '.length)), 'nor the credentials header')
    })
  }
})

t.test('the configuration error is logged again after the endpoint answered in between', async (t) => {
  const logs = captureLogs()
  let refuse = true
  const server = await introspectionServer(t, (received, res) => refuse ? json(res, { error: 'invalid_client' }, 401) : answering({ [TOKEN]: { sub: 'alice' } })(received, res))
  const { get } = await introspectionApp(t, { url: server.url, cache: false }, { server: { logger: { level: 'info', stream: logs.stream } } })
  const configurationErrors = (): number => logs.lines.filter((line) => String(line.msg).includes('configuration error')).length
  assertFailed(t, await get(TOKEN))
  refuse = false
  t.equal((await get(TOKEN)).statusCode, 200)
  refuse = true
  assertFailed(t, await get(TOKEN))
  t.equal(configurationErrors(), 2)
})

t.test('the fault log line of a 503 carries neither the token nor the secret', async (t) => {
  const logs = captureLogs()
  const server = await introspectionServer(t, (_received, res) => { res.writeHead(502); res.end('bad gateway') })
  const { get } = await introspectionApp(t, { url: server.url, auth: 'client_secret_post' }, { server: { logger: { level: 'trace', stream: logs.stream } } })
  assertUnavailable(t, await get(TOKEN))
  const fault = logs.lines.find((line) => line.msg === 'authentication fault')
  t.match(fault, { level: 50, scheme: 'idp' })
  t.match(JSON.stringify(fault), `the introspection endpoint ${server.url} answered 502`)
  t.notOk(logs.text().includes(TOKEN))
  t.notOk(logs.text().includes(CLIENT_SECRET))
})

t.test('a 400 whose body is JSON but no error object: the status alone is logged', async (t) => {
  const logs = captureLogs()
  const server = await introspectionServer(t, (_received, res) => json(res, ['invalid_client'], 400))
  const { get } = await introspectionApp(t, { url: server.url }, { server: { logger: { level: 'error', stream: logs.stream } } })
  assertFailed(t, await get(TOKEN))
  t.ok(logs.lines.some((line) => String(line.msg).includes('configuration error: the introspection endpoint answered 400: check')))
})
