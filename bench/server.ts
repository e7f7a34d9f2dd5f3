// The benchmark's server process: one route per scenario, driven over 127.0.0.1 by
// bench/run.ts from another process. It answers the runner over IPC: the scenario list at
// start, its own CPU time around each measured batch, and the memory check.
import Fastify, { type FastifyInstance } from 'fastify'
import bearerAuth from '@fastify/bearer-auth'
import fastifyAuth from '@fastify/auth'
import fastifyJwt from '@fastify/jwt'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose'
// The compiled package, as users get it (npm run bench builds it first): running the
// TypeScript sources through tsx would add its per-closure helper calls to every request.
import protectedRoutes from '../dist/index.js'

export interface Scenario {
  name: string
  group: 'ours' | 'peer' | 'floor'
  url: string
  headers: Record<string, string>
  expectStatus: number
}

const issuer = 'https://bench.example/'
const audience = 'bench-api'
const hsSecret = randomBytes(32)
const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true })
const publicJwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'RS256', use: 'sig' }
const publicPem = await exportSPKI(publicKey)

async function sign (alg: 'HS256' | 'RS256', subject: string, scope: string): Promise<string> {
  const jwt = new SignJWT({ scope })
    .setProtectedHeader(alg === 'RS256' ? { alg, typ: 'at+jwt', kid: 'bench-1' } : { alg, typ: 'at+jwt' })
    .setIssuer(issuer).setAudience(audience).setSubject(subject).setIssuedAt().setExpirationTime('1h')
  return await jwt.sign(alg === 'RS256' ? privateKey : hsSecret)
}

const hsToken = await sign('HS256', 'alice', 'items:read')
const rsToken = await sign('RS256', 'alice', 'items:read')
const staticToken = randomBytes(24).toString('base64url')
const handler = async (): Promise<{ ok: true }> => ({ ok: true })

// A JWKS endpoint on loopback, as an identity provider would serve it.
const jwks = createServer((_req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ keys: [publicJwk] }))
})
await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve))
const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`

/** The floor and the peers: an app without this plugin. */
async function peersApp (): Promise<FastifyInstance> {
  const app = Fastify()
  app.get('/bare', handler)
  await app.register(async (child) => {
    await child.register(bearerAuth, { keys: [staticToken] })
    child.get('/peer/bearer-auth', handler)
  })
  await app.register(async (child) => {
    await child.register(bearerAuth, { keys: [staticToken], addHook: false })
    await child.register(fastifyAuth)
    child.get('/peer/auth', { onRequest: child.auth([child.verifyBearerAuth!]) }, handler)
  })
  for (const [prefix, options] of [
    ['/peer/jwt-hs', { secret: hsSecret, verify: { allowedIss: issuer, allowedAud: audience, algorithms: ['HS256'] } }],
    ['/peer/jwt-hs-cached', { secret: hsSecret, verify: { allowedIss: issuer, allowedAud: audience, algorithms: ['HS256'], cache: true } }],
    ['/peer/jwt-rs', { secret: { public: publicPem, private: 'unused' }, verify: { allowedIss: issuer, allowedAud: audience, algorithms: ['RS256'] } }]
  ] as const) {
    await app.register(async (child) => {
      await child.register(fastifyJwt, options as never)
      child.get(prefix, { onRequest: async (request) => { await request.jwtVerify() } }, handler)
    })
  }
  return app
}

/** This plugin, every scheme it has. */
async function oursApp (): Promise<FastifyInstance> {
  const app = Fastify()
  const jwtBase = { issuer, audience, typ: 'at+jwt' }
  await app.register(protectedRoutes, {
    schemes: {
      bearerStatic: { type: 'bearer', tokens: { [staticToken]: { username: 'alice', scopes: ['items:read'] } } },
      xToken: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { [staticToken]: { username: 'service' } } },
      bearerVerify: { type: 'bearer', verify: async (token) => token === staticToken ? { username: 'alice' } : null },
      jwtHs: { type: 'bearer', jwt: { ...jwtBase, secret: hsSecret, algorithms: ['HS256'] } },
      jwtHsNoCache: { type: 'bearer', jwt: { ...jwtBase, secret: hsSecret, algorithms: ['HS256'], cache: false } },
      jwtRs: { type: 'bearer', jwt: { ...jwtBase, jwksUrl, algorithms: ['RS256'] } },
      jwtRsNoCache: { type: 'bearer', jwt: { ...jwtBase, publicKey: publicPem, algorithms: ['RS256'], cache: false } }
    },
    defaultSchemes: ['bearerStatic']
  })
  app.get('/public', handler)
  app.get('/bearer-static', { config: { auth: { schemes: ['bearerStatic'] } } }, handler)
  app.get('/x-token', { config: { auth: { schemes: ['xToken'] } } }, handler)
  app.get('/verify', { config: { auth: { schemes: ['bearerVerify'] } } }, handler)
  app.get('/jwt-hs', { config: { auth: { schemes: ['jwtHs'] } } }, handler)
  app.get('/jwt-hs-nocache', { config: { auth: { schemes: ['jwtHsNoCache'] } } }, handler)
  app.get('/jwt-rs', { config: { auth: { schemes: ['jwtRs'] } } }, handler)
  app.get('/jwt-rs-nocache', { config: { auth: { schemes: ['jwtRsNoCache'] } } }, handler)
  app.get('/scopes', { config: { auth: { schemes: ['bearerStatic'], scopes: ['items:read'] } } }, handler)
  return app
}

const peers = await peersApp()
const ours = await oursApp()
const peersUrl = await peers.listen({ port: 0, host: '127.0.0.1' })
const oursUrl = await ours.listen({ port: 0, host: '127.0.0.1' })
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

const scenarios: Scenario[] = [
  { name: 'bare route (floor)', group: 'floor', url: `${peersUrl}/bare`, headers: {}, expectStatus: 200 },
  { name: 'public route, plugin registered', group: 'ours', url: `${oursUrl}/public`, headers: {}, expectStatus: 200 },
  { name: 'bearer, static tokens', group: 'ours', url: `${oursUrl}/bearer-static`, headers: bearer(staticToken), expectStatus: 200 },
  { name: 'X-Token, static tokens', group: 'ours', url: `${oursUrl}/x-token`, headers: { 'x-token': staticToken }, expectStatus: 200 },
  { name: 'bearer, custom async verify', group: 'ours', url: `${oursUrl}/verify`, headers: bearer(staticToken), expectStatus: 200 },
  { name: 'JWT HS256, uncached', group: 'ours', url: `${oursUrl}/jwt-hs-nocache`, headers: bearer(hsToken), expectStatus: 200 },
  { name: 'JWT HS256, cached', group: 'ours', url: `${oursUrl}/jwt-hs`, headers: bearer(hsToken), expectStatus: 200 },
  { name: 'JWT RS256 (PEM), uncached', group: 'ours', url: `${oursUrl}/jwt-rs-nocache`, headers: bearer(rsToken), expectStatus: 200 },
  { name: 'JWT RS256 (local JWKS), cached', group: 'ours', url: `${oursUrl}/jwt-rs`, headers: bearer(rsToken), expectStatus: 200 },
  { name: 'bearer static + scopes check', group: 'ours', url: `${oursUrl}/scopes`, headers: bearer(staticToken), expectStatus: 200 },
  { name: '401 refusal (wrong token)', group: 'ours', url: `${oursUrl}/bearer-static`, headers: bearer('wrong-token'), expectStatus: 401 },
  { name: '@fastify/bearer-auth alone', group: 'peer', url: `${peersUrl}/peer/bearer-auth`, headers: bearer(staticToken), expectStatus: 200 },
  { name: '@fastify/auth + bearer-auth', group: 'peer', url: `${peersUrl}/peer/auth`, headers: bearer(staticToken), expectStatus: 200 },
  { name: '@fastify/jwt HS256, uncached', group: 'peer', url: `${peersUrl}/peer/jwt-hs`, headers: bearer(hsToken), expectStatus: 200 },
  { name: '@fastify/jwt HS256, cached', group: 'peer', url: `${peersUrl}/peer/jwt-hs-cached`, headers: bearer(hsToken), expectStatus: 200 },
  { name: '@fastify/jwt RS256, uncached', group: 'peer', url: `${peersUrl}/peer/jwt-rs`, headers: bearer(rsToken), expectStatus: 200 }
]

/** Memory after a full collection (the runner compares before and after a million invalid credentials). */
function memory (): NodeJS.MemoryUsage {
  (globalThis as { gc?: () => void }).gc?.()
  return process.memoryUsage()
}

let cpuStart = process.cpuUsage()
process.on('message', (message: { cmd: string }) => {
  if (message.cmd === 'cpu-start') {
    cpuStart = process.cpuUsage()
    process.send!({ cmd: 'cpu-started' })
  } else if (message.cmd === 'cpu-stop') {
    const used = process.cpuUsage(cpuStart)
    process.send!({ cmd: 'cpu', micros: used.user + used.system })
  } else if (message.cmd === 'memory') {
    process.send!({ cmd: 'memory', usage: memory() })
  } else if (message.cmd === 'exit') {
    Promise.all([peers.close(), ours.close()]).finally(() => { jwks.close(); process.exit(0) })
  }
})
process.send!({ cmd: 'ready', scenarios, oursUrl })
