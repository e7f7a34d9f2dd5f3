// RFC 9728 §5.1: every 401 and 403 challenge of a bearer or DPoP scheme says where the
// resource's metadata is; an API key's does not (it is no OAuth access token). A 403 for scopes
// lists every scope the route requires, in one challenge.
import { test, type Test } from 'tap'
import { ALGS, dpopApp, proof } from './helpers/dpop.js'
import { ISSUER } from './helpers/jwt.js'
import { errorBody } from './helpers/app.js'
import { BEARER, METADATA, RESOURCE, resourceApp } from './helpers/protected-resource.js'

const handler = async (): Promise<string> => 'ok'
const DPOP = `DPoP algs="${ALGS}", ${METADATA}`
const KEY = 'ApiKey realm="api", in="header", name="X-Key"'

async function app (t: Test): ReturnType<typeof resourceApp> {
  const harness = await resourceApp(t, { schemes: { key: { type: 'apiKey', in: 'header', name: 'X-Key', tokens: { 'key-1': { id: 'k' } } } } })
  harness.app.get('/tools', { config: { auth: { schemes: ['bearerAuth'], scopes: ['mcp:tools', 'mcp:write'] } } }, handler)
  harness.app.get('/either', { config: { auth: true } }, handler)
  harness.app.get('/owner', { config: { auth: { schemes: ['bearerAuth'], scopes: ['mcp:tools'], authorize: () => false } } }, handler)
  harness.app.get('/mfa', { config: { auth: { schemes: ['bearerAuth'], acr: ['mfa'] } } }, handler)
  harness.app.get('/both', { config: { auth: { schemes: ['key', 'bearerAuth'], all: true } } }, handler)
  return harness
}

test('401 with no credential: each scheme\'s challenge, the bearer one with resource_metadata', async (t) => {
  const { get } = await app(t)
  const res = await get('/either')
  t.equal(res.statusCode, 401)
  t.same(res.headers['www-authenticate'], [BEARER, KEY])
  t.equal((await get('/tools')).headers['www-authenticate'], BEARER)
})

test('401 invalid_token, for a token of another resource too', async (t) => {
  const { get, token } = await app(t)
  const other = await get('/tools', await token({ aud: 'https://other.example/' }))
  t.equal(other.statusCode, 401)
  t.equal(other.headers['www-authenticate'], `${BEARER}, error="invalid_token", error_description="The access token audience is not accepted"`)
  t.same(other.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token audience is not accepted'))
  const garbage = await get('/either', 'not-a-token')
  t.same(garbage.headers['www-authenticate'], [`${BEARER}, error="invalid_token", error_description="The access token is malformed"`, KEY], 'the API key\'s challenge is offered plain, as always')
})

test('400 invalid_request', async (t) => {
  const { app: fastify } = await app(t)
  const res = await fastify.inject({ url: '/tools', headers: { authorization: 'Bearer a b' } })
  t.equal(res.statusCode, 400)
  t.equal(res.headers['www-authenticate'], `${BEARER}, error="invalid_request", error_description="The Authorization header is not a valid Bearer credential"`)
})

test('403 insufficient_scope lists every scope the route requires, in one challenge', async (t) => {
  const { get, token } = await app(t)
  const res = await get('/tools', await token({ scope: 'mcp:tools' }))
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], `${BEARER}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="mcp:tools mcp:write"`)
  t.equal((await get('/tools', await token({ scope: 'mcp:tools mcp:write' }))).statusCode, 200)
})

test('403 from authorize', async (t) => {
  const { get, token } = await app(t)
  const res = await get('/owner', await token({ scope: 'mcp:tools' }))
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], `${BEARER}, error="insufficient_scope", error_description="Access to this resource is not allowed", scope="mcp:tools"`)
})

test('401 insufficient_user_authentication (RFC 9470)', async (t) => {
  const { get, token } = await app(t)
  const res = await get('/mfa', await token({ acr: 'pwd' }))
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], `${BEARER}, error="insufficient_user_authentication", error_description="The authentication behind the access token is not strong or recent enough", acr_values="mfa"`)
})

test('all: true names the missing schemes', async (t) => {
  const { app: fastify, token } = await app(t)
  const res = await fastify.inject({ url: '/both', headers: { 'x-key': 'key-1' } })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], BEARER)
  const ok = await fastify.inject({ url: '/both', headers: { 'x-key': 'key-1', authorization: `Bearer ${await token()}` } })
  t.equal(ok.statusCode, 200)
})

test('DPoP: both challenges carry it, on every refusal', async (t) => {
  const { app: fastify, call, token } = await dpopApp(t, { plugin: { protectedResource: { resource: RESOURCE } }, dpop: { nonce: { secret: 's'.repeat(32) } } })
  const none = await fastify.inject({ url: '/me' })
  t.same(none.headers['www-authenticate'], [BEARER, DPOP])
  const stale = await call(await token())
  t.equal(stale.statusCode, 401)
  t.same(stale.headers['www-authenticate'], [BEARER, `${DPOP}, error="use_dpop_nonce", error_description="The DPoP proof must carry the nonce in the DPoP-Nonce header"`])
  const nonce = stale.headers['dpop-nonce'] as string
  const badProof = await fastify.inject({ url: '/me', headers: { authorization: `DPoP ${await token()}`, dpop: 'x.y.z' } })
  t.same(badProof.headers['www-authenticate'], [BEARER, `${DPOP}, error="invalid_dpop_proof", error_description="The DPoP proof is malformed"`])
  const scoped = await call(await token(), { url: '/admin', claims: { nonce } })
  t.equal(scoped.statusCode, 403)
  t.equal(scoped.headers['www-authenticate'], `${DPOP}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"`)
  const unbound = await call(await token({ cnf: undefined }), { claims: { nonce } })
  t.same(unbound.headers['www-authenticate'], [BEARER, `${DPOP}, error="invalid_token", error_description="The access token is not bound to a DPoP key"`])
  const twoProofs = await fastify.inject({ url: '/me', headers: { authorization: `DPoP ${await token()}`, dpop: [await proof((await dpopApp(t)).key), 'x'] } })
  t.equal(twoProofs.statusCode, 400)
  t.equal(twoProofs.headers['www-authenticate'], `${DPOP}, error="invalid_request", error_description="More than one DPoP header was sent"`)
})

test('DPoP required: the DPoP challenge alone', async (t) => {
  const { app: fastify } = await dpopApp(t, { plugin: { protectedResource: { resource: RESOURCE, authorizationServers: [ISSUER] } }, dpop: { required: true } })
  t.equal((await fastify.inject({ url: '/me' })).headers['www-authenticate'], DPOP)
})

test('without protectedResource, challenges are as they were', async (t) => {
  const { app: fastify } = await dpopApp(t)
  t.same((await fastify.inject({ url: '/me' })).headers['www-authenticate'], ['Bearer realm="api"', `DPoP algs="${ALGS}"`])
})
