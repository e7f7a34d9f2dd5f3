import t, { type Test } from 'tap'
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

interface Started {
  readonly base: string
  readonly child: ChildProcessByStdio<null, Readable, Readable>
  /** Resolves with [code, signal] when the process has exited. */
  readonly exited: Promise<unknown[]>
  output (): { stdout: string, stderr: string }
}

/** Starts examples/start.ts on a free port and resolves once it has printed its URL. */
async function start (t: Test, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', ...extraEnv }
  delete env.SECRET_TOKEN
  const child = spawn(process.execPath, [...args, 'examples/start.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const exited = once(child, 'exit')

  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr += chunk })
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 30 s; stdout: ${stdout}; stderr: ${stderr}`)), 30_000)
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk
      const match = /^Example server listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(stdout)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1] as string)
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`exited with ${code} before listening; stderr: ${stderr}`))
    })
  })
  return { base, child, exited, output: () => ({ stdout, stderr }) }
}

// Under the loader the tests run with (process.execArgv), so that tap's coverage follows the
// child: examples/start.ts is covered here and only here. (A child under tsx reports every file
// as 100% covered, whatever ran, so it would hide gaps instead of showing them.)
t.test('the start script serves the README walkthrough, then closes cleanly on SIGTERM', async (t) => {
  const { base, child, exited, output } = await start(t, process.execArgv)
  t.match(output().stdout, 'alice / wonderland  scopes: me:read items:read items:write\n')
  t.match(output().stdout, 'X-Token for GET /protected: mysecrettoken\n')

  // The README walkthrough, request for request.
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const aliceToken = await fetch(`${base}/token`, { method: 'POST', headers: form, body: 'grant_type=password&username=alice&password=wonderland' })
  t.equal(aliceToken.status, 200)
  t.equal(aliceToken.headers.get('cache-control'), 'no-store')
  t.equal(aliceToken.headers.get('pragma'), 'no-cache')
  const { access_token: alice, ...rest } = await aliceToken.json() as Record<string, unknown>
  t.type(alice, 'string')
  t.same(rest, { token_type: 'Bearer', expires_in: 900, scope: 'me:read items:read items:write' })

  const me = await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${alice as string}` } })
  t.equal(me.status, 200)
  t.same(await me.json(), { username: 'alice', full_name: 'Alice Liddell', email: 'alice@example.com', scopes: ['me:read', 'items:read', 'items:write'] })

  const anonymous = await fetch(`${base}/users/me`)
  t.equal(anonymous.status, 401)
  // The Bearer and DPoP challenge lines, as fetch joins them.
  t.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="example", DPoP algs="ES256 PS256 EdDSA RS256"')
  t.same(await anonymous.json(), { statusCode: 401, code: 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', error: 'Unauthorized', message: 'Authentication is required' })

  const bobToken = await fetch(`${base}/token`, { method: 'POST', headers: form, body: 'grant_type=password&username=bob&password=builder' })
  t.equal(bobToken.status, 200)
  const { access_token: bob } = await bobToken.json() as Record<string, unknown>
  const forbidden = await fetch(`${base}/items`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bob as string}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Hard hat' })
  })
  t.equal(forbidden.status, 403)
  t.equal(forbidden.headers.get('www-authenticate'), 'Bearer realm="example", error="insufficient_scope", error_description="The access token does not grant the required scope", scope="items:write"')
  t.same(await forbidden.json(), { statusCode: 403, code: 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', error: 'Forbidden', message: 'The access token does not grant the required scope' })

  const created = await fetch(`${base}/items`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice as string}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Pocket watch' })
  })
  t.equal(created.status, 201)
  t.same(await created.json(), { id: 3, name: 'Pocket watch', owner: 'alice' })

  const protectedRoute = await fetch(`${base}/protected`, { headers: { 'x-token': 'mysecrettoken' } })
  t.equal(protectedRoute.status, 200)
  t.same(await protectedRoute.json(), { message: 'You have access to the protected route!' })

  child.kill('SIGTERM')
  const [code, signal] = await exited
  t.equal(code, 0, 'exits by itself once closed')
  t.equal(signal, null)
  const { stdout, stderr } = output()
  t.equal(stderr, '')
  t.match(stdout, /"signal":"SIGTERM","msg":"closing"/)
  t.match(stdout, /"msg":"access token issued"/, 'the app logs JSON lines on stdout')
  // The banner prints the demo passwords on purpose; the log lines must not.
  const log = stdout.split('\n').filter((line) => line.startsWith('{')).join('\n')
  t.ok(log.length > 0)
  for (const secret of ['wonderland', 'builder', 'mysecrettoken', alice as string, bob as string]) {
    t.notOk(log.includes(secret), 'no password, X-Token or access token in the log')
  }
})

// What `npm start` runs (the tsx binary), with coverage off for this child (see above).
t.test('`npm start` (tsx examples/start.ts) boots, answers, and exits 0 on SIGINT', async (t) => {
  const tsx = createRequire(import.meta.url).resolve('tsx/cli')
  const { base, child, exited, output } = await start(t, [tsx], { _TAPJS_PROCESSINFO_COVERAGE_: '0' })
  const res = await fetch(`${base}/public`)
  t.equal(res.status, 200)
  t.same(await res.json(), { message: 'Welcome to the public route!' })
  child.kill('SIGINT')
  const [code] = await exited
  t.equal(code, 0)
  t.match(output().stdout, /"signal":"SIGINT","msg":"closing"/)
  t.equal(output().stderr, '')
})
