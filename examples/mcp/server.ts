import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import protectedRoutes from '../../lib/index.js'
import { TOOLS_SCOPE } from './authorization-server.js'
import { checkPublicOrigin } from '../dpop-proof.js'
import { httpOrigin } from './config.js'
import { createMcpServer } from './tools.js'

/** Where the MCP endpoint is served (the Streamable HTTP transport's one URL). */
export const MCP_PATH = '/mcp'
/** The realm of every challenge (RFC 9110 §11.5). */
export const REALM = 'mcp'
/** `resource_name` of the protected resource metadata (RFC 9728 §2). */
export const RESOURCE_NAME = 'fastify-protected-routes MCP example'
/** The algorithms accepted unless others are configured: the demo server's ES256 and Keycloak's default RS256. */
export const DEFAULT_ALGORITHMS: readonly string[] = Object.freeze(['ES256', 'RS256'])

/** Options of {@link buildMcpServer}. */
export interface McpServerOptions {
  /** The authorization server's issuer URL, exactly as its metadata spells it; its keys are found through discovery. */
  readonly issuer: string
  /**
   * This MCP server's resource identifier (RFC 8707, RFC 9728): the URL clients connect to, such as
   * https://mcp.example/mcp. Access tokens must name it in `aud`.
   */
  readonly resource: string
  /** The access tokens' signing algorithms. @default DEFAULT_ALGORITHMS */
  readonly algorithms?: readonly string[] | undefined
  /** Require this JWT `typ` header, such as 'at+jwt' (RFC 9068 §2.1). @default none: Keycloak's tokens say 'JWT' */
  readonly typ?: string | undefined
  /** The listening HTTP server to answer on (through Fastify's serverFactory; see {@link listenFirst}), closed with the app. */
  readonly server: Server
  /** @default false */
  readonly logger?: boolean | undefined
}

/** JSON-RPC's answer to GET and DELETE: this stateless server has no stream to open and no session to end. */
function methodNotAllowed (reply: FastifyReply): FastifyReply {
  return reply.code(405).header('allow', 'POST').send({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null })
}

/**
 * Builds the MCP server on a socket that already listens: the official SDK's McpServer behind its Streamable
 * HTTP transport on POST /mcp, an OAuth protected resource of `issuer`. fastify-protected-routes
 * verifies the bearer token (a JWT for `resource` with the mcp:tools scope), serves the protected
 * resource metadata that MCP clients discover the authorization server from, and hands the
 * transport the caller as the SDK's AuthInfo.
 *
 * @example
 * const { server, resource } = await listenFirst({ port: 3001 })
 * const app = await buildMcpServer({ issuer: 'https://kc.example/realms/mcp', resource, server })
 * await app.ready()
 */
export async function buildMcpServer (options: McpServerOptions): Promise<FastifyInstance> {
  const { server } = options
  // Fastify answers on the socket given; it closes only a server it listened on itself.
  const app = Fastify({ logger: options.logger ?? false, serverFactory: (handler) => server.on('request', handler) })
  app.addHook('onClose', async () => { await closeServer(server) })

  await app.register(protectedRoutes, {
    realm: REALM,
    // Fail closed: every route needs a token (the plugin's own metadata routes are public).
    protectByDefault: true,
    schemes: {
      oauth: {
        type: 'bearer',
        // The audience is the resource, by default once protectedResource is set.
        jwt: { issuer: options.issuer, discovery: true, algorithms: options.algorithms ?? DEFAULT_ALGORITHMS, ...(options.typ === undefined ? {} : { typ: options.typ }) }
      }
    },
    // RFC 9728: GET /.well-known/oauth-protected-resource/mcp, and resource_metadata in every challenge.
    protectedResource: { resource: options.resource, resourceName: RESOURCE_NAME },
    // request.raw.auth: the SDK's AuthInfo, which the transport hands the tools as extra.authInfo.
    mcpAuthInfo: true
  })

  const auth = { scopes: [TOOLS_SCOPE] }
  app.post(MCP_PATH, { config: { auth } }, async (request, reply) => {
    // Stateless: a server and a transport for this request alone, closed with it.
    const mcp = createMcpServer()
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true })
    await mcp.connect(transport)
    // The transport writes the response itself.
    reply.hijack()
    await transport.handleRequest(request.raw, reply.raw, request.body)
    // A JSON response (enableJsonResponse) is written by now: nothing outlives the request.
    await mcp.close()
  })
  app.route({ method: ['GET', 'DELETE'], url: MCP_PATH, config: { auth }, handler: async (_request, reply) => methodNotAllowed(reply) })
  return app
}

/** Options of {@link listenFirst}. */
export interface ListenOptions {
  /** @default 127.0.0.1 */
  readonly host?: string | undefined
  /** @default 0 (a free port) */
  readonly port?: number | undefined
  /** The origin clients reach the server at (https://mcp.example behind a TLS proxy; no path, no trailing slash). @default http://<host>:<port> */
  readonly publicOrigin?: string | undefined
}

/** A listening socket for {@link buildMcpServer}'s `server`, and the resource identifier it serves. */
export interface McpSocket {
  readonly server: Server
  /** `<origin>/mcp`: the resource identifier, which is also the URL MCP clients connect to. */
  readonly resource: string
}

/**
 * Listens before the MCP server is built: the port, and so the resource identifier the plugin
 * and the authorization server are configured with, is known first, without a race.
 *
 * @example
 * const { server, resource } = await listenFirst({ port: 3001 })
 * const app = await buildMcpServer({ issuer, resource, server })
 * await app.ready()
 */
export async function listenFirst (options: ListenOptions = {}): Promise<McpSocket> {
  const { host = '127.0.0.1', port = 0 } = options
  const publicOrigin = options.publicOrigin === undefined ? undefined : checkPublicOrigin(options.publicOrigin)
  const server = createServer()
  server.listen(port, host)
  await once(server, 'listening')
  const origin = publicOrigin ?? httpOrigin(host, (server.address() as AddressInfo).port)
  return { server, resource: `${origin}${MCP_PATH}` }
}

/** Stops listening; idle keep-alive connections are closed at once, requests in flight are finished first. */
export async function closeServer (server: Server): Promise<void> {
  const closed = once(server, 'close')
  server.close()
  await closed
}
