import t from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { accessToken, logCapture, server } from '../examples/fixtures/helpers.js'

// Found in review: Fastify's default 404 answers `Route GET:/user/me?access_token=… not found`
// and logs that line at info; FST_ERR_BAD_URL answers `'/%zz?password=…' is not a valid url
// component`; and a refused query parameter's name reached the log in the validation error's
// `validation` array. A mistyped URL is where a credential in a link ends up.

const SECRET = 'SECRETsecret0123456789'

/** Every log line the request wrote, at trace (the most verbose level), and its answer. */
async function probe (app: FastifyInstance, lines: string[], request: InjectOptions) {
  const from = lines.length
  const res = await app.inject(request)
  return { res, log: lines.slice(from) }
}

function entries (log: readonly string[]): Array<Record<string, unknown>> {
  return log.map((line) => JSON.parse(line) as Record<string, unknown>)
}

t.test('a 404 says "Route not found" and logs no part of the URL', async (t) => {
  const capture = logCapture()
  const app = await server(t, { logger: { level: 'trace', stream: capture } })
  for (const url of [`/user/me?access_token=${SECRET}`, `/${SECRET}`, `/users/me/${SECRET}?password=${SECRET}`, `/documentation/static/${SECRET}?x=${SECRET}`]) {
    const { res, log } = await probe(app, capture.lines, { url })
    t.equal(res.statusCode, 404, url)
    t.same(res.json(), { statusCode: 404, error: 'Not Found', message: 'Route not found' }, url)
    t.notOk(res.body.includes(SECRET) || JSON.stringify(res.headers).includes(SECRET), `${url}: nothing of it in the answer`)
    t.notOk(log.join('').includes(SECRET), `${url}: nothing of it in the log`)
    t.ok(entries(log).some((entry) => entry.msg === 'route not found' && entry.level === 30), 'the 404 is logged, at info')
  }
})

t.test('an unroutable URL (FST_ERR_BAD_URL) is a 400 that echoes nothing of it', async (t) => {
  const capture = logCapture()
  const app = await server(t, { logger: { level: 'trace', stream: capture } })
  for (const url of [`/%zz?password=${SECRET}`, `/users/%E0%A4%A?access_token=${SECRET}`, `/${SECRET}%zz`]) {
    const { res, log } = await probe(app, capture.lines, { url })
    t.equal(res.statusCode, 400, url)
    t.same(res.json(), { statusCode: 400, code: 'FST_ERR_BAD_URL', error: 'Bad Request', message: 'The request URL cannot be routed' }, url)
    t.notOk(log.join('').includes(SECRET), `${url}: nothing of it in the log`)
    const logged = entries(log)
    t.same(logged.map((entry) => entry.msg), ['incoming request', 'request refused before routing'], 'the request and why it was refused')
    t.same(logged[0]?.req, { method: 'GET', host: 'localhost:80', remoteAddress: '127.0.0.1' }, 'no url: no route was reached')
    t.equal(logged[1]?.code, 'FST_ERR_BAD_URL')
  }
})

t.test('a request that reached a route logs its pattern, never the URL it came with', async (t) => {
  const capture = logCapture()
  const app = await server(t, { logger: { level: 'trace', stream: capture } })
  const token = await accessToken(app, 'alice', 'wonderland')
  const requests = [
    { url: `/users/me?access_token=${SECRET}` },
    { url: `/public?${SECRET}` },
    { url: '/users/me', headers: { authorization: `Bearer ${token}` }, query: { access_token: SECRET } },
    // Refused by the route's schema: the error's `validation` names the parameter, here the secret.
    { method: 'POST' as const, url: `/logout?${SECRET}=1`, headers: { authorization: `Bearer ${token}` } },
    { method: 'POST' as const, url: `/logout?all=${SECRET}`, headers: { authorization: `Bearer ${token}` } }
  ]
  const statuses = []
  for (const request of requests) {
    const { res, log } = await probe(app, capture.lines, request)
    statuses.push(res.statusCode)
    t.notOk(res.body.includes(SECRET), `${request.url}: not in the answer`)
    t.notOk(log.join('').includes(SECRET), `${request.url}: not in the log`)
  }
  t.same(statuses, [401, 200, 200, 400, 400])
  const urls = entries(capture.lines).filter((entry) => entry.msg === 'incoming request').map((entry) => (entry.req as { url?: string }).url)
  t.same(urls, ['/token', '/users/me', '/public', '/users/me', '/logout', '/logout'])
  const refused = entries(capture.lines).find((entry) => (entry.err as { code?: string } | undefined)?.code === 'FST_ERR_VALIDATION')
  t.match(refused?.err, { type: 'Error', message: 'querystring must NOT have additional properties', code: 'FST_ERR_VALIDATION', statusCode: 400 })
  t.notOk('validation' in (refused?.err as object), 'the validation details are not logged')
})
