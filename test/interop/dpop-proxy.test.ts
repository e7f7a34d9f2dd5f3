// htu behind a TLS-terminating proxy: the client signs `https://api.example/...`, the app hears
// `http://127.0.0.1:<port>/...` with X-Forwarded-Proto / X-Forwarded-Host. The proof matches
// only when the app knows its public origin: Fastify's trustProxy, or dpop.origin.
import { test, type Test } from 'tap'
import type { FastifyServerOptions } from 'fastify'
import protectedRoutes, { type JwtOptions } from '../../lib/index.js'
import { dpopDescriptions } from '../../lib/errors.js'
import { fresh, listen } from '../helpers/app.js'
import { assertAnswer, BEARER, dpopError } from '../helpers/dpop-app.js'
import { dpopKey, resourceRequest } from '../helpers/dpop-client.js'
import { startProxy } from '../helpers/http-proxy.js'
import { JWT_RESOURCE, startIssuer, type Issuer } from '../helpers/oidc-provider.js'

const PUBLIC_URL = 'https://api.example/orders/7?expand=lines'

/** The app behind a proxy on 127.0.0.1; resolves with the proxy's port. */
async function behindProxy (t: Test, as: Issuer, server: FastifyServerOptions, dpop: Record<string, unknown> = {}) {
  const jwt = { jwksUrl: as.jwksUri, issuer: as.issuer, audience: JWT_RESOURCE, algorithms: ['RS256'] } as JwtOptions
  const app = fresh(t, server)
  const seen: Array<{ protocol: string, host: string }> = []
  // Added before the plugin, so it runs before the plugin refuses the request.
  app.addHook('onRequest', async (request) => { seen.push({ protocol: request.protocol, host: request.host }) })
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', jwt, dpop } } })
  app.get('/orders/:id', { config: { auth: true } }, async (request) => ({ jkt: request.auth?.dpop?.jkt }))
  const proxy = await startProxy(t, await listen(app), { proto: 'https', host: 'api.example' })
  return { via: proxy.port, proxy, seen }
}

test('with trustProxy, the proof for https://api.example/... is accepted through the proxy', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const { via, proxy, seen } = await behindProxy(t, as, { trustProxy: true })
  const key = await dpopKey()
  const res = await resourceRequest(await as.dpopToken({ key }), 'GET', PUBLIC_URL, { key, via })
  t.equal(res.status, 200)
  t.same(res.json(), { jkt: await key.handle.calculateThumbprint() })
  t.match(proxy.forwarded[0], { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example', host: /^127\.0\.0\.1:\d+$/ }, 'what the proxy sent')
  t.same(seen, [{ protocol: 'https', host: 'api.example' }], 'what Fastify made of it')
})

test('without trustProxy, the same request is invalid_dpop_proof: the app sees http://127.0.0.1:<port>', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const { via, seen } = await behindProxy(t, as, {})
  const key = await dpopKey()
  const res = await resourceRequest(await as.dpopToken({ key }), 'GET', PUBLIC_URL, { key, via })
  assertAnswer(t, res, 'invalid_dpop_proof', dpopDescriptions.wrongUri, [BEARER, dpopError('invalid_dpop_proof', dpopDescriptions.wrongUri)])
  t.match(seen, [{ protocol: 'http', host: /^127\.0\.0\.1:\d+$/ }])
})

test('dpop.origin, without trustProxy: accepted, whatever the forwarded headers say', async (t) => {
  const as = await startIssuer(t, { dpop: true })
  const { via, seen } = await behindProxy(t, as, {}, { origin: 'https://api.example' })
  const key = await dpopKey()
  const token = await as.dpopToken({ key })
  const res = await resourceRequest(token, 'GET', PUBLIC_URL, { key, via })
  t.equal(res.status, 200)
  t.same(res.json(), { jkt: await key.handle.calculateThumbprint() })
  t.match(seen, [{ protocol: 'http' }], 'Fastify still reads http: the configured origin decided')

  const elsewhere = await resourceRequest(token, 'GET', 'https://other.example/orders/7', { key, via })
  assertAnswer(t, elsewhere, 'invalid_dpop_proof', dpopDescriptions.wrongUri, [BEARER, dpopError('invalid_dpop_proof', dpopDescriptions.wrongUri)])
})
