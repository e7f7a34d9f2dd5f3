import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import type { Test } from 'tap'

/** What a path answers: a JSON value (200), or a function writing the whole answer. */
export type Route = unknown | ((request: IncomingMessage, response: ServerResponse) => void)

/** A real HTTP server on 127.0.0.1 serving metadata, JWKS or any fault shape, per path. */
export interface MetadataServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  /** Sets (or, with `undefined`, removes: 404) what a path answers. */
  route: (path: string, answer: Route | undefined) => void
  /** The paths requested so far, in order. */
  readonly requests: string[]
  /** Stops listening: connections are refused from now on. */
  stop: () => Promise<void>
}

export function json (status: number, body: unknown): (request: IncomingMessage, response: ServerResponse) => void {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' })
    response.end(JSON.stringify(body))
  }
}

export async function metadataServer (t: Test): Promise<MetadataServer> {
  const routes = new Map<string, Route>()
  const requests: string[] = []
  const server = createServer((request, response) => {
    requests.push(request.url!)
    const answer = routes.get(request.url!)
    if (answer === undefined) {
      response.writeHead(404, { 'content-type': 'application/json' })
      response.end('{"error":"not found"}')
    } else if (typeof answer === 'function') {
      (answer as (request: IncomingMessage, response: ServerResponse) => void)(request, response)
    } else {
      json(200, answer)(request, response)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(stop)
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    route: (path, answer) => { if (answer === undefined) routes.delete(path); else routes.set(path, answer) },
    requests,
    stop
  }
}

/** An answer that comes after `ms` (the timer is cleared when the response closes). */
export function slow (ms: number, body: unknown): (request: IncomingMessage, response: ServerResponse) => void {
  return (_request, response) => {
    const timer = setTimeout(() => json(200, body)(_request, response), ms)
    response.on('close', () => clearTimeout(timer))
  }
}

/** A pino logger whose lines are kept, parsed. */
export function capturingLogger (): { log: FastifyBaseLogger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      callback()
    }
  })
  return { log: Fastify({ logger: { stream, level: 'debug' } }).log, lines }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}
