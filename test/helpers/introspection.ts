import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type LightMyRequestResponse } from 'fastify'
import protectedRoutes, { type IntrospectionOptions, type ProtectedRoutesOptions } from '../../lib/index.js'
import { kIntrospectionInternals } from '../../lib/verifiers/introspection.js'
import { Clock, NOW } from './jwt.js'

export { NOW }

export const CLIENT_ID = 'orders-api'
export const CLIENT_SECRET = 'introspection-secret-0123456789'
export const BASIC = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`

/** One request the introspection server received. */
export interface Received {
  readonly method: string | undefined
  readonly url: string | undefined
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly form: URLSearchParams
}

/** How the server answers a request (it may also leave it hanging). */
export type Respond = (received: Received, res: ServerResponse) => void

export interface IntrospectionServer {
  readonly url: string
  /** Every request, in order. */
  readonly received: Received[]
  /** The requests for one token. */
  callsFor: (token: string) => number
  /** Replaces how the server answers. */
  respond: (respond: Respond) => void
}

/** Answers `body` as JSON with `status`. */
export function json (res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

/**
 * The default answer: `tokens[token]` (merged over `{ active: true }`) for a known token,
 * `{ active: false }` for any other (RFC 7662 §2.2), and 401 unless the client authenticated
 * with {@link BASIC}.
 */
export function answering (tokens: Record<string, Record<string, unknown>>): Respond {
  return (received, res) => {
    if (received.headers.authorization !== BASIC) return json(res, { error: 'invalid_client' }, 401)
    const token = received.form.get('token') ?? ''
    json(res, Object.hasOwn(tokens, token) ? { active: true, ...tokens[token] } : { active: false })
  }
}

/** A node:http introspection endpoint on 127.0.0.1, closed when the test ends. */
export async function introspectionServer (t: Test, respond: Respond): Promise<IntrospectionServer> {
  const received: Received[] = []
  let current = respond
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      const entry = { method: req.method, url: req.url, headers: req.headers, body, form: new URLSearchParams(body) }
      received.push(entry)
      current(entry, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`,
    received,
    callsFor: (token) => received.filter((entry) => entry.form.get('token') === token).length,
    respond: (next) => { current = next }
  }
}

export interface IntrospectionHarness {
  readonly app: FastifyInstance
  readonly clock: Clock
  /** GET /me (or `url`) with `Authorization: Bearer <token>`. */
  get: (token: string, url?: string) => Promise<LightMyRequestResponse>
}

export interface HarnessOptions {
  /** Use the real clock instead of {@link Clock}. */
  realClock?: boolean
  server?: FastifyServerOptions
  plugin?: Partial<ProtectedRoutesOptions>
}

/**
 * A fresh Fastify with one bearer scheme `idp` verifying tokens at `url` with the test client's
 * credentials and `options`, and routes GET /me (auth: true) and GET /admin (scope 'admin')
 * answering { user, auth }.
 */
export async function introspectionApp (t: Test, options: Partial<IntrospectionOptions> & { url?: string }, harness: HarnessOptions = {}): Promise<IntrospectionHarness> {
  const clock = new Clock()
  const app = Fastify(harness.server)
  t.teardown(() => app.close())
  const introspection = {
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    ...options,
    ...(harness.realClock === true ? {} : { [kIntrospectionInternals]: { now: clock.now } })
  } as IntrospectionOptions
  await app.register(protectedRoutes, { schemes: { idp: { type: 'bearer', introspection } }, ...harness.plugin } as ProtectedRoutesOptions)
  const handler = async (request: { user: unknown, auth: unknown }) => ({ user: request.user, auth: request.auth })
  app.get('/me', { config: { auth: true } }, handler)
  app.get('/admin', { config: { auth: { scopes: ['admin'] } } }, handler)
  return { app, clock, get: (token, url = '/me') => app.inject({ url, headers: { authorization: `Bearer ${token}` } }) }
}
