// The benchmark's server process: one route per scenario, driven over 127.0.0.1 by
// bench/run.ts from another process. It answers the runner over IPC: the scenario list at
// start, its own CPU time around each measured batch, and the memory check.
import Fastify from 'fastify'
import bearerAuth from '@fastify/bearer-auth'
import fastifyAuth from '@fastify/auth'
import fastifyJwt from '@fastify/jwt'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose'
// The compiled package, as users get it (npm run bench builds it first): running the
// TypeScript sources through tsx would add its per-closure helper calls to every request.
import protectedRoutes, { MemoryTokenStore } from '../dist/index.js'

/** The tokens of the introspection count (bench/run.ts sends each of them 100 times). */
export interface IntrospectionCount {
  path: string
  tokens: string[]
}

export interface Scenario {
  name: string
  group: 'ours' | 'peer' | 'floor'
  path: string
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

// An RFC 7662 introspection endpoint on loopback: every token it was told of is active for an
// hour. It counts the requests it gets on each path (one path per scheme).
const introspectionClient = { clientId: 'bench-api', clientSecret: randomBytes(24).toString('base64url') }
const introspectionBasic = `Basic ${Buffer.from(`${introspectionClient.clientId}:${introspectionClient.clientSecret}`).toString('base64')}`
const opaqueToken = randomBytes(32).toString('base64url')
const countTokens = Array.from({ length: 100 }, () => randomBytes(32).toString('base64url'))
const activeTokens = new Set([opaqueToken, ...countTokens])
const introspections = new Map<string, number>()
const introspection = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (chunk: string) => { body += chunk })
  req.on('end', () => {
    introspections.set(req.url!, (introspections.get(req.url!) ?? 0) + 1)
    res.setHeader('content-type', 'application/json')
    if (req.headers.authorization !== introspectionBasic) {
      res.statusCode = 401
      res.end('{"error":"invalid_client"}')
      return
    }
    const token = new URLSearchParams(body).get('token')
    res.end(JSON.stringify(token !== null && activeTokens.has(token)
      ? { active: true, sub: 'alice', scope: 'items:read', client_id: 'web', iss: issuer, aud: audience, exp: Math.floor(Date.now() / 1000) + 3600 }
      : { active: false }))
  })
})
await new Promise<void>((resolve) => introspection.listen(0, '127.0.0.1', resolve))
const introspectionOrigin = `http://127.0.0.1:${(introspection.address() as AddressInfo).port}`

const app = Fastify()
// The floor, and a second copy of it: the two differ only by the machine's noise.
app.get('/bare', handler)
app.get('/bare-2', handler)

// The peers, each in a context of its own.
await app.register(async (child) => {
  await child.register(bearerAuth, { keys: [staticToken] })
  child.get('/peer/bearer-auth', handler)
})
await app.register(async (child) => {
  await child.register(bearerAuth, { keys: [staticToken], addHook: false })
  await child.register(fastifyAuth)
  child.get('/peer/auth', { onRequest: child.auth([child.verifyBearerAuth!]) }, handler)
})
for (const [path, options] of [
  ['/peer/jwt-hs', { secret: hsSecret, verify: { allowedIss: issuer, allowedAud: audience, algorithms: ['HS256'] } }],
  ['/peer/jwt-hs-cached', { secret: hsSecret, verify: { allowedIss: issuer, allowedAud: audience, algorithms: ['HS256'], cache: true } }],
  ['/peer/jwt-rs', { secret: { public: publicPem, private: 'unused' }, verify: { allowedIss: issuer, allowedAud: audience, algorithms: ['RS256'] } }]
] as const) {
  await app.register(async (child) => {
    await child.register(fastifyJwt, options as never)
    child.get(path, { onRequest: async (request) => { await request.jwtVerify() } }, handler)
  })
}

// This plugin, every scheme it has, in a context of its own so that the floor and the peers
// above run without it (one server: the interleaved measurement alternates between them).
await app.register(async (child) => {
  const jwtBase = { issuer, audience, typ: 'at+jwt' }
  await child.register(protectedRoutes, {
    schemes: {
      bearerStatic: { type: 'bearer', tokens: { [staticToken]: { username: 'alice', scopes: ['items:read'] } } },
      xToken: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { [staticToken]: { username: 'service' } } },
      bearerVerify: { type: 'bearer', verify: async (token) => token === staticToken ? { username: 'alice' } : null },
      jwtHs: { type: 'bearer', jwt: { ...jwtBase, secret: hsSecret, algorithms: ['HS256'] } },
      jwtHsNoCache: { type: 'bearer', jwt: { ...jwtBase, secret: hsSecret, algorithms: ['HS256'], cache: false } },
      jwtRs: { type: 'bearer', jwt: { ...jwtBase, jwksUrl, algorithms: ['RS256'] } },
      jwtRsNoCache: { type: 'bearer', jwt: { ...jwtBase, publicKey: publicPem, algorithms: ['RS256'], cache: false } },
      introspect: { type: 'bearer', introspection: { ...introspectionClient, url: `${introspectionOrigin}/introspect`, issuer, audience } },
      // A scheme of its own for the count: its cache starts empty.
      introspectCount: { type: 'bearer', introspection: { ...introspectionClient, url: `${introspectionOrigin}/introspect-count`, issuer, audience } }
    },
    defaultSchemes: ['bearerStatic']
  })
  child.get('/public', handler)
  child.get('/bearer-static', { config: { auth: { schemes: ['bearerStatic'] } } }, handler)
  child.get('/x-token', { config: { auth: { schemes: ['xToken'] } } }, handler)
  child.get('/verify', { config: { auth: { schemes: ['bearerVerify'] } } }, handler)
  child.get('/jwt-hs', { config: { auth: { schemes: ['jwtHs'] } } }, handler)
  child.get('/jwt-hs-nocache', { config: { auth: { schemes: ['jwtHsNoCache'] } } }, handler)
  child.get('/jwt-rs', { config: { auth: { schemes: ['jwtRs'] } } }, handler)
  child.get('/jwt-rs-nocache', { config: { auth: { schemes: ['jwtRsNoCache'] } } }, handler)
  child.get('/scopes', { config: { auth: { schemes: ['bearerStatic'], scopes: ['items:read'] } } }, handler)
  child.get('/introspection', { config: { auth: { schemes: ['introspect'] } } }, handler)
  child.get('/introspection-count', { config: { auth: { schemes: ['introspectCount'] } } }, handler)
})

// Several bearer schemes on one route, JWT first and a token store second (issue 14): an opaque
// token skips the JWT scheme on its pre-check (lib/verifiers/takes.ts) and pays no JWT
// verification; the JWT scheme is uncached RS256, so a token that reached it would show. The
// same store alone, on a route of its own, is the baseline.
const opaqueStore = new MemoryTokenStore()
const storeToken = (await opaqueStore.issue({ subject: 'alice', expiresIn: 3600, scopes: ['items:read'], user: { username: 'alice' } })).token
await app.register(async (child) => {
  await child.register(protectedRoutes, {
    schemes: {
      jwtFirst: { type: 'bearer', jwt: { issuer, audience, typ: 'at+jwt', publicKey: publicPem, algorithms: ['RS256'], cache: false } },
      opaqueSecond: { type: 'bearer', opaque: { store: opaqueStore } }
    }
  })
  child.get('/several/opaque-second', { config: { auth: { schemes: ['jwtFirst', 'opaqueSecond'] } } }, handler)
  child.get('/several/opaque-alone', { config: { auth: { schemes: ['opaqueSecond'] } } }, handler)
})

const url = await app.listen({ port: 0, host: '127.0.0.1' })
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

const scenarios: Scenario[] = [
  { name: 'bare route (floor)', group: 'floor', path: '/bare', headers: {}, expectStatus: 200 },
  { name: 'bare route again (noise control)', group: 'floor', path: '/bare-2', headers: {}, expectStatus: 200 },
  { name: 'public route, plugin registered', group: 'ours', path: '/public', headers: {}, expectStatus: 200 },
  { name: 'bearer, static tokens', group: 'ours', path: '/bearer-static', headers: bearer(staticToken), expectStatus: 200 },
  { name: 'X-Token, static tokens', group: 'ours', path: '/x-token', headers: { 'x-token': staticToken }, expectStatus: 200 },
  { name: 'bearer, custom async verify', group: 'ours', path: '/verify', headers: bearer(staticToken), expectStatus: 200 },
  { name: 'JWT HS256, uncached', group: 'ours', path: '/jwt-hs-nocache', headers: bearer(hsToken), expectStatus: 200 },
  { name: 'JWT HS256, cached', group: 'ours', path: '/jwt-hs', headers: bearer(hsToken), expectStatus: 200 },
  { name: 'JWT RS256 (PEM), uncached', group: 'ours', path: '/jwt-rs-nocache', headers: bearer(rsToken), expectStatus: 200 },
  { name: 'JWT RS256 (local JWKS), cached', group: 'ours', path: '/jwt-rs', headers: bearer(rsToken), expectStatus: 200 },
  { name: 'introspection, warm cache', group: 'ours', path: '/introspection', headers: bearer(opaqueToken), expectStatus: 200 },
  { name: 'bearer static + scopes check', group: 'ours', path: '/scopes', headers: bearer(staticToken), expectStatus: 200 },
  { name: '401 refusal (wrong token)', group: 'ours', path: '/bearer-static', headers: bearer('wrong-token'), expectStatus: 401 },
  { name: 'several bearer schemes, opaque store alone (baseline)', group: 'ours', path: '/several/opaque-alone', headers: bearer(storeToken), expectStatus: 200 },
  { name: 'several bearer schemes, opaque token second', group: 'ours', path: '/several/opaque-second', headers: bearer(storeToken), expectStatus: 200 },
  { name: '@fastify/bearer-auth alone', group: 'peer', path: '/peer/bearer-auth', headers: bearer(staticToken), expectStatus: 200 },
  { name: '@fastify/auth + bearer-auth', group: 'peer', path: '/peer/auth', headers: bearer(staticToken), expectStatus: 200 },
  { name: '@fastify/jwt HS256, uncached', group: 'peer', path: '/peer/jwt-hs', headers: bearer(hsToken), expectStatus: 200 },
  { name: '@fastify/jwt HS256, cached', group: 'peer', path: '/peer/jwt-hs-cached', headers: bearer(hsToken), expectStatus: 200 },
  { name: '@fastify/jwt RS256, uncached', group: 'peer', path: '/peer/jwt-rs', headers: bearer(rsToken), expectStatus: 200 }
]

/** Memory after a full collection (the runner compares before and after a million invalid credentials). */
function memory (): NodeJS.MemoryUsage {
  (globalThis as { gc?: () => void }).gc?.()
  return process.memoryUsage()
}

// Two measurements, both read by the server itself, with no IPC inside them:
// - a window: the runner arms a window of request arrivals (after a warmup) and sends one
//   autocannon run through it; CPU time and wall clock are read at its first and last arrival.
// - per request: with one connection and no pipelining the requests are strictly sequential,
//   so the CPU time between one response's finish and the next is the whole cost of the next
//   request (reading, parsing, routing, hooks, handler, writing). The runner alternates two
//   routes request by request, so both are measured under the same machine conditions.
let window: { first: number, last: number } | undefined
let arrivals = 0
let cpuStart = process.cpuUsage()
let wallStart = 0n
let bursts: { size: number, left: number, finished: number, last: number, windows: Array<[string, number]> } | undefined

function cpuMicros (): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

function onFinish (this: ServerResponse & { req: IncomingMessage }): void {
  const sampling = bursts
  if (sampling === undefined) return // still in flight when the measurement ended
  if (++sampling.finished % sampling.size !== 0) return
  const now = cpuMicros()
  sampling.windows.push([this.req.url!, now - sampling.last])
  sampling.last = now
  if (--sampling.left === 0) {
    bursts = undefined
    process.send!({ cmd: 'bursts', windows: sampling.windows })
  }
}

app.server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
  arrivals++
  if (bursts !== undefined) response.once('finish', onFinish)
  if (window === undefined) return
  if (arrivals === window.first) {
    cpuStart = process.cpuUsage()
    wallStart = process.hrtime.bigint()
  } else if (arrivals === window.last) {
    const used = process.cpuUsage(cpuStart)
    const wallMicros = Number(process.hrtime.bigint() - wallStart) / 1000
    window = undefined
    process.send!({ cmd: 'window', cpuMicros: used.user + used.system, wallMicros })
  }
})

process.on('message', (message: { cmd: string, skip?: number, requests?: number, size?: number, windows?: number }) => {
  if (message.cmd === 'arm') {
    arrivals = 0
    window = { first: message.skip! + 1, last: message.skip! + 1 + message.requests! }
    process.send!({ cmd: 'armed' })
  } else if (message.cmd === 'bursts') {
    bursts = { size: message.size!, left: message.windows!, finished: 0, last: cpuMicros(), windows: [] }
    process.send!({ cmd: 'armed' })
  } else if (message.cmd === 'introspections') {
    process.send!({ cmd: 'introspections', count: introspections.get('/introspect-count') ?? 0 })
  } else if (message.cmd === 'memory') {
    process.send!({ cmd: 'memory', usage: memory() })
  } else if (message.cmd === 'exit') {
    app.close().finally(() => { jwks.close(); introspection.close(); process.exit(0) })
  }
})
const introspectionCount: IntrospectionCount = { path: '/introspection-count', tokens: countTokens }
process.send!({ cmd: 'ready', scenarios, url, introspectionCount })
