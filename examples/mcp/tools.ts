import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'

/** The name and version the MCP server reports in its initialize result. */
export const SERVER_INFO = Object.freeze({ name: 'fastify-protected-routes-mcp-example', version: '1.0.0' })

/** What `whoami` answers: the caller as fastify-protected-routes verified it (its `mcpAuthInfo`). */
export interface Caller {
  readonly clientId: string
  readonly scopes: readonly string[]
  /** The resource the token is for (RFC 8707), when its audience names this server. */
  readonly resource?: string
  /** When the token expires, in seconds since the epoch. */
  readonly expiresAt?: number
}

const callerShape = {
  clientId: z.string(),
  scopes: z.array(z.string()),
  resource: z.string().optional(),
  expiresAt: z.number().optional()
}

/** The caller of {@link AuthInfo}: what `whoami` answers, with the token itself left out. */
export function describeCaller (auth: AuthInfo): Caller {
  return {
    clientId: auth.clientId,
    scopes: auth.scopes,
    ...(auth.resource === undefined ? {} : { resource: auth.resource.href }),
    ...(auth.expiresAt === undefined ? {} : { expiresAt: auth.expiresAt })
  }
}

function text (value: unknown): CallToolResult['content'] {
  return [{ type: 'text', text: JSON.stringify(value) }]
}

/**
 * A new MCP server with the example's tools: `whoami` (who the access token says the caller is,
 * from `extra.authInfo`) and `add`. One per request: the Streamable HTTP transport is stateless.
 */
export function createMcpServer (): McpServer {
  const server = new McpServer(SERVER_INFO)

  server.registerTool('whoami', {
    title: 'Who am I?',
    description: 'The OAuth client, scopes and resource of the access token this request came with',
    outputSchema: callerShape
  }, async (extra) => {
    // request.raw.auth, set by the plugin's mcpAuthInfo and handed on by the transport.
    const auth = extra.authInfo
    if (auth === undefined) return { isError: true, content: text('this server is not behind fastify-protected-routes with mcpAuthInfo: true') }
    const caller = describeCaller(auth)
    return { content: text(caller), structuredContent: { ...caller } }
  })

  server.registerTool('add', {
    title: 'Add',
    description: 'Adds two numbers',
    inputSchema: { a: z.number(), b: z.number() },
    outputSchema: { sum: z.number() }
  }, async ({ a, b }) => ({ content: text({ sum: a + b }), structuredContent: { sum: a + b } }))

  return server
}
