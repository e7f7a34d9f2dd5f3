import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { McpClientConfig } from './config.js'

/** What {@link callTools} found: the server's tools, and the structured results of `whoami` and `add`. */
export interface ToolResults {
  readonly tools: readonly string[]
  readonly whoami: unknown
  readonly add: unknown
}

/**
 * Connects to the MCP server as a machine client with the official SDK: its client credentials
 * provider answers the server's 401 itself (the protected resource metadata named in the
 * challenge, then the authorization server's metadata, then a token for the resource), so no
 * token is configured here. Then lists the tools and calls `whoami` and `add`.
 *
 * @example
 * const results = await callTools({ serverUrl: new URL('http://127.0.0.1:3001/mcp'), clientId, clientSecret, expectedIssuer: 'http://127.0.0.1:9000', scope: 'mcp:tools' })
 */
export async function callTools (config: McpClientConfig): Promise<ToolResults> {
  const authProvider = new ClientCredentialsProvider({
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    // The secret goes to this authorization server only, whichever one the MCP server names.
    expectedIssuer: config.expectedIssuer,
    scope: config.scope
  })
  const client = new Client({ name: 'fastify-protected-routes-mcp-client', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(config.serverUrl, { authProvider }))
  try {
    const { tools } = await client.listTools()
    const whoami = await client.callTool({ name: 'whoami' })
    const add = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })
    return { tools: tools.map((tool) => tool.name), whoami: whoami.structuredContent, add: add.structuredContent }
  } finally {
    await client.close()
  }
}
