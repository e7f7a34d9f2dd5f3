import { STATUS_CODES } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import protectedRoutes, { MemoryTokenStore, type ProtectedRoutesOptions, type VerifyResult } from '../../lib/index.js'

/** The part of a tap test these helpers use. */
interface Teardown {
  teardown: (fn: () => unknown) => void
}

/** A fresh Fastify that is closed when the test ends. */
export function fresh (t: Teardown, options: FastifyServerOptions = {}): FastifyInstance {
  const app = Fastify(options)
  t.teardown(() => app.close())
  return app
}

/** A fresh Fastify with the plugin registered (awaited). */
export async function build (t: Teardown, options: ProtectedRoutesOptions, serverOptions: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = fresh(t, serverOptions)
  await app.register(protectedRoutes, options)
  return app
}

/** The whole JSON body Fastify's default error handler sends for one of our errors. */
export function errorBody (statusCode: number, code: string, message: string): Record<string, unknown> {
  return { statusCode, code, error: STATUS_CODES[statusCode], message }
}

/** A verify function that records every token it was given. */
export interface VerifySpy {
  (token: string): VerifyResult
  readonly calls: string[]
}

/** Verifies the tokens in `users`; refuses (null) every other token. */
export function spyVerify (users: Record<string, VerifyResult>): VerifySpy {
  const calls: string[] = []
  const verify = (token: string): VerifyResult => {
    calls.push(token)
    return Object.hasOwn(users, token) ? users[token] : null
  }
  return Object.assign(verify, { calls })
}

/** Log lines written by pino, parsed. */
export interface LogCapture {
  readonly stream: Writable
  readonly lines: Array<Record<string, unknown>>
  /** Every line as written, for "never appears anywhere" checks. */
  text: () => string
}

export function captureLogs (): LogCapture {
  const raw: string[] = []
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      const line = chunk.toString()
      raw.push(line)
      lines.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
  return { stream, lines, text: () => raw.join('') }
}

/** A fresh Fastify that logs everything, at trace level, into `logs`. */
export function freshWithLogs (t: Teardown, logs: LogCapture, options: FastifyServerOptions = {}): FastifyInstance {
  return fresh(t, { ...options, logger: { level: 'trace', stream: logs.stream } })
}

/** Listens on 127.0.0.1 and returns the port. */
export async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

/** A memory store whose lookups are recorded. */
export function spiedStore (): { store: MemoryTokenStore, lookups: string[] } {
  const store = new MemoryTokenStore()
  const lookups: string[] = []
  const lookup = store.lookup.bind(store)
  store.lookup = async (token) => {
    lookups.push(token)
    return await lookup(token)
  }
  return { store, lookups }
}
