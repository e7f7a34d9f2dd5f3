import t from 'tap'
import type { RouteAuthConfig, SchemeOptions, VerifyFunction } from '../../lib/index.js'
import { build } from '../helpers/app.js'

// Regression: a refusal reached Fastify as an error whose status lived only on the error
// object; nothing put it on the reply. Fastify's default error handler copies it over, but
// an app's setErrorHandler that sends a body without calling reply.code() answered 200, with
// the challenge still attached and the handler skipped: clients, proxies and caches took a
// refusal (401, 400, 403) or a fault (500, 503) for a success. The reply now carries the
// refusal's status before any error handler runs, so an error handler can reshape the body
// of a refusal but not turn it into a 2xx.

const bearerChallenge = 'Bearer realm="api"'
const keyChallenge = 'ApiKey realm="api", in="header", name="X-Token"'
const users = { good: { id: 'alice', scopes: ['read'] } }

interface Case {
  /** What the request is refused for, as the test names it. */
  readonly what: string
  readonly scheme: 'bearer' | 'apiKey'
  readonly verify: VerifyFunction
  readonly auth: RouteAuthConfig
  readonly headers: Record<string, string>
  readonly status: number
  readonly message: string
  readonly challenge: string | undefined
  /** Retry-After on a 503; absent otherwise. */
  readonly retryAfter?: string
  /** The tokens the verifier must have been given. */
  readonly calls: readonly string[]
  readonly verifyTimeout?: number
}

const known: VerifyFunction = (token) => Object.hasOwn(users, token) ? users[token as keyof typeof users] : null

const cases: readonly Case[] = [
  {
    what: 'a missing credential stays 401 with the challenge',
    scheme: 'bearer',
    verify: known,
    auth: true,
    headers: {},
    status: 401,
    message: 'Authentication is required',
    challenge: bearerChallenge,
    calls: []
  },
  {
    what: 'a refused bearer token stays 401 invalid_token',
    scheme: 'bearer',
    verify: known,
    auth: true,
    headers: { authorization: 'Bearer nope' },
    status: 401,
    message: 'The access token is invalid',
    challenge: `${bearerChallenge}, error="invalid_token", error_description="The access token is invalid"`,
    calls: ['nope']
  },
  {
    what: 'a refused API key stays 401 invalid_token',
    scheme: 'apiKey',
    verify: known,
    auth: true,
    headers: { 'x-token': 'nope' },
    status: 401,
    message: 'The API key is invalid',
    challenge: `${keyChallenge}, error="invalid_token", error_description="The API key is invalid"`,
    calls: ['nope']
  },
  {
    what: 'a malformed credential stays 400 invalid_request',
    scheme: 'bearer',
    verify: known,
    auth: true,
    headers: { authorization: 'Bearer not a token' },
    status: 400,
    message: 'The Authorization header is not a valid Bearer credential',
    challenge: `${bearerChallenge}, error="invalid_request", error_description="The Authorization header is not a valid Bearer credential"`,
    calls: []
  },
  {
    what: 'a missing scope stays 403 insufficient_scope',
    scheme: 'bearer',
    verify: known,
    auth: { scopes: ['admin'] },
    headers: { authorization: 'Bearer good' },
    status: 403,
    message: 'The access token does not grant the required scope',
    challenge: `${bearerChallenge}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"`,
    calls: ['good']
  },
  {
    what: 'an authorize that returns false stays 403',
    scheme: 'bearer',
    verify: known,
    auth: { authorize: () => false },
    headers: { authorization: 'Bearer good' },
    status: 403,
    message: 'Access to this resource is not allowed',
    challenge: `${bearerChallenge}, error="insufficient_scope", error_description="Access to this resource is not allowed"`,
    calls: ['good']
  },
  {
    what: 'a verifier that throws stays 500',
    scheme: 'bearer',
    verify: () => { throw new Error('database exploded') },
    auth: true,
    headers: { authorization: 'Bearer good' },
    status: 500,
    message: 'Authentication could not be completed',
    challenge: undefined,
    calls: ['good']
  },
  {
    what: 'a verifier slower than verifyTimeout stays 503 with Retry-After',
    scheme: 'bearer',
    verify: () => new Promise(() => {}),
    auth: true,
    headers: { authorization: 'Bearer good' },
    status: 503,
    message: 'Authentication is temporarily unavailable',
    challenge: undefined,
    retryAfter: '5',
    calls: ['good'],
    verifyTimeout: 50
  }
]

function schemeOf (kind: Case['scheme'], verify: VerifyFunction): SchemeOptions {
  return kind === 'bearer' ? { type: 'bearer', verify } : { type: 'apiKey', in: 'header', name: 'X-Token', verify }
}

// Two ways an error handler answers without touching the status: reply.send(), or returning
// the body from an async handler (Fastify sends it).
const flavors = ['reply.send', 'return'] as const

for (const hook of ['onRequest', 'preHandler'] as const) {
  for (const flavor of flavors) {
    for (const c of cases) {
      t.test(`an error handler that answers by ${flavor} without reply.code(): ${c.what} (hook: ${hook})`, async (t) => {
        const calls: string[] = []
        const verify: VerifyFunction = (token, request) => {
          calls.push(token)
          return c.verify(token, request)
        }
        const app = await build(t, {
          hook,
          schemes: { main: schemeOf(c.scheme, verify) },
          ...(c.verifyTimeout === undefined ? {} : { verifyTimeout: c.verifyTimeout })
        })
        const seen: string[] = []
        if (flavor === 'reply.send') {
          app.setErrorHandler((err: Error & { code?: string }, _request, reply) => {
            seen.push(String(err.code))
            reply.send({ error: err.message })
          })
        } else {
          app.setErrorHandler(async (err: Error & { code?: string }) => {
            seen.push(String(err.code))
            return { error: err.message }
          })
        }
        let handled = 0
        app.get('/x', { config: { auth: c.auth } }, async () => {
          handled++
          return { secret: 'handler ran' }
        })

        const res = await app.inject({ url: '/x', headers: c.headers })
        t.equal(res.statusCode, c.status, 'the refusal keeps its status')
        t.equal(res.headers['www-authenticate'], c.challenge, 'the challenge is exactly as without an error handler')
        t.equal(res.headers['retry-after'], c.retryAfter)
        t.same(res.json(), { error: c.message }, 'the body is what the error handler sent')
        t.equal(seen.length, 1, 'the error handler ran once')
        t.equal(handled, 0, 'the route handler never runs')
        t.same(calls, c.calls, 'the verifier saw exactly these credentials')
      })
    }
  }
}

t.test('an error handler that sends without reply.code() still lets a valid credential through with 200', async (t) => {
  const app = await build(t, { schemes: { main: { type: 'bearer', verify: known } } })
  app.setErrorHandler((err: Error, _request, reply) => { reply.send({ error: err.message }) })
  app.get('/x', { config: { auth: true } }, async (request) => ({ user: request.user }))
  const res = await app.inject({ url: '/x', headers: { authorization: 'Bearer good' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['www-authenticate'], undefined)
  t.same(res.json(), { user: users.good })
})
