// mcpAuthInfo: the verified token on request.raw.auth, in the MCP TypeScript SDK's AuthInfo
// shape, built from what verification found; nothing a hook or the client put there survives.
import { test } from 'tap'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { McpAuthInfo } from '../lib/index.js'
import { build } from './helpers/app.js'
import { dpopApp } from './helpers/dpop.js'
import { ISSUER, NOW } from './helpers/jwt.js'
import { RESOURCE, resourceApp } from './helpers/protected-resource.js'

/** What the route saw on request.raw.auth, as the handler can tell it. */
function seen (request: FastifyRequest): unknown {
  const info = (request.raw as { auth?: McpAuthInfo }).auth
  if (info === undefined) return { none: true }
  return {
    info: { ...info, resource: info.resource?.href },
    frozen: Object.isFrozen(info) && Object.isFrozen(info.extra) && Object.isFrozen(info.scopes),
    isUrl: info.resource === undefined || info.resource instanceof URL
  }
}

test('a JWT: token, client_id, scopes, exp, the resource it names, and the rest in extra', async (t) => {
  const { app, get, token } = await resourceApp(t, { plugin: { mcpAuthInfo: true } })
  const urls: URL[] = []
  app.get('/mcp', { config: { auth: { scopes: ['mcp:tools'] } } }, async (request) => {
    urls.push((request.raw as { auth?: McpAuthInfo }).auth!.resource!)
    return seen(request)
  })
  const jwt = await token({ client_id: 'agent-1', azp: 'ignored', scope: 'mcp:tools read' })
  const res = await get('/mcp', jwt)
  t.equal(res.statusCode, 200)
  const claims = { iss: ISSUER, aud: RESOURCE, sub: 'user-1', iat: NOW, exp: NOW + 600, scope: 'mcp:tools read', client_id: 'agent-1', azp: 'ignored' }
  t.same(res.json(), {
    info: {
      token: jwt,
      clientId: 'agent-1',
      scopes: ['mcp:tools', 'read'],
      expiresAt: NOW + 600,
      resource: RESOURCE,
      extra: { scheme: 'bearerAuth', user: claims, claims }
    },
    frozen: true,
    isUrl: true
  })
  await get('/mcp', jwt)
  t.not(urls[0], urls[1], 'a URL of its own per request: no handler can change another\'s')
})

test('azp when there is no client_id; no resource for a token of another audience', async (t) => {
  const { app, get, token } = await resourceApp(t, { plugin: { mcpAuthInfo: true }, jwt: { audience: ['https://legacy.example/', RESOURCE] } })
  app.get('/mcp', { config: { auth: true } }, async (request) => seen(request))
  const body = (await get('/mcp', await token({ azp: 'spa', aud: ['https://legacy.example/'] }))).json()
  t.equal(body.info.clientId, 'spa')
  t.notOk('resource' in body.info)
})

test('a verifier without claims: an empty clientId, no expiry or resource; without protectedResource, no resource', async (t) => {
  const app = await build(t, { schemes: { bearerAuth: { type: 'bearer', tokens: { 'static-token': { name: 'ci', scopes: ['deploy'] } } } }, mcpAuthInfo: true })
  app.get('/mcp', { config: { auth: true } }, async (request) => seen(request))
  const res = await app.inject({ url: '/mcp', headers: { authorization: 'Bearer static-token' } })
  t.same(res.json(), {
    info: { token: 'static-token', clientId: '', scopes: ['deploy'], extra: { scheme: 'bearerAuth', user: { name: 'ci', scopes: ['deploy'] } } },
    frozen: true,
    isUrl: true
  })
})

test('DPoP: the access token, not the proof, and the key in extra', async (t) => {
  const { app, call, token, key } = await dpopApp(t, { plugin: { mcpAuthInfo: true } })
  app.get('/mcp', { config: { auth: true } }, async (request) => seen(request))
  const bound = await token()
  const body = (await call(bound, { url: '/mcp' })).json()
  t.equal(body.info.token, bound)
  t.same(body.info.extra.dpop, { jkt: key.jkt })
})

test('an anonymous request on an optional route: undefined, whatever was there', async (t) => {
  // A hook that runs before the plugin's (onRequest, added before it) cannot pass anything on.
  const before = (fastify: FastifyInstance): void => {
    fastify.addHook('onRequest', async (request) => { (request.raw as { auth?: unknown }).auth = { token: 'forged', scopes: ['mcp:tools'] } })
  }
  const { app, get, token } = await resourceApp(t, { plugin: { mcpAuthInfo: true }, before })
  app.get('/maybe', { config: { auth: { optional: true } } }, async (request) => seen(request))
  t.same((await get('/maybe')).json(), { none: true })
  t.equal((await get('/maybe', await token())).json().info.clientId, '', 'a token: its own')
})

test('without mcpAuthInfo, and on refusals, request.raw.auth is not touched', async (t) => {
  const { app, get, token } = await resourceApp(t)
  let reached = 0
  app.get('/mcp', { config: { auth: { scopes: ['mcp:tools'] } } }, async (request) => {
    reached++
    return seen(request)
  })
  t.same((await get('/mcp', await token({ scope: 'mcp:tools' }))).json(), { none: true })
  t.equal((await get('/mcp', await token())).statusCode, 403)
  t.equal(reached, 1)
})
