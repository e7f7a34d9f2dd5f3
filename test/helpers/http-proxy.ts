// A small reverse proxy on 127.0.0.1, as a TLS-terminating load balancer in front of the app
// would be: it forwards each request to the upstream port with X-Forwarded-Proto and
// X-Forwarded-Host, and Host rewritten to the upstream's, and passes the answer back line for line.
import { once } from 'node:events'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** The part of a tap test these helpers use. */
interface Teardown {
  teardown: (fn: () => unknown) => void
}

export interface ProxyOptions {
  /** X-Forwarded-Proto it adds. @default 'https' */
  readonly proto?: string
  /** X-Forwarded-Host it adds. @default 'api.example' */
  readonly host?: string
}

export interface Proxy {
  readonly port: number
  /** Every request's headers as the upstream received them from the proxy. */
  readonly forwarded: Array<Readonly<Record<string, string | string[] | undefined>>>
}

/** Starts the proxy in front of `upstream` (a port of 127.0.0.1); closed when the test ends. */
export async function startProxy (t: Teardown, upstream: number, options: ProxyOptions = {}): Promise<Proxy> {
  const forwarded: Proxy['forwarded'] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers = {
      ...req.headers,
      host: `127.0.0.1:${upstream}`,
      'x-forwarded-proto': options.proto ?? 'https',
      'x-forwarded-host': options.host ?? 'api.example',
      'x-forwarded-for': req.socket.remoteAddress ?? '127.0.0.1'
    }
    forwarded.push(headers)
    const out = httpRequest({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers }, (answer) => {
      // The raw list keeps repeated lines (two WWW-Authenticate) as the upstream sent them.
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders)
      answer.pipe(res)
    })
    out.on('error', () => { res.writeHead(502).end() })
    req.pipe(out)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { port: (server.address() as AddressInfo).port, forwarded }
}
