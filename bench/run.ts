// npm run bench: what each scheme costs against a bare route and against the peers.
//
// The deciding figure is the server's CPU time per request (process.cpuUsage, read by the
// server itself around a fixed number of requests). On a small shared machine the speed of
// the same code drifts by 10-30% from one second to the next, so scenarios measured one
// after the other cannot be compared to a few percent. Instead each scenario is measured
// interleaved with the bare route: bursts of BURST requests to the bare route and to the
// scenario alternate on one pipelined connection, so every scenario burst has a bare burst
// beside it, milliseconds apart, under the same machine conditions. The ratio is taken per
// adjacent pair and the median over all pairs is reported. Rounds alternate the scenario
// order. req/s and p99 come from a separate run per scenario at CONNECTIONS connections
// without pipelining. Server and load generator sit on different cores where taskset exists.
//   ROUNDS (7), PAIRS (pairs of bursts per scenario and round, 16), BURST (400),
//   CONNECTIONS (10), MEMORY_TOTAL (1e6), ONLY (a part of scenario names: run only those;
//   the targets and the memory check need the full run)
//   --write  also writes bench/RESULTS.md
import autocannon from 'autocannon'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import type { IntrospectionCount, Scenario } from './server.js'

const rounds = Number(process.env.ROUNDS ?? 7)
const pairs = Number(process.env.PAIRS ?? 16)
const burst = Number(process.env.BURST ?? 400)
const connections = Number(process.env.CONNECTIONS ?? 10)
const memoryTotal = Number(process.env.MEMORY_TOTAL ?? 1_000_000)
const root = join(import.meta.dirname, '..')
const started = Date.now()
const elapsed = (): string => `${Math.round((Date.now() - started) / 1000)} s`

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
server.once('exit', (code) => {
  if (code !== 0) {
    process.stderr.write(`the bench server exited with ${code}\n`)
    process.exit(1)
  }
})

/** Sends `cmd` (unless it is empty) and resolves with the server's next `answer` message. */
function ask<T> (cmd: Record<string, unknown>, answer: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (message: { cmd: string }): void => {
      if (message.cmd !== answer) return
      server.off('message', onMessage)
      resolve(message as T)
    }
    server.on('message', onMessage)
    if (cmd.cmd !== '') server.send(cmd)
  })
}

function check (what: string, result: autocannon.Result, expected: Record<string, number>): void {
  const got = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, count]))
  const wrong = Object.keys(got).some((code) => expected[code] === undefined)
  if (result.errors > 0 || result.timeouts > 0 || wrong) {
    throw new Error(`${what}: expected only ${Object.keys(expected).join(' and ')}, got ${JSON.stringify(got)} and ${result.errors} errors`)
  }
}

function quantile (values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  const at = q * (sorted.length - 1)
  const low = Math.floor(at)
  return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (at - low)
}
const median = (values: readonly number[]): number => quantile(values, 0.5)

const { scenarios, url, introspectionCount } = await ask<{ scenarios: Scenario[], url: string, introspectionCount: IntrospectionCount }>({ cmd: '' }, 'ready')
const only = process.env.ONLY
const floor = scenarios[0]!
// ONLY=text keeps the scenarios whose name contains it (with the floor), for quick checks.
if (only !== undefined) scenarios.splice(1, Infinity, ...scenarios.slice(1).filter((s) => s.name.includes(only)))
const measured = scenarios.slice(1)

// 1. CPU per request, interleaved with the bare route (see the top of this file).
interface Pair { floor: number, scenario: number }
const collected = new Map<string, Pair[]>(measured.map((s) => [s.name, []]))
const floorRequest = (scenario: Scenario): autocannon.Request => ({ method: 'GET', path: floor.path, headers: scenario.headers })
const scenarioRequest = (scenario: Scenario): autocannon.Request => ({ method: 'GET', path: scenario.path, headers: scenario.headers })

async function interleaved (scenario: Scenario): Promise<Pair[]> {
  // Both routes get the same header bytes: only the route differs.
  const cycle = [...Array<autocannon.Request>(burst).fill(floorRequest(scenario)), ...Array<autocannon.Request>(burst).fill(scenarioRequest(scenario))]
  // The first pair warms up; the server reports one CPU reading per burst after it.
  await ask({ cmd: 'bursts', size: burst, windows: 2 * (pairs + 1) }, 'armed')
  const done = ask<{ windows: Array<[string, number]> }>({ cmd: '' }, 'bursts')
  const result = await autocannon({ url, requests: cycle, connections: 1, pipelining: 50, amount: 2 * burst * (pairs + 2), sampleInt: 50 })
  check(scenario.name, result, { 200: 1, [scenario.expectStatus]: 1 })
  const { windows } = await done
  const found: Pair[] = []
  for (let i = 2; i < windows.length; i += 2) {
    const [floorPath, floorCpu] = windows[i]!
    const [scenarioPath, scenarioCpu] = windows[i + 1]!
    // One connection answers in order, so each burst ends on a request of its own route.
    if (floorPath !== floor.path || scenarioPath !== scenario.path) throw new Error(`${scenario.name}: bursts out of order (${floorPath}, ${scenarioPath})`)
    found.push({ floor: floorCpu / burst, scenario: scenarioCpu / burst })
  }
  return found
}

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? measured : [...measured].reverse()
  for (const scenario of order) collected.get(scenario.name)!.push(...await interleaved(scenario))
  process.stderr.write(`round ${round + 1}/${rounds} done (${elapsed()})\n`)
}

// 2. Throughput and latency as a client sees them, everything warm: CONNECTIONS keep-alive
// connections, no pipelining. req/s (and CPU) are read by the server over a window of requests
// after a warmup; the bare route is measured three times, the median kept.
interface Speed { rps: number, p99: number, cpu: number }
const speed = new Map<string, Speed>()
async function clientView (scenario: Scenario): Promise<Speed> {
  const warmup = 1000
  const window = 3000
  await ask({ cmd: 'arm', skip: warmup, requests: window }, 'armed')
  const timed = ask<{ wallMicros: number, cpuMicros: number }>({ cmd: '' }, 'window')
  // autocannon ends a run at its next sample tick: 50 ms rather than the default second.
  const result = await autocannon({ url: url + scenario.path, headers: scenario.headers, amount: warmup + window + 20 * connections, connections, sampleInt: 50 })
  check(scenario.name, result, { [scenario.expectStatus]: 1 })
  const { wallMicros, cpuMicros } = await timed
  return { rps: window / (wallMicros / 1e6), p99: result.latency.p99, cpu: cpuMicros / window }
}
// How much cheaper a bare request is pipelined than at CONNECTIONS connections: measured in
// three adjacent pairs (the same drift again), to carry the ratios over to traffic that is
// not pipelined.
const floorViews: Speed[] = []
const regime: number[] = []
for (const scenario of scenarios) {
  if (scenario === floor) {
    for (let i = 0; i < 3; i++) {
      const view = await clientView(floor)
      const pipelined = median((await interleaved(floor)).flatMap((pair) => [pair.floor, pair.scenario]))
      floorViews.push(view)
      regime.push(pipelined / view.cpu)
    }
    speed.set(floor.name, floorViews.sort((a, b) => a.cpu - b.cpu)[1]!)
  } else {
    speed.set(scenario.name, await clientView(scenario))
  }
}
const regimeFactor = median(regime)
process.stderr.write(`throughput and latency done (${elapsed()})\n`)

// 2b. How many requests reach the introspection endpoint for COUNT_REQUESTS requests with
// COUNT_TOKENS distinct tokens, on a scheme whose cache starts empty: one per token while the
// cache holds them, concurrent first requests for a token sharing one call.
const COUNT_REQUESTS = 10_000
let introspectionCalls: number | undefined
if (measured.some((scenario) => scenario.name.startsWith('introspection'))) {
  const requests = introspectionCount.tokens.map((token): autocannon.Request => ({ method: 'GET', path: introspectionCount.path, headers: { authorization: `Bearer ${token}` } }))
  const counted = await autocannon({ url, requests, amount: COUNT_REQUESTS, connections, sampleInt: 50 })
  check('introspection count', counted, { 200: 1 })
  if (counted.requests.total !== COUNT_REQUESTS) throw new Error(`introspection count: ${counted.requests.total} requests were sent`)
  introspectionCalls = (await ask<{ count: number }>({ cmd: 'introspections' }, 'introspections')).count
}
const countTokens = introspectionCount.tokens.length
const introspectionLine = introspectionCalls === undefined
  ? ''
  : `\n\nIntrospection: ${introspectionCalls} requests reached the introspection endpoint for ${COUNT_REQUESTS} requests with ${countTokens} distinct tokens (${connections} connections; target ${countTokens}: ${introspectionCalls === countTokens ? 'met' : 'NOT met'}).`

interface Row { scenario: Scenario, cpu: number, floorCpu: number, overhead: number, ratio: number, q1: number, q3: number, ratio10: number, rps: number, p99: number }
const allFloor = [...collected.values()].flat().map((pair) => pair.floor)
// Without pipelining a bare request costs more (a read and a write of its own), so the same
// added cost is a smaller share of it.
const floor10 = speed.get(floor.name)!.cpu
const rows: Row[] = scenarios.map((scenario) => {
  const { rps, p99 } = speed.get(scenario.name)!
  if (scenario === floor) {
    const cpu = median(allFloor)
    return { scenario, cpu, floorCpu: cpu, overhead: 0, ratio: 1, q1: 1, q3: 1, ratio10: 1, rps, p99 }
  }
  const found = collected.get(scenario.name)!
  const ratios = found.map((pair) => pair.scenario / pair.floor)
  const overhead = median(found.map((pair) => pair.scenario - pair.floor))
  return {
    scenario,
    cpu: median(found.map((pair) => pair.scenario)),
    floorCpu: median(found.map((pair) => pair.floor)),
    overhead,
    ratio: median(ratios),
    q1: quantile(ratios, 0.25),
    q3: quantile(ratios, 0.75),
    ratio10: 1 + (median(ratios) - 1) * regimeFactor,
    rps,
    p99
  }
})
const byName = (name: string): Row => rows.find((row) => row.scenario.name === name)!

const table = [
  '| scenario | CPU µs/req | bare beside it, µs/req | added µs/req | ratio to bare (median) | ratio IQR | ratio, not pipelined | req/s | p99 ms |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((row) => `| ${row.scenario.group === 'peer' ? '_peer:_ ' : ''}${row.scenario.name} | ${row.cpu.toFixed(1)} | ${row.floorCpu.toFixed(1)} | ${row.overhead.toFixed(2)} | ${row.ratio.toFixed(3)} | ${row.q1.toFixed(2)}–${row.q3.toFixed(2)} | ${row.ratio10.toFixed(3)} | ${Math.round(row.rps)} | ${row.p99} |`)
].join('\n')
if (only !== undefined) {
  console.log(`${table}${introspectionLine}\n\nONLY=${only}: no targets and no memory check (${elapsed()}).`)
  await new Promise<void>((resolve) => { server.removeAllListeners('exit'); server.once('exit', () => resolve()); server.send({ cmd: 'exit' }) })
  process.exit(0)
}

// 3. Memory: a million distinct invalid credentials over HTTP (static bearer, X-Token,
// malformed JWT, JWT via JWKS), RSS and heap after a full collection before and after.
process.stderr.write(`memory check: ${memoryTotal} distinct invalid credentials (${elapsed()})\n`)
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
const flood = await autocannon({ url, requests: invalid, amount: memoryTotal, connections: 50, pipelining: 4, sampleInt: 50 })
check('memory flood', flood, { 401: 1 })
if (counter < memoryTotal) throw new Error(`memory flood: only ${counter} credentials were sent`)
const after = (await ask<Usage>({ cmd: 'memory' }, 'memory')).usage
await new Promise<void>((resolve) => { server.removeAllListeners('exit'); server.once('exit', () => resolve()); server.send({ cmd: 'exit' }) })

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1)
const rssGrowth = (after.rss - before.rss) / 1024 / 1024
type Target = [label: string, met: boolean, measured: string, met10: boolean | undefined, measured10: string]
const ratioTarget = (name: string, label: string, limit: number): Target =>
  [`${label} <= ${limit.toFixed(2)}`, byName(name).ratio <= limit, byName(name).ratio.toFixed(3), byName(name).ratio10 <= limit, byName(name).ratio10.toFixed(3)]
const noWorse = (label: string, ours: string, peer: string): Target =>
  [label, byName(ours).overhead <= byName(peer).overhead, `${byName(ours).overhead.toFixed(2)} vs ${byName(peer).overhead.toFixed(2)} µs added`, undefined, 'same']
// Per request, as a ratio of the other scenario's (both measured against the bare route beside them).
const withinOf = (name: string, other: string, label: string, limit: number): Target => {
  const ratio = byName(name).ratio / byName(other).ratio
  const ratio10 = byName(name).ratio10 / byName(other).ratio10
  return [`${label}: ratio <= ${limit.toFixed(2)}`, ratio <= limit, ratio.toFixed(3), ratio10 <= limit, ratio10.toFixed(3)]
}
const targets: Target[] = [
  ratioTarget('public route, plugin registered', 'public route with the plugin registered', 1.02),
  ratioTarget('bearer, static tokens', 'bearer static token', 1.08),
  ratioTarget('X-Token, static tokens', 'X-Token static token', 1.05),
  ratioTarget('JWT HS256, cached', 'cached JWT HS256', 1.10),
  ratioTarget('JWT RS256 (local JWKS), cached', 'cached JWT RS256 (JWKS)', 1.10),
  withinOf('introspection, warm cache', 'JWT HS256, cached', 'introspection, warm cache, within 10% of a cached JWT HS256', 1.10),
  [`introspection: ${COUNT_REQUESTS} requests, ${countTokens} distinct tokens: ${countTokens} introspection requests`, introspectionCalls === countTokens, String(introspectionCalls), undefined, ''],
  noWorse('uncached RS256 no worse than @fastify/jwt uncached', 'JWT RS256 (PEM), uncached', '@fastify/jwt RS256, uncached'),
  // The bearer path includes @fastify/bearer-auth: what it adds, against bearer-auth alone.
  ((): Target => {
    const ours = byName('bearer, static tokens').overhead
    const peer = byName('@fastify/bearer-auth alone').overhead
    return ['bearer path added µs <= 1.3 x that of @fastify/bearer-auth alone', ours <= 1.3 * peer, `${ours.toFixed(2)} vs ${peer.toFixed(2)} µs added (${(ours / peer).toFixed(1)} x)`, undefined, 'same']
  })(),
  // Several bearer schemes, JWT first: an opaque token must not pay a JWT verification, so what it
  // adds over the store alone is a small part of what an uncached RS256 verification adds.
  ((): Target => {
    const extra = byName('several bearer schemes, opaque token second').overhead - byName('several bearer schemes, opaque store alone (baseline)').overhead
    const verification = byName('JWT RS256 (PEM), uncached').overhead
    return ['several bearer schemes, opaque token second: added over the store alone < 10% of an uncached RS256 verification', extra < 0.1 * verification, `${extra.toFixed(2)} vs ${verification.toFixed(2)} µs`, undefined, 'same']
  })(),
  [`${memoryTotal} distinct invalid tokens: RSS within 64 MB of the start`, rssGrowth <= 64, `${rssGrowth.toFixed(1)} MB`, undefined, '']
]

const version = (name: string): string => (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
const targetTable = [
  '| target | met | measured | met, not pipelined | measured, not pipelined |',
  '|---|---|---|---|---|',
  ...targets.map(([name, met, measuredValue, met10, measured10]) =>
    `| ${name} | ${met ? 'yes' : 'NO'} | ${measuredValue} | ${met10 === undefined ? measured10 : met10 ? 'yes' : 'NO'} | ${met10 === undefined ? '' : measured10} |`)
].join('\n')
const report = `${table}

${targetTable}${introspectionLine}

Memory: ${memoryTotal} distinct invalid credentials (static bearer, X-Token, malformed JWT, JWT via JWKS), RSS ${mb(before.rss)} -> ${mb(after.rss)} MB, heap used ${mb(before.heapUsed)} -> ${mb(after.heapUsed)} MB (after gc).

CPU: ${rounds} rounds of ${pairs} pairs of ${burst}-request bursts per scenario (${rounds * pairs} pairs), bare and scenario alternating on one connection pipelined 50 deep; medians over the pairs. "ratio, not pipelined" scales the ratio's excess by ${regimeFactor.toFixed(3)}, what a pipelined bare request costs against one at ${connections} connections without pipelining (${floor10.toFixed(1)} µs; median of three adjacent pairs). req/s and p99: ${connections} connections, no pipelining. ${pinned ? 'Server pinned to core 1 and load generator to core 0 with taskset' : 'No core pinning'}; total ${elapsed()}.`
console.log(report)

// 4. DPoP (RFC 9449), in one process: what a proof adds to a cached JWT, beside jose's own
// verification of the same proofs (bench/dpop.ts, with a redis-server of its own).
process.stderr.write(`DPoP: bench/dpop.ts (${elapsed()})\n`)
const dpopReport = execFileSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'dpop.ts')], { encoding: 'utf8' })
console.log(`\nDPoP:\n\n\`\`\`\n${dpopReport}\`\`\``)

if (process.argv.includes('--write')) {
  const cpu = cpus()[0]
  writeFileSync(join(root, 'bench', 'RESULTS.md'), `# Benchmark results

Produced by \`npm run bench -- --write\` on ${new Date().toISOString().slice(0, 10)}.

- Machine: ${cpus().length} × ${cpu?.model ?? 'unknown CPU'}, ${mb(totalmem())} MB memory
- Node ${process.version}; fastify ${version('fastify')}, jose ${version('jose')}, @fastify/bearer-auth ${version('@fastify/bearer-auth')}, @fastify/jwt ${version('@fastify/jwt')}, @fastify/auth ${version('@fastify/auth')}, autocannon ${version('autocannon')}

How to read it: the deciding figure is the server's CPU time per request, read by the server
itself with \`process.cpuUsage\`. Each scenario is measured in bursts that alternate with
bursts to the bare route on one pipelined connection, so every reading has a bare reading
beside it taken milliseconds apart; "ratio to bare" is the median of those paired ratios and
"ratio IQR" their spread. "bare route again" is a second, identical bare route measured the
same way: it shows the measurement's own error. Pipelining makes the bare route as cheap as
it gets (no read or write syscall of its own per request), so these ratios are upper bounds;
"added µs/req" is the cost itself, whatever the traffic. "ratio, not pipelined" carries each
ratio over to keep-alive traffic without pipelining (10 connections), where a bare request
costs about twice as much CPU: the excess over 1 is scaled by the measured factor between
the two. The targets are judged on both.

${report}

DPoP (bench/dpop.ts: CPU time per operation in one process, 32 in flight):

\`\`\`
${dpopReport}\`\`\`
`)
}
