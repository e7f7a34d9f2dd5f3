import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { SharedKeySet } from './key-set.js'

/**
 * Serves the shared key set's JWKS to this instance's own JWT verifier, on 127.0.0.1 at a port
 * of its own (the plugin's `jwksUrl` allows http: on a loopback host only), and returns its URL.
 * The plugin verifies with a fixed `publicKey` or through a JWKS URL, and only the URL lets a
 * key that another instance added be accepted without a restart: an unknown kid makes the
 * verifier fetch again (once per cooldown), and the set is read from Redis at each fetch.
 * Public keys only; closed with the app.
 */
export async function serveJwks (app: FastifyInstance, keys: SharedKeySet): Promise<URL> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/jwks.json') {
      response.writeHead(404).end()
      return
    }
    keys.jwks().then((jwks) => {
      response.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'no-store' }).end(JSON.stringify(jwks))
    }, (err: unknown) => {
      // The verifier keeps the keys it fetched before, or answers 503 if it has none.
      app.log.warn({ err }, 'the signing keys could not be read from Redis')
      response.writeHead(503).end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  app.addHook('onClose', async () => {
    const closed = once(server, 'close')
    server.close()
    // The verifier's fetch keeps its connection alive: it must not hold the app's close.
    server.closeAllConnections()
    await closed
  })
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`)
}
