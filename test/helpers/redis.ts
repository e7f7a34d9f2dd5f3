// A throwaway redis-server per test file: started from the test, stopped in teardown, never a global service.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createConnection, createServer, type AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

/** The part of a tap test these helpers use. */
interface Teardown {
  teardown: (fn: () => unknown) => void
}

export const INSTALL_HINT = 'redis-server is needed for these tests: apt-get update && apt-get install -y redis-server'

/** A redis-server child process on a fixed port of 127.0.0.1, without persistence. */
export interface RedisServer {
  readonly port: number
  /** Kills it (SIGKILL: as a crash would); resolves once the process is gone. */
  stop: () => Promise<void>
  /** Starts it again on the same port (empty: nothing is persisted) and waits for PING. */
  start: () => Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** One PING over a raw socket: true on +PONG. */
function ping (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    socket.setTimeout(200)
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')))
    socket.once('error', () => done(false))
    socket.once('timeout', () => done(false))
  })
}

function spawnServer (port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  return new Promise((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new Error(INSTALL_HINT) : err)
    })
    child.once('spawn', () => resolve(child))
  })
}

async function waitForPing (port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 5000
  while (!(await ping(port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} (is port ${port} taken?)`)
    if (Date.now() > deadline) throw new Error('redis-server did not answer PING within 5 s')
    await sleep(20)
  }
}

/** Starts a redis-server for this test (file) and kills it in teardown. Fails, never skips, when redis-server is missing. */
export async function redisServer (t: Teardown): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | undefined

  async function start (): Promise<void> {
    child = await spawnServer(port)
    await waitForPing(port, child)
  }
  async function stop (): Promise<void> {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const exited = once(running, 'exit')
    running.kill('SIGKILL')
    await exited
  }

  await start()
  t.teardown(stop)
  return { port, start, stop }
}

/**
 * An ioredis client as an app would make one, ready, disconnected in teardown. It retries every
 * 50 ms, so that a test sees it come back soon after redis-server does.
 */
export async function redisClient (t: Teardown, server: RedisServer, { lazyConnect = false } = {}): Promise<Redis> {
  const client = new Redis({ port: server.port, host: '127.0.0.1', retryStrategy: () => 50, lazyConnect })
  // The app's listener: a connection error must not reach the console as an unhandled event.
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  if (!lazyConnect) await once(client, 'ready')
  return client
}

/** Resolves once `check` returns true, polling every `every` ms; rejects after `within` ms. */
export async function until (check: () => boolean, within = 5000, every = 5): Promise<void> {
  const deadline = Date.now() + within
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${within} ms`)
    await sleep(every)
  }
}
