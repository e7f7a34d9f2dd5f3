// `npm run example:mcp` and `npm run example:mcp:client` as child processes, under the loader the
// tests run with (process.execArgv), so that tap's coverage follows them: examples/mcp/start.ts
// and examples/mcp/client.ts are covered here and only here.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { startAuthorizationServer } from '../../examples/mcp/authorization-server.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
/** What the npm scripts run; a child under it reports every file as covered, whatever ran, so those children run with coverage off. */
const tsx = createRequire(import.meta.url).resolve('tsx/cli')
const OWN_VARIABLES = ['HOST', 'MCP_PORT', 'AS_PORT', 'ISSUER', 'ALGORITHMS', 'PUBLIC_ORIGIN', 'MCP_SERVER_URL', 'MCP_CLIENT_ID', 'MCP_CLIENT_SECRET', 'MCP_EXPECTED_ISSUER', 'MCP_SCOPE']

interface Child {
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>
  readonly output: { stdout: string, stderr: string }
  kill: (signal: NodeJS.Signals) => void
}

function run (t: Test, loader: readonly string[], script: string, env: NodeJS.ProcessEnv): Child {
  const childEnv: NodeJS.ProcessEnv = { ...process.env }
  for (const name of OWN_VARIABLES) delete childEnv[name]
  const child = spawn(process.execPath, [...loader, script], { cwd: root, env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  const output = { stdout: '', stderr: '' }
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output.stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output.stderr += chunk })
  return { exited, output, kill: (signal) => child.kill(signal) }
}

/** Waits until the child's stdout matches `pattern`: the banner, printed once both servers listen. */
async function waitFor (child: Child, pattern: RegExp): Promise<RegExpExecArray> {
  const deadline = Date.now() + 30_000
  let match: RegExpExecArray | null
  while ((match = pattern.exec(child.output.stdout)) === null) {
    if (Date.now() > deadline) throw new Error(`no banner within 30 s; stdout: ${child.output.stdout}; stderr: ${child.output.stderr}`)
    const exited = await Promise.race([child.exited, sleep(20)])
    if (exited !== undefined) throw new Error(`exited with ${String(exited[0])}; stderr: ${child.output.stderr}`)
  }
  return match
}

const LOCAL_BANNER = new RegExp([
  '^MCP server listening on (?<resource>http://127\\.0\\.0\\.1:\\d+/mcp)',
  'Protected resource metadata: http://127\\.0\\.0\\.1:\\d+/\\.well-known/oauth-protected-resource/mcp',
  'Demo authorization server: (?<issuer>http://127\\.0\\.0\\.1:\\d+)',
  'Clients \\(client credentials grant, client_secret_basic\\):',
  '  mcp-client / (?<secret>[\\w-]+)  scope: mcp:tools',
  '  mcp-reader / (?<readerSecret>[\\w-]+)  scope: mcp:resources',
  'Try it:',
  '  MCP_SERVER_URL=\\S+ MCP_EXPECTED_ISSUER=\\S+ MCP_CLIENT_ID=mcp-client MCP_CLIENT_SECRET=\\S+ npm run example:mcp:client\\n'
].join('\\n'), 'm')

/** The named groups of {@link LOCAL_BANNER}. */
interface Banner { resource: string, issuer: string, secret: string, readerSecret: string }

t.test('npm run example:mcp starts both servers; the client script it prints calls the tools; SIGTERM closes both', async (t) => {
  const started = run(t, process.execArgv, 'examples/mcp/start.ts', { MCP_PORT: '0', AS_PORT: '0' })
  const { resource, issuer, secret, readerSecret } = (await waitFor(started, LOCAL_BANNER)).groups as unknown as Banner

  // The command the banner prints.
  const client = run(t, process.execArgv, 'examples/mcp/client.ts', { MCP_SERVER_URL: resource, MCP_EXPECTED_ISSUER: issuer, MCP_CLIENT_ID: 'mcp-client', MCP_CLIENT_SECRET: secret })
  const [code] = await client.exited
  t.equal(code, 0)
  t.equal(client.output.stderr, '')
  const lines = client.output.stdout.split('\n')
  t.equal(lines[0], `Connected to ${resource}`)
  t.equal(lines[1], 'Tools: whoami, add')
  const whoami = JSON.parse((lines[2] as string).replace(/^whoami: /, '')) as Record<string, unknown>
  t.same(whoami, { clientId: 'mcp-client', scopes: ['mcp:tools'], resource, expiresAt: whoami.expiresAt })
  t.same(lines.slice(3), ['add(2, 3): {"sum":5}', ''])

  const reader = run(t, process.execArgv, 'examples/mcp/client.ts', { MCP_SERVER_URL: resource, MCP_EXPECTED_ISSUER: issuer, MCP_CLIENT_ID: 'mcp-reader', MCP_CLIENT_SECRET: readerSecret, MCP_SCOPE: 'mcp:resources' })
  t.same(await reader.exited, [1, null], 'a client without mcp:tools exits 1')
  t.equal(reader.output.stdout, '')
  t.equal(reader.output.stderr, 'Error: Streamable HTTP error: Server returned 403 after trying upscoping\n')

  started.kill('SIGTERM')
  t.same(await started.exited, [0, null], 'exits by itself once both servers are closed')
  t.equal(started.output.stderr, '')
  t.match(started.output.stdout, /"signal":"SIGTERM","msg":"closing"/)
  const log = started.output.stdout.split('\n').filter((line) => line.startsWith('{')).join('\n')
  t.ok(log.length > 0, 'the MCP server logs JSON lines on stdout')
  for (const value of [secret, readerSecret, 'authorization']) t.notOk(log.toLowerCase().includes(value.toLowerCase()), 'no secret and no Authorization header in the log')
})

t.test('with ISSUER, only the MCP server starts, for that authorization server\'s tokens', async (t) => {
  // Stands in for Keycloak: any authorization server with discovery; nothing is fetched from it here.
  const external = await startAuthorizationServer({ resources: [] })
  t.teardown(() => external.close())
  const started = run(t, process.execArgv, 'examples/mcp/start.ts', { MCP_PORT: '0', ISSUER: external.issuer, ALGORITHMS: 'ES256' })
  const match = await waitFor(started, /^MCP server listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)\nProtected resource metadata: (\S+)\nAuthorization server: (\S+) \(its access tokens must name \1 in aud, and mcp:tools in scope\)\n/m)
  const [, resource, metadataUrl, issuer] = match as unknown as [string, string, string, string]
  t.equal(issuer, external.issuer)
  t.notMatch(started.output.stdout, 'Demo authorization server')

  const metadata = await fetch(metadataUrl)
  t.equal(metadata.status, 200)
  t.match(await metadata.json(), { resource, authorization_servers: [external.issuer], scopes_supported: ['mcp:tools'] })
  const anonymous = await fetch(resource, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers.get('www-authenticate'), `Bearer realm="mcp", resource_metadata="${metadataUrl}"`)

  started.kill('SIGINT')
  t.same(await started.exited, [0, null])
  t.equal(started.output.stderr, '')
})

// Under tsx with coverage off (see the constant): it runs no line of the example that the first test does not.
t.test('an ISSUER that is no issuer URL stops the start with the plugin\'s message, exit code 1', async (t) => {
  const started = run(t, [tsx], 'examples/mcp/start.ts', { MCP_PORT: '0', ISSUER: 'kc.example/realms/mcp', _TAPJS_PROCESSINFO_COVERAGE_: '0' })
  const [code] = await started.exited
  t.equal(code, 1)
  t.match(started.output.stderr, "Invalid fastify-protected-routes option: schemes.oauth.jwt.issuer must be the issuer's URL (https:, or http: on a loopback host; no query or fragment) to use discovery")
  t.equal(started.output.stdout, '')
})

// What the npm script runs (the tsx binary), with coverage off for this child: a child under tsx
// reports every file as covered, whatever ran.
t.test('`npm run example:mcp` (tsx examples/mcp/start.ts) boots, serves the metadata, and exits 0 on SIGINT', async (t) => {
  const started = run(t, [tsx], 'examples/mcp/start.ts', { MCP_PORT: '0', AS_PORT: '0', _TAPJS_PROCESSINFO_COVERAGE_: '0' })
  const { resource, issuer } = (await waitFor(started, LOCAL_BANNER)).groups as unknown as Banner
  const res = await fetch(new URL('/.well-known/oauth-protected-resource/mcp', resource))
  t.equal(res.status, 200)
  t.match(await res.json(), { resource, authorization_servers: [issuer] })
  started.kill('SIGINT')
  t.same(await started.exited, [0, null])
  t.equal(started.output.stderr, '')
})
