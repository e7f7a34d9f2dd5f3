import { readClientConfig } from './config.js'
import { callTools } from './connect.js'

// `npm run example:mcp:client`: connects to the MCP server with the client id and secret that
// `npm run example:mcp` prints (MCP_CLIENT_ID, MCP_CLIENT_SECRET; MCP_SERVER_URL,
// MCP_EXPECTED_ISSUER and MCP_SCOPE for another server), lists its tools and calls them. Tests
// run it as a child process and never import it.
try {
  const config = readClientConfig(process.env)
  const { tools, whoami, add } = await callTools(config)
  process.stdout.write([
    `Connected to ${config.serverUrl.href}`,
    `Tools: ${tools.join(', ')}`,
    `whoami: ${JSON.stringify(whoami)}`,
    `add(2, 3): ${JSON.stringify(add)}`,
    ''
  ].join('\n'))
} catch (err) {
  process.stderr.write(`${String(err)}\n`)
  process.exitCode = 1
}
