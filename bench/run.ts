// npm run bench: what each scheme costs against a bare route and against the peers.
// The deciding figure is the server's CPU time per request (process.cpuUsage around a fixed
// number of requests), in alternating rounds, as medians and as the ratio to the bare route
// of the same round. Server and load generator sit on different cores where taskset exists.
//   ROUNDS (7), AMOUNT (2000 requests per measurement), CONNECTIONS (10), MEMORY_TOTAL (1e6)
//   --write  also writes bench/RESULTS.md
import autocannon from 'autocannon'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import type { Scenario } from './server.js'

const rounds = Number(process.env.ROUNDS ?? 7)
const amount = Number(process.env.AMOUNT ?? 2000)
const connections = Number(process.env.CONNECTIONS ?? 10)
const memoryTotal = Number(process.env.MEMORY_TOTAL ?? 1_000_000)
const root = join(import.meta.dirname, '..')
const started = Date.now()

function hasTaskset (): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const pinned = hasTaskset() && cpus().length >= 2
if (pinned) execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' })
const nodeArgs = ['--expose-gc', '--import', 'tsx', join(root, 'bench', 'server.ts')]
const server: ChildProcess = pinned
  ? spawn('taskset', ['-c', '1', process.execPath, ...nodeArgs], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  : spawn(process.execPath, nodeArgs, { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })

function ask<T> (cmd: Record<string, unknown>, answer: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { cmd: string, message?: string }): void => {
      if (message.cmd === 'error') reject(new Error(message.message))
      if (message.cmd !== answer) return
      server.off('message', onMessage)
      resolve(message as T)
    }
    server.on('message', onMessage)
    if (cmd.cmd !== '') server.send(cmd)
  })
}

async function load (scenario: Scenario, requests: number): Promise<autocannon.Result> {
  const result = await autocannon({ url: scenario.url, headers: scenario.headers, amount: requests, connections, pipelining: 1 })
  const statuses = Object.keys(result.statusCodeStats ?? {})
  if (result.errors > 0 || statuses.length !== 1 || statuses[0] !== String(scenario.expectStatus)) {
    throw new Error(`${scenario.name}: expected only ${scenario.expectStatus}, got ${JSON.stringify(result.statusCodeStats)} and ${result.errors} errors`)
  }
  return result
}

interface Sample { cpu: number, rps: number, p99: number }

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const { scenarios, oursUrl } = await ask<{ scenarios: Scenario[], oursUrl: string }>({ cmd: '' }, 'ready')
const samples = new Map<string, Sample[]>(scenarios.map((s) => [s.name, []]))

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? scenarios : [...scenarios].reverse()
  for (const scenario of order) {
    await load(scenario, Math.max(250, Math.round(amount / 8)))
    await ask({ cmd: 'cpu-start' }, 'cpu-started')
    const result = await load(scenario, amount)
    const { micros } = await ask<{ micros: number }>({ cmd: 'cpu-stop' }, 'cpu')
    samples.get(scenario.name)!.push({ cpu: micros / amount, rps: result.requests.average, p99: result.latency.p99 })
  }
  process.stderr.write(`round ${round + 1}/${rounds} done (${Math.round((Date.now() - started) / 1000)} s)\n`)
}

const bare = samples.get(scenarios[0]!.name)!
const rows = scenarios.map((scenario) => {
  const mine = samples.get(scenario.name)!
  return {
    scenario,
    cpu: median(mine.map((s) => s.cpu)),
    ratio: median(mine.map((s, i) => s.cpu / bare[i]!.cpu)),
    rps: median(mine.map((s) => s.rps)),
    p99: median(mine.map((s) => s.p99))
  }
})
const byName = (name: string): typeof rows[number] => rows.find((row) => row.scenario.name === name)!

// Memory: a million distinct invalid credentials over HTTP (static bearer, X-Token, malformed
// JWT, JWT via JWKS), RSS and heap after a full collection before and after.
process.stderr.write(`memory check: ${memoryTotal} distinct invalid credentials…\n`)
type Usage = { usage: NodeJS.MemoryUsage }
const before = (await ask<Usage>({ cmd: 'memory' }, 'memory')).usage
// Distinct credentials without a CSPRNG call per request (the load generator is the bottleneck).
const base = randomBytes(12).toString('base64url')
let counter = 0
const fresh = (): string => `${base}${(counter++).toString(36)}`
const invalid: autocannon.Request[] = [
  { path: '/bearer-static', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${fresh()}` } }) },
  { path: '/x-token', setupRequest: (req) => ({ ...req, headers: { 'x-token': fresh() } }) },
  { path: '/jwt-hs', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer eyJhbGciOiJIUzI1NiJ9.${fresh()}.${fresh()}` } }) },
  { path: '/jwt-rs', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${fresh()}` } }) }
]
const flood = await autocannon({ url: oursUrl, requests: invalid, amount: memoryTotal, connections: 50, pipelining: 4 })
const wrong = Object.entries(flood.statusCodeStats ?? {}).filter(([code]) => code !== '401')
if (wrong.length > 0 || flood.errors > 0) throw new Error(`memory flood: expected only 401, got ${JSON.stringify(flood.statusCodeStats)} and ${flood.errors} errors`)
const after = (await ask<Usage>({ cmd: 'memory' }, 'memory')).usage
const memory = { total: memoryTotal, rssBefore: before.rss, rssAfter: after.rss, heapBefore: before.heapUsed, heapAfter: after.heapUsed }
await new Promise<void>((resolve) => { server.once('exit', () => resolve()); server.send({ cmd: 'exit' }) })

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1)
const rssGrowth = (memory.rssAfter - memory.rssBefore) / 1024 / 1024
const targets: Array<[string, boolean, string]> = [
  ['public route with the plugin registered <= 1.02', byName('public route, plugin registered').ratio <= 1.02, byName('public route, plugin registered').ratio.toFixed(3)],
  ['bearer static token <= 1.05', byName('bearer, static tokens').ratio <= 1.05, byName('bearer, static tokens').ratio.toFixed(3)],
  ['X-Token static token <= 1.05', byName('X-Token, static tokens').ratio <= 1.05, byName('X-Token, static tokens').ratio.toFixed(3)],
  ['cached JWT HS256 <= 1.10', byName('JWT HS256, cached').ratio <= 1.10, byName('JWT HS256, cached').ratio.toFixed(3)],
  ['cached JWT RS256 (JWKS) <= 1.10', byName('JWT RS256 (local JWKS), cached').ratio <= 1.10, byName('JWT RS256 (local JWKS), cached').ratio.toFixed(3)],
  ['uncached RS256 no worse than @fastify/jwt uncached', byName('JWT RS256 (PEM), uncached').cpu <= byName('@fastify/jwt RS256, uncached').cpu,
    `${byName('JWT RS256 (PEM), uncached').cpu.toFixed(1)} vs ${byName('@fastify/jwt RS256, uncached').cpu.toFixed(1)} µs`],
  ['static tokens no worse than @fastify/bearer-auth', byName('bearer, static tokens').cpu <= byName('@fastify/bearer-auth alone').cpu,
    `${byName('bearer, static tokens').cpu.toFixed(1)} vs ${byName('@fastify/bearer-auth alone').cpu.toFixed(1)} µs`],
  [`${memory.total} distinct invalid tokens: RSS within 64 MB of the start`, rssGrowth <= 64, `${rssGrowth.toFixed(1)} MB`]
]

const version = (name: string): string => (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
const table = [
  '| scenario | CPU µs/req (median) | ratio to bare (median) | req/s (median) | p99 ms (median) |',
  '|---|---:|---:|---:|---:|',
  ...rows.map((row) => `| ${row.scenario.group === 'peer' ? '_peer:_ ' : ''}${row.scenario.name} | ${row.cpu.toFixed(1)} | ${row.ratio.toFixed(3)} | ${Math.round(row.rps)} | ${row.p99} |`)
].join('\n')
const targetTable = [
  '| target | met | measured |',
  '|---|---|---|',
  ...targets.map(([name, met, measured]) => `| ${name} | ${met ? 'yes' : 'NO'} | ${measured} |`)
].join('\n')
const report = `${table}

${targetTable}

Memory: ${memory.total} distinct invalid credentials (static bearer, X-Token, malformed JWT, JWT via JWKS), RSS ${mb(memory.rssBefore)} -> ${mb(memory.rssAfter)} MB, heap used ${mb(memory.heapBefore)} -> ${mb(memory.heapAfter)} MB (after gc).

${rounds} alternating rounds of ${amount} requests per scenario, ${connections} connections, ${pinned ? 'server pinned to core 1 and load generator to core 0 with taskset' : 'no core pinning'}; total ${Math.round((Date.now() - started) / 1000)} s.`
console.log(report)

if (process.argv.includes('--write')) {
  const cpu = cpus()[0]
  writeFileSync(join(root, 'bench', 'RESULTS.md'), `# Benchmark results

Produced by \`npm run bench -- --write\` on ${new Date().toISOString().slice(0, 10)}.

- Machine: ${cpus().length} × ${cpu?.model ?? 'unknown CPU'}, ${mb(totalmem())} MB memory
- Node ${process.version}; fastify ${version('fastify')}, jose ${version('jose')}, @fastify/bearer-auth ${version('@fastify/bearer-auth')}, @fastify/jwt ${version('@fastify/jwt')}, @fastify/auth ${version('@fastify/auth')}, autocannon ${version('autocannon')}

The deciding figure is the server's CPU time per request; the ratio is taken against the
bare route of the same round, then the median over the rounds. req/s and p99 come from
autocannon on the other core and are noisier.

${report}
`)
}
