import t, { type Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

// The packed tarball, installed into a fresh project, runs the README's quick start
// unmodified as ESM, as CommonJS (require of an ES module, Node >= 20.19) and as strict
// TypeScript. The project sits inside this repo so that fastify and the package's own
// dependencies resolve from its node_modules without a registry.
const run = promisify(execFile)
const root = join(import.meta.dirname, '..')

async function readmeBlock (marker: string): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const match = new RegExp(`<!-- ${marker} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(readme)
  if (match === null) throw new Error(`README.md has no code block after <!-- ${marker} -->`)
  return match[1] as string
}

interface Packed { filename: string, files: Array<{ path: string }> }

async function packInto (dir: string): Promise<Packed> {
  if (!existsSync(join(root, 'dist', 'index.js'))) await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root })
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root })
  return (JSON.parse(stdout) as Packed[])[0] as Packed
}

/** Starts `node file` with PORT=0, waits for Fastify's "Server listening" line, returns the URL and a stop function. */
async function start (cwd: string, file: string): Promise<{ url: string, stop: () => Promise<number | null> }> {
  // No coverage for these children: they run the packed dist, not the sources.
  const env = { ...process.env, PORT: '0', _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  const child = spawn(process.execPath, [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line from ${file}: ${output}`)), 20_000)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const found = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (found !== null) {
        clearTimeout(timer)
        resolve(found[1] as string)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${file} exited with ${code}: ${output}`))
    })
  })
  return {
    url,
    stop: async () => {
      child.removeAllListeners('exit')
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      child.kill('SIGTERM')
      return await exited
    }
  }
}

async function exercise (t: Test, url: string): Promise<void> {
  const pub = await fetch(`${url}/public`)
  t.equal(pub.status, 200)
  t.same(await pub.json(), { message: 'Welcome to the public route!' })

  const anonymous = await fetch(`${url}/users/me`)
  t.equal(anonymous.status, 401)
  t.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="api", ApiKey realm="api", in="header", name="X-Token"')

  const me = await fetch(`${url}/users/me`, { headers: { authorization: 'Bearer alice-token' } })
  t.equal(me.status, 200)
  t.same(await me.json(), { username: 'alice', scopes: ['items:read'] })

  const items = await fetch(`${url}/items`, { headers: { 'x-token': 'mysecrettoken' } })
  t.equal(items.status, 403)
  t.match(items.headers.get('www-authenticate'), /^ApiKey realm="api", in="header", name="X-Token", error="insufficient_scope"/)

  const guarded = await fetch(`${url}/protected`, { headers: { 'x-token': 'mysecrettoken' } })
  t.equal(guarded.status, 200)
}

t.test('the packed tarball', async (t) => {
  await mkdir(join(root, '.tap'), { recursive: true })
  const project = await mkdtemp(join(root, '.tap', 'package-test-'))
  const packed = await packInto(project)

  t.test('holds dist, README, LICENSE, CHANGELOG and package.json, and nothing else', async (t) => {
    const outside = packed.files.map((file) => file.path).filter((path) => !path.startsWith('dist/'))
    t.same(outside.sort(), ['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json'])
    t.ok(packed.files.some((file) => file.path === 'dist/index.js'))
    t.ok(packed.files.some((file) => file.path === 'dist/index.d.ts'))
  })

  // A package.json of its own: without it, Node would resolve 'fastify-protected-routes' as a
  // self-reference to this repository's package instead of the extracted tarball.
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'quick-start-app', private: true }))
  await mkdir(join(project, 'node_modules'))
  await run('tar', ['-xzf', join(project, packed.filename), '-C', join(project, 'node_modules')])
  await rename(join(project, 'node_modules', 'package'), join(project, 'node_modules', 'fastify-protected-routes'))

  t.test('resolves the package name to the extracted tarball, not to this repository', async (t) => {
    const resolve = "console.log(import.meta.resolve('fastify-protected-routes'))"
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', resolve], { cwd: project, env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' } })
    t.equal(stdout.trim(), `file://${join(project, 'node_modules', 'fastify-protected-routes', 'dist', 'index.js')}`)
  })

  t.test('runs the README quick start unmodified as ESM', async (t) => {
    await writeFile(join(project, 'quick-start.mjs'), await readmeBlock('quick-start'))
    const server = await start(project, 'quick-start.mjs')
    t.teardown(server.stop)
    await exercise(t, server.url)
  })

  t.test('runs the README CommonJS example with require()', async (t) => {
    await writeFile(join(project, 'quick-start.cjs'), await readmeBlock('commonjs'))
    const server = await start(project, 'quick-start.cjs')
    t.teardown(server.stop)
    await exercise(t, server.url)
  })

  t.test('type-checks the README quick start as strict TypeScript', async (t) => {
    const dir = join(project, 'ts')
    await mkdir(dir)
    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
    await writeFile(join(dir, 'quick-start.ts'), await readmeBlock('quick-start'))
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], rootDir: '.' },
      files: ['quick-start.ts']
    }))
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--traceResolution'], { cwd: dir }).then(({ stdout }) => stdout, (err: { stdout: string }) => err.stdout)
    t.match(result, /'fastify-protected-routes' was successfully resolved to '[^']*node_modules\/fastify-protected-routes\/dist\/index\.d\.ts'/)
    t.notMatch(result, /error TS/)
  })
})
