import { setImmediate as tick } from 'node:timers/promises'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import protectedRoutes, { VerifierFailedError, VerifierUnavailableError, type SchemeOptions, type VerifyFunction } from '../lib/index.js'
import { captureLogs, errorBody, freshWithLogs, type LogCapture } from './helpers/app.js'

const TOKEN = 'secret-token-value-42'
const SECRET = 'database exploded'
const failed = errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed')
const unavailable = errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable')

const kinds = {
  bearer: {
    scheme: (verify: VerifyFunction): SchemeOptions => ({ type: 'bearer', verify }),
    headers: { authorization: `Bearer ${TOKEN}` }
  },
  apiKey: {
    scheme: (verify: VerifyFunction): SchemeOptions => ({ type: 'apiKey', in: 'header', name: 'X-Token', verify }),
    headers: { 'x-token': TOKEN }
  }
}

/** Fails the test on any unhandled rejection while it runs. */
function noUnhandledRejection (t: Test): void {
  const seen: unknown[] = []
  const listener = (reason: unknown) => { seen.push(reason) }
  process.on('unhandledRejection', listener)
  t.teardown(() => {
    process.off('unhandledRejection', listener)
  })
  t.teardown(() => {
    if (seen.length > 0) throw new Error(`unhandled rejection: ${String(seen[0])}`)
  })
}

interface Setup {
  app: FastifyInstance
  logs: LogCapture
  calls: string[]
  handled: () => number
}

async function setup (t: Test, kind: keyof typeof kinds, verify: VerifyFunction, verifyTimeout?: number): Promise<Setup> {
  noUnhandledRejection(t)
  const logs = captureLogs()
  const app = freshWithLogs(t, logs)
  const calls: string[] = []
  const spy: VerifyFunction = (token, request) => {
    calls.push(token)
    return verify(token, request)
  }
  await app.register(protectedRoutes, { schemes: { main: kinds[kind].scheme(spy) }, ...(verifyTimeout === undefined ? {} : { verifyTimeout }) })
  let handled = 0
  app.get('/x', { config: { auth: true } }, async () => {
    handled++
    return 'handler ran'
  })
  return { app, logs, calls, handled: () => handled }
}

/** The response and the logs carry neither the credential nor what the verifier threw. */
function assertNothingLeaks (t: Test, res: { body: string, headers: Record<string, unknown> }, logs: LogCapture): void {
  const sent = res.body + JSON.stringify(res.headers)
  t.notMatch(sent, TOKEN, 'the token is not in the response')
  t.notMatch(sent, SECRET, 'the thrown message is not in the response')
  t.notMatch(logs.text(), TOKEN, 'the token is in no log line')
  t.notOk(logs.lines.some((line) => /already sent/i.test(JSON.stringify(line))), 'no "Reply was already sent" warning')
}

class CustomError extends Error {}
const unprintable = { detail: SECRET, toString () { throw new Error('no toString for you') } }

// [what, verify, whether the cause's text shows in the fault log line]
const faults: Array<[string, VerifyFunction, boolean]> = [
  ['throws an Error', () => { throw new Error(SECRET) }, true],
  ['throws an Error subclass', () => { throw new CustomError(SECRET) }, true],
  ['throws a string', () => { throw SECRET }, true],
  ['throws an object whose toString throws', () => { throw unprintable }, true],
  ['throws undefined', () => { throw undefined }, false], // eslint-disable-line no-throw-literal
  ['throws null', () => { throw null }, false], // eslint-disable-line no-throw-literal
  ['rejects with an Error', async () => { throw new Error(SECRET) }, true],
  ['rejects with a string', () => Promise.reject(SECRET), true],
  ['rejects with undefined', () => Promise.reject(undefined), false], // eslint-disable-line prefer-promise-reject-errors
  ['returns true', () => true as never, false],
  ['returns a number', () => 42 as never, false],
  ['returns a string', () => 'user' as never, false],
  ['returns an array', () => [{ id: 1 }] as never, false],
  ['returns a function', () => (() => ({ id: 1 })) as never, false],
  ['resolves to true', async () => true as never, false],
  ['resolves to an array', async () => [] as never, false],
  ['throws VerifierFailedError itself', () => { throw new VerifierFailedError({ cause: new Error(SECRET) }) }, true]
]

for (const kind of ['bearer', 'apiKey'] as const) {
  for (const [what, verify, causeLogged] of faults) {
    t.test(`${kind}: a verifier that ${what} gives a generic 500 and the cause goes to the log`, async (t) => {
      const { app, logs, calls, handled } = await setup(t, kind, verify)
      const res = await app.inject({ url: '/x', headers: kinds[kind].headers })
      t.equal(res.statusCode, 500)
      t.same(res.json(), failed)
      t.equal(res.headers['www-authenticate'], undefined)
      t.equal(handled(), 0, 'the handler never runs')
      t.same(calls, [TOKEN], 'the verifier ran once')
      const fault = logs.lines.filter((line) => line.msg === 'authentication fault')
      t.equal(fault.length, 1, 'one fault line')
      t.match(fault[0], { level: 50, scheme: 'main', err: { code: 'FST_PROTECTED_ROUTES_VERIFIER_FAILED' } })
      if (causeLogged) t.match(JSON.stringify(fault[0]), SECRET, 'the cause is in the fault line')
      assertNothingLeaks(t, res, logs)
    })
  }

  t.test(`${kind}: a verifier that hangs past verifyTimeout gives a 503`, async (t) => {
    const { app, logs, calls, handled } = await setup(t, kind, () => new Promise(() => {}), 50)
    const res = await app.inject({ url: '/x', headers: kinds[kind].headers })
    t.equal(res.statusCode, 503)
    t.same(res.json(), unavailable)
    t.equal(res.headers['www-authenticate'], undefined)
    t.equal(handled(), 0)
    t.same(calls, [TOKEN])
    t.match(logs.lines.filter((line) => line.msg === 'authentication fault'), [
      { level: 50, scheme: 'main', err: { code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE' } }
    ])
    assertNothingLeaks(t, res, logs)
  })

  for (const outcome of ['resolves with a user', 'rejects'] as const) {
    t.test(`${kind}: a verifier that ${outcome} after the 503 was sent changes nothing`, async (t) => {
      let settle: () => void = () => {}
      let settled = false
      const verify: VerifyFunction = () => new Promise((resolve, reject) => {
        settle = () => {
          settled = true
          if (outcome === 'rejects') reject(new Error(SECRET))
          else resolve({ id: 'late' })
        }
      })
      const { app, logs, handled } = await setup(t, kind, verify, 50)
      app.addHook('onResponse', async (request) => { request.log.info('response sent') })
      const res = await app.inject({ url: '/x', headers: kinds[kind].headers })
      t.equal(res.statusCode, 503)
      t.same(res.json(), unavailable)
      const linesBefore = logs.lines.length
      settle()
      for (let i = 0; i < 10; i++) await tick()
      t.ok(settled)
      t.equal(handled(), 0, 'the handler never runs')
      t.same(logs.lines.slice(linesBefore), [], 'nothing is logged after the response')
      assertNothingLeaks(t, res, logs)
    })
  }

  t.test(`${kind}: a verifier that answers within verifyTimeout is not cut short`, async (t) => {
    const verify: VerifyFunction = async () => {
      await tick()
      return { id: 1 }
    }
    const { app, handled } = await setup(t, kind, verify, 5_000)
    const res = await app.inject({ url: '/x', headers: kinds[kind].headers })
    t.equal(res.statusCode, 200)
    t.equal(handled(), 1)
  })

  t.test(`${kind}: a verifier may signal that its backend is down with VerifierUnavailableError`, async (t) => {
    for (const verify of [
      () => { throw new VerifierUnavailableError() },
      async () => { throw new VerifierUnavailableError() }
    ] as VerifyFunction[]) {
      const { app, logs } = await setup(t, kind, verify)
      const res = await app.inject({ url: '/x', headers: kinds[kind].headers })
      t.equal(res.statusCode, 503)
      t.same(res.json(), unavailable)
      assertNothingLeaks(t, res, logs)
    }
  })

  t.test(`${kind}: a fault reaches a custom error handler with its status already on the reply`, async (t) => {
    const seen: Array<[number, unknown]> = []
    const answered: number[] = []
    for (const [verify, timeout] of [
      [() => { throw new Error(SECRET) }, undefined],
      [() => new Promise(() => {}), 50],
      [() => null, undefined]
    ] as Array<[VerifyFunction, number | undefined]>) {
      const { app } = await setup(t, kind, verify, timeout)
      app.setErrorHandler((err: Error & { code?: string }, _request, reply) => {
        seen.push([reply.statusCode, err.code])
        reply.send({ problem: err.code })
      })
      const res = await app.inject({ url: '/x', headers: kinds[kind].headers })
      t.not(res.statusCode === 401 && res.headers['www-authenticate'] === undefined, true, 'never a 401 without a challenge (RFC 9110 §11.6.1)')
      answered.push(res.statusCode)
    }
    t.same(seen, [
      [500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED'],
      [503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE'],
      [401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN']
    ], 'the status is set before the handler runs')
    t.same(answered, [500, 503, 401], 'a handler that only reshapes the body cannot turn the refusal into a 200')
  })
}

/** Records the timers of `ms` milliseconds set while the test runs, and which were cleared. */
function watchTimers (t: Test, ms: number): { set: unknown[], cleared: unknown[] } {
  const watched = { set: [] as unknown[], cleared: [] as unknown[] }
  const realSetTimeout = globalThis.setTimeout
  const realClearTimeout = globalThis.clearTimeout
  globalThis.setTimeout = function (callback: () => void, delay?: number) {
    const handle = realSetTimeout(callback, delay)
    if (delay === ms) watched.set.push(handle)
    return handle
  } as unknown as typeof setTimeout
  globalThis.clearTimeout = function (handle?: NodeJS.Timeout) {
    if (watched.set.includes(handle)) watched.cleared.push(handle)
    realClearTimeout(handle)
  } as typeof clearTimeout
  t.teardown(() => {
    globalThis.setTimeout = realSetTimeout
    globalThis.clearTimeout = realClearTimeout
  })
  return watched
}

for (const kind of ['bearer', 'apiKey'] as const) {
  t.test(`${kind}: a synchronous answer sets no timer; an asynchronous one sets one of verifyTimeout ms and clears it`, async (t) => {
    const sync = await setup(t, kind, () => ({ id: 1 }), 4321)
    const async = await setup(t, kind, async () => ({ id: 1 }), 4321)
    const timers = watchTimers(t, 4321)
    t.equal((await sync.app.inject({ url: '/x', headers: kinds[kind].headers })).statusCode, 200)
    t.same(timers.set, [], 'no timer for an answer that is already there')
    t.equal((await async.app.inject({ url: '/x', headers: kinds[kind].headers })).statusCode, 200)
    t.equal(timers.set.length, 1, 'one timer for a promise')
    t.same(timers.cleared, timers.set, 'and it is cleared once the verifier answered')
  })
}

t.test('getScopes throwing is a fault like the verifier throwing', async (t) => {
  noUnhandledRejection(t)
  const logs = captureLogs()
  const app = freshWithLogs(t, logs)
  await app.register(protectedRoutes, {
    getScopes: () => { throw new Error(SECRET) },
    schemes: { main: { type: 'bearer', verify: async () => ({ id: 1 }) } }
  })
  app.get('/x', { config: { auth: true } }, async () => 'ok')
  const res = await app.inject({ url: '/x', headers: kinds.bearer.headers })
  t.equal(res.statusCode, 500)
  t.same(res.json(), failed)
  assertNothingLeaks(t, res, logs)
})
