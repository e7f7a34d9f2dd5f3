import t, { type Test } from 'tap'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import protectedRoutes, { type RouteAuthConfig, type SchemeOptions, type VerifyFunction } from '../../lib/index.js'
import { captureLogs, errorBody, fresh, freshWithLogs } from '../helpers/app.js'

// Regression: refusals and faults were logged inside the code that builds the answer, so a
// log call that threw replaced the answer with its own error. pino serializes a fault's
// cause (its message, its stack, its properties); a verifier that threw an Error whose `stack`
// or `message` getter throws, or a Proxy that throws on every access, made that log call throw,
// and the getter's message reached the client in a 500 with no code. A custom logger whose
// methods throw did the same to every refusal: a missing credential answered 500 instead of
// 401. Logging is now best effort: whatever the logger or the thrown value does, the client
// gets the answer it would have got.

const TOKEN = 'secret-token-value-42'
const GETTER = 'getter detonated 7f3a'
const LOGGER = 'logger detonated 9c1e'
const failed = errorBody(500, 'FST_PROTECTED_ROUTES_VERIFIER_FAILED', 'Authentication could not be completed')

interface Kind {
  readonly scheme: (verify: VerifyFunction) => SchemeOptions
  readonly headers: (token: string) => Record<string, string>
  readonly challenge: string
  readonly refused: string
}

const kinds: Record<'bearer' | 'apiKey', Kind> = {
  bearer: {
    scheme: (verify) => ({ type: 'bearer', verify }),
    headers: (token) => ({ authorization: `Bearer ${token}` }),
    challenge: 'Bearer realm="api"',
    refused: 'The access token is invalid'
  },
  apiKey: {
    scheme: (verify) => ({ type: 'apiKey', in: 'header', name: 'X-Token', verify }),
    headers: (token) => ({ 'x-token': token }),
    challenge: 'ApiKey realm="api", in="header", name="X-Token"',
    refused: 'The API key is invalid'
  }
}

function detonate (): never {
  throw new Error(GETTER)
}

/** Values a verifier can throw that make serializing them throw. Fresh per test. */
const hostile: Array<[string, () => unknown]> = [
  ['an Error whose stack getter throws', () => Object.defineProperty(new Error('plain'), 'stack', { get: detonate })],
  ['an Error whose message getter throws', () => Object.defineProperty(new Error('plain'), 'message', { get: detonate })],
  // Its prototype still reads (so instanceof works): only reading it throws.
  ['a Proxy that throws on every property access', () => new Proxy(new Error('plain'), { get: detonate, has: detonate, ownKeys: detonate, getOwnPropertyDescriptor: detonate })],
  ['a Proxy every trap of which throws', () => new Proxy(new Error('plain'), new Proxy({}, { get: () => detonate }))]
]

/** Fails the test on any unhandled rejection while it runs. */
function noUnhandledRejection (t: Test): void {
  const seen: unknown[] = []
  const listener = (reason: unknown) => { seen.push(reason) }
  process.on('unhandledRejection', listener)
  t.teardown(() => { process.off('unhandledRejection', listener) })
  t.teardown(() => {
    if (seen.length > 0) throw new Error('an unhandled rejection happened during the test')
  })
}

interface Setup {
  app: FastifyInstance
  calls: string[]
  handled: () => number
}

async function setup (t: Test, app: FastifyInstance, kind: Kind, verify: VerifyFunction, auth: RouteAuthConfig = true, verifyTimeout?: number): Promise<Setup> {
  noUnhandledRejection(t)
  const calls: string[] = []
  const spy: VerifyFunction = (token, request) => {
    calls.push(token)
    return verify(token, request)
  }
  await app.register(protectedRoutes, { schemes: { main: kind.scheme(spy) }, ...(verifyTimeout === undefined ? {} : { verifyTimeout }) })
  let handled = 0
  app.get('/x', { config: { auth } }, async () => {
    handled++
    return 'handler ran'
  })
  return { app, calls, handled: () => handled }
}

for (const [name, kind] of Object.entries(kinds)) {
  for (const [what, make] of hostile) {
    for (const how of ['throws', 'rejects with'] as const) {
      t.test(`${name}: a verifier that ${how} ${what} answers the generic 500 with its code (pino logger)`, async (t) => {
        const logs = captureLogs()
        const verify: VerifyFunction = how === 'throws'
          ? () => { throw make() }
          : () => Promise.reject(make())
        const { app, calls, handled } = await setup(t, freshWithLogs(t, logs), kind, verify)
        const res = await app.inject({ url: '/x', headers: kind.headers(TOKEN) })
        t.equal(res.statusCode, 500, 'status')
        t.equal(res.headers['www-authenticate'], undefined, 'no challenge on a fault')
        t.same(res.json(), failed, 'body')
        t.notMatch(res.body + JSON.stringify(res.headers), GETTER, "the getter's message is in no response")
        t.same(calls, [TOKEN], 'the verifier ran once')
        t.equal(handled(), 0, 'the handler never runs')
      })
    }
  }
}

/** A logger every method of which throws; `child` hands back the same logger. */
function throwingLogger (): FastifyBaseLogger & { calls: string[] } {
  const calls: string[] = []
  const logger: Record<string, unknown> = { level: 'trace', calls }
  for (const method of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
    logger[method] = () => {
      calls.push(method)
      throw new Error(LOGGER)
    }
  }
  logger.child = () => logger
  return logger as unknown as FastifyBaseLogger & { calls: string[] }
}

interface LoggerCase {
  readonly what: string
  readonly verify: VerifyFunction
  readonly auth?: RouteAuthConfig
  readonly token: string | undefined
  readonly status: number
  readonly body: (kind: Kind) => Record<string, unknown>
  readonly challenge: (kind: Kind) => string | undefined
  readonly retryAfter?: string
  readonly calls: readonly string[]
  readonly verifyTimeout?: number
}

const known: VerifyFunction = (token) => token === TOKEN ? { id: 'alice', scopes: ['read'] } : null

const loggerCases: readonly LoggerCase[] = [
  {
    what: 'a missing credential still answers 401 with the challenge',
    verify: known,
    token: undefined,
    status: 401,
    body: () => errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'),
    challenge: (kind) => kind.challenge,
    calls: []
  },
  {
    what: 'a refused credential still answers 401 invalid_token',
    verify: known,
    token: 'not-the-token',
    status: 401,
    body: (kind) => errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', kind.refused),
    challenge: (kind) => `${kind.challenge}, error="invalid_token", error_description="${kind.refused}"`,
    calls: ['not-the-token']
  },
  {
    what: 'a missing scope still answers 403 insufficient_scope',
    verify: known,
    auth: { scopes: ['admin'] },
    token: TOKEN,
    status: 403,
    body: () => errorBody(403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', 'The access token does not grant the required scope'),
    challenge: (kind) => `${kind.challenge}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"`,
    calls: [TOKEN]
  },
  {
    what: 'a verifier that throws still answers the generic 500',
    verify: () => { throw new Error('database exploded') },
    token: TOKEN,
    status: 500,
    body: () => failed,
    challenge: () => undefined,
    calls: [TOKEN]
  },
  {
    what: 'a verifier slower than verifyTimeout still answers 503 with Retry-After',
    verify: () => new Promise(() => {}),
    token: TOKEN,
    status: 503,
    body: () => errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable'),
    challenge: () => undefined,
    retryAfter: '5',
    calls: [TOKEN],
    verifyTimeout: 50
  }
]

for (const [name, kind] of Object.entries(kinds)) {
  for (const c of loggerCases) {
    t.test(`${name}: with a custom logger whose every method throws, ${c.what}`, async (t) => {
      const logger = throwingLogger()
      // Fastify's own per-request lines are off, so only the plugin's log calls meet the logger.
      const app = fresh(t, { loggerInstance: logger, disableRequestLogging: true })
      const { calls, handled } = await setup(t, app, kind, c.verify, c.auth, c.verifyTimeout)
      const res = await app.inject({ url: '/x', headers: c.token === undefined ? {} : kind.headers(c.token) })
      t.equal(res.statusCode, c.status, 'status')
      t.equal(res.headers['www-authenticate'], c.challenge(kind), 'challenge')
      t.equal(res.headers['retry-after'], c.retryAfter, 'Retry-After')
      t.same(res.json(), c.body(kind), 'body')
      t.notMatch(res.body + JSON.stringify(res.headers), LOGGER, "the logger's error is in no response")
      t.same(calls, c.calls, 'the verifier calls')
      t.equal(handled(), 0, 'the handler never runs')
    })
  }

  t.test(`${name}: with a custom logger whose every method throws, a valid credential still gets through`, async (t) => {
    const app = fresh(t, { loggerInstance: throwingLogger(), disableRequestLogging: true })
    const { calls, handled } = await setup(t, app, kind, known)
    const res = await app.inject({ url: '/x', headers: kind.headers(TOKEN) })
    t.equal(res.statusCode, 200, 'status')
    t.equal(res.body, 'handler ran', 'body')
    t.same(calls, [TOKEN], 'the verifier ran once')
    t.equal(handled(), 1, 'the handler ran')
  })
}
