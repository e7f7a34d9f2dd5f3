import t from 'tap'
import type { AddressInfo } from 'node:net'
import { accessToken, logCapture, server } from '../examples/fixtures/helpers.js'

// Found in review: the request serializer logged every request header but a redact list
// (Authorization, Proxy-Authorization, X-Token, Cookie), so a token sent under a name the list
// did not foresee (a misspelt `Authorisation`, `X-Authorization`, `X-Api-Key`) was logged in full.

const SECRET = 'eyJSECRETsecret0123456789abcdef'

// Every name a credential could travel under, misspelt or not. Host is left out: it names the
// server and is logged, as Fastify's own serializer does.
const HEADER_NAMES = [
  'authorization', 'Authorisation', 'X-Authorization', 'X-Authorisation', 'authorizaton', 'X-Api-Key', 'Api-Key', 'X-API-Token',
  'X-Auth-Token', 'X-Access-Token', 'Token', 'Bearer', 'X-Token', 'x-tokens', 'Proxy-Authorization', 'Cookie', 'Cookies',
  'X-Session', 'X-Password', 'X-Forwarded-For', 'X-Forwarded-Host', 'X-Real-Ip', 'Forwarded', 'Referer', 'Origin', 'User-Agent',
  'Accept-Version', 'Content-Type', 'Accept', 'Request-Id', 'X-Request-Id', 'X-Correlation-Id', 'Via', 'From',
  `x-${SECRET.toLowerCase()}`, SECRET.toLowerCase()
]

const ROUTES = ['/public', '/users/me', '/protected', '/items', '/logout', '/token', '/documentation/json', '/no-such-route']

t.test('a credential under any request header name never reaches the log, at trace', async (t) => {
  const capture = logCapture()
  const app = await server(t, { logger: { level: 'trace', stream: capture } })
  const token = await accessToken(app, 'alice', 'wonderland')
  for (const url of ROUTES) {
    for (const name of HEADER_NAMES) {
      for (const value of [SECRET, `Bearer ${SECRET}`]) {
        // Once alone, and once beside a valid credential, so that the request also reaches the handler.
        await app.inject({ method: url === '/token' || url === '/logout' ? 'POST' : 'GET', url, headers: { [name]: value } })
        await app.inject({ url, headers: { [name]: value, authorization: name.toLowerCase() === 'authorization' ? value : `Bearer ${token}` } })
      }
    }
  }
  const log = capture.lines.join('')
  t.notOk(log.includes(SECRET), 'the credential is in no log line')
  t.notOk(log.includes(SECRET.toLowerCase()), 'nor its lower-case spelling (a header name)')
  t.notOk(log.includes(token), 'nor the valid access token')
})

t.test('a request is logged as Fastify logs it, with no header but Host and no query string', async (t) => {
  const capture = logCapture()
  const app = await server(t, { logger: { level: 'info', stream: capture } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const res = await fetch(`http://127.0.0.1:${port}/users/me?access_token=${SECRET}`, { headers: { 'x-authorization': `Bearer ${SECRET}` } })
  t.equal(res.status, 401)
  await res.arrayBuffer()
  const incoming = capture.lines.map((line) => JSON.parse(line) as { msg: string, req?: Record<string, unknown> }).find((entry) => entry.msg === 'incoming request')
  t.same(Object.keys(incoming?.req ?? {}), ['method', 'url', 'host', 'remoteAddress', 'remotePort'])
  t.match(incoming?.req, { method: 'GET', url: '/users/me', host: `127.0.0.1:${port}`, remoteAddress: '127.0.0.1', remotePort: Number })
  t.notOk(capture.lines.join('').includes(SECRET))
})
