import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type LightMyRequestResponse } from 'fastify'
import {
  base64url,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
  type JWTHeaderParameters
} from 'jose'
import type { Test } from 'tap'
import protectedRoutes from '../../lib/index.js'
import { kJwtInternals, type JwtInternals } from '../../lib/verifiers/jwt.js'
import type { JwtOptions } from '../../lib/verifiers/jwt-options.js'

export const ISSUER = 'https://issuer.example/'
export const AUDIENCE = 'https://api.example/'
/** The fixed "now" of tests that control time, in seconds. */
export const NOW = 1_750_000_000

/** A key pair generated for this run, with its public half in every form a verifier takes. */
export interface KeyPair {
  readonly alg: string
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
  readonly publicJwk: JWK
  readonly publicPem: string
}

export async function keyPair (alg: string, kid?: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const publicJwk = await exportJWK(publicKey)
  return {
    alg,
    privateKey,
    publicKey,
    publicJwk: kid === undefined ? publicJwk : { ...publicJwk, kid, alg, use: 'sig' },
    publicPem: await exportSPKI(publicKey)
  }
}

/** A fresh HS secret of `bytes` random bytes. */
export function secret (bytes = 32): Uint8Array {
  return new Uint8Array(randomBytes(bytes))
}

/** Valid RFC 9068 claims at {@link NOW}; a claim set to undefined is left out. */
export function claims (overrides: Record<string, unknown> = {}): JWTPayload {
  const all: Record<string, unknown> = { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', iat: NOW, exp: NOW + 600, scope: 'read write', ...overrides }
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined))
}

/** Signs with jose's SignJWT: any header, any claims (tests craft tokens the helper never would). */
export async function sign (key: CryptoKey | Uint8Array, alg: string, payload: JWTPayload = claims(), header: Partial<JWTHeaderParameters> = {}): Promise<string> {
  return await new SignJWT(payload).setProtectedHeader({ alg, typ: 'at+jwt', ...header }).sign(key)
}

/** The three base64url parts of a compact JWS, to assemble tokens jose would refuse to sign. */
export function encodePart (value: unknown): string {
  return base64url.encode(JSON.stringify(value))
}

/** A controllable clock, in ms. */
export class Clock {
  ms = NOW * 1000
  readonly now = (): number => this.ms
  /** Sets the time to `seconds` after the epoch. */
  at (seconds: number): void {
    this.ms = seconds * 1000
  }
}

export interface JwtHarness {
  readonly app: FastifyInstance
  readonly clock: Clock
  /** How many times a token reached jose (cache misses). */
  verifications: () => number
  /** GET /me with `Authorization: Bearer <token>`. */
  get: (token: string, url?: string) => Promise<LightMyRequestResponse>
}

export interface HarnessOptions {
  /** Use the real clock instead of {@link Clock}. */
  realClock?: boolean
  server?: FastifyServerOptions
  verifyTimeout?: number
}

/**
 * A fresh Fastify with one bearer scheme verifying JWTs with `jwt`, and routes:
 * GET /me (auth: true) and GET /admin (scope 'admin') answering { user, auth }.
 */
export async function jwtApp (t: Test, jwt: Partial<JwtOptions>, options: HarnessOptions = {}): Promise<JwtHarness> {
  const clock = new Clock()
  let verifications = 0
  const internals: JwtInternals = options.realClock === true
    ? { onVerify: () => { verifications++ } }
    : { now: clock.now, onVerify: () => { verifications++ } }
  const app = Fastify(options.server)
  t.teardown(() => app.close())
  const withInternals = { issuer: ISSUER, audience: AUDIENCE, ...jwt, [kJwtInternals]: internals } as unknown as JwtOptions
  await app.register(protectedRoutes, {
    schemes: { bearerAuth: { type: 'bearer', jwt: withInternals } },
    ...(options.verifyTimeout === undefined ? {} : { verifyTimeout: options.verifyTimeout })
  })
  const handler = async (request: { user: unknown, auth: unknown }) => ({ user: request.user, auth: request.auth })
  app.get('/me', { config: { auth: true } }, handler)
  app.get('/admin', { config: { auth: { scopes: ['admin'] } } }, handler)
  return {
    app,
    clock,
    verifications: () => verifications,
    get: (token, url = '/me') => app.inject({ url, headers: { authorization: `Bearer ${token}` } })
  }
}

/** The exact challenge of a refusal by the JWT scheme. */
export function challenge (description: string): string {
  return `Bearer realm="api", error="invalid_token", error_description="${description}"`
}

/** Asserts the whole 401 invalid_token answer: status, challenge and body. */
export function assertRefused (t: Test, res: LightMyRequestResponse, description: string): void {
  t.equal(res.statusCode, 401, 'status')
  t.equal(res.headers['www-authenticate'], challenge(description), 'challenge')
  t.same(res.json(), { statusCode: 401, code: 'FST_PROTECTED_ROUTES_INVALID_TOKEN', error: 'Unauthorized', message: description }, 'body')
}

/** Asserts the 503 answer of a verifier whose key source is unreachable. */
export function assertUnavailable (t: Test, res: LightMyRequestResponse): void {
  t.equal(res.statusCode, 503, 'status')
  t.equal(res.headers['www-authenticate'], undefined, 'no challenge')
  t.same(res.json(), { statusCode: 503, code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', error: 'Service Unavailable', message: 'Authentication is temporarily unavailable' }, 'body')
}

/** A JWKS endpoint on 127.0.0.1, served by a real Fastify server inside the test. */
export interface JwksServer {
  readonly url: string
  /** GET requests it has answered or is answering. */
  hits: () => number
  /** The keys served from now on. */
  serve: (keys: JWK[]) => void
  /** 'ok'; 'error' answers 500; 'slow' answers after `slowMs`. */
  mode: (mode: 'ok' | 'error' | 'slow', slowMs?: number) => void
  /** Stops listening: connections are refused from now on. */
  stop: () => Promise<void>
}

export async function jwksServer (t: Test, keys: JWK[]): Promise<JwksServer> {
  let served = keys
  let hits = 0
  let current: 'ok' | 'error' | 'slow' = 'ok'
  let delay = 0
  const timers = new Set<NodeJS.Timeout>()
  const server = Fastify({ forceCloseConnections: true })
  server.get('/jwks.json', async (_request, reply) => {
    hits++
    if (current === 'error') return await reply.code(500).send({ error: 'down' })
    if (current === 'slow') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { timers.delete(timer); resolve() }, delay)
        timers.add(timer)
      })
    }
    return { keys: served }
  })
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    for (const timer of timers) clearTimeout(timer)
    await server.close()
  }
  t.teardown(stop)
  await server.listen({ port: 0, host: '127.0.0.1' })
  const { port } = server.server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    hits: () => hits,
    serve: (next) => { served = next },
    mode: (next, slowMs = 0) => { current = next; delay = slowMs },
    stop
  }
}

/** Resolves after `ms`. */
export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
