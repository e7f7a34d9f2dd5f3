import { startAuthorizationServer } from './authorization-server.js'
import { mcpBanner, readMcpConfig } from './config.js'
import { buildMcpServer, listenFirst } from './server.js'

// `npm run example:mcp`: the MCP server on MCP_PORT (default 3001) of HOST (default 127.0.0.1)
// and the demo authorization server on AS_PORT (default 9000) of 127.0.0.1; or, with ISSUER, the
// MCP server alone, for that authorization server's tokens. Tests run it as a child process and
// never import it.
const config = readMcpConfig(process.env)
// The MCP server's socket first: the demo authorization server issues tokens for its URL.
const { server, resource } = await listenFirst({ host: config.host, port: config.port, publicOrigin: config.publicOrigin })
const demo = config.issuer === undefined ? await startAuthorizationServer({ port: config.asPort, resources: [resource] }) : undefined
const issuer = demo?.issuer ?? config.issuer as string
const app = await buildMcpServer({
  issuer,
  resource,
  server,
  algorithms: config.algorithms,
  // RFC 9068 access tokens: the demo server's say so in typ; Keycloak's say 'JWT'.
  typ: demo === undefined ? undefined : 'at+jwt',
  logger: true
})
await app.ready()

// Stop taking connections, finish the requests in flight, then let the process end by itself.
async function shutdown (signal: NodeJS.Signals): Promise<void> {
  app.log.info({ signal }, 'closing')
  await app.close()
  await demo?.close()
}
process.once('SIGINT', shutdown)
process.once('SIGTERM', shutdown)

process.stdout.write(mcpBanner(resource, issuer, demo?.clients))
