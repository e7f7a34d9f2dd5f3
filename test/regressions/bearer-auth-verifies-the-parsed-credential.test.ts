import t, { type Test } from 'tap'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import protectedRoutes, { type ProtectedRoutesOptions, type SchemeOptions } from '../../lib/index.js'
import { errorBody, fresh, listen, spyVerify, type VerifySpy } from '../helpers/app.js'

// Regression: a bearer credential was parsed from `request.headers.authorization`, and then
// @fastify/bearer-auth read `request.raw.headers.authorization` again and verified what it
// found there. Fastify's `request.headers` setter keeps its own copy beside the raw headers, so
// a hook before the plugin could make the two disagree: the plugin judged one value (well
// formed, present) and the verifier was handed another (alice's token, a malformed one, or
// nothing, which came back as a refusal instead of "missing"). Either copy could also be
// rewritten to choose whose token got verified, and API-key header schemes read the rewritable
// copy too. Now the credential is read once from what the client sent and verified as parsed.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const alice = { id: 'alice' }
const bob = { id: 'bob' }

interface Kind {
  readonly scheme: (verify: VerifySpy) => SchemeOptions
  /** The header name, lower-cased. */
  readonly header: string
  /** How a header value presents a token. */
  readonly present: (token: string) => string
  readonly challenge: string
  readonly malformed: { value: string, body: Record<string, unknown>, challenge: string }
}

const kinds: Record<'bearer' | 'apiKey', Kind> = {
  bearer: {
    scheme: (verify) => ({ type: 'bearer', verify }),
    header: 'authorization',
    present: (token) => `Bearer ${token}`,
    challenge: 'Bearer realm="api"',
    malformed: {
      value: 'Bearer b@d',
      body: errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'The Authorization header is not a valid Bearer credential'),
      challenge: 'Bearer realm="api", error="invalid_request", error_description="The Authorization header is not a valid Bearer credential"'
    }
  },
  apiKey: {
    scheme: (verify) => ({ type: 'apiKey', in: 'header', name: 'X-Token', verify }),
    header: 'x-token',
    present: (token) => token,
    challenge: 'ApiKey realm="api", in="header", name="X-Token"',
    malformed: {
      value: 'b d',
      body: errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'The API key is malformed'),
      challenge: 'ApiKey realm="api", in="header", name="X-Token", error="invalid_request", error_description="The API key is malformed"'
    }
  }
}

/** Ways a hook before the plugin can change what the request's headers say. */
function rewrites (kind: Kind): Array<[string, (request: FastifyRequest) => void]> {
  const forged = kind.present('alice')
  return [
    ['sets request.headers', (request) => { request.headers = { ...request.headers, [kind.header]: forged } }],
    ['mutates request.raw.headers', (request) => { request.raw.headers[kind.header] = forged }]
  ]
}

interface Setup {
  app: FastifyInstance
  verify: VerifySpy
  handled: () => number
}

async function setup (t: Test, kind: Kind, rewrite: (request: FastifyRequest) => void, hook?: ProtectedRoutesOptions['hook']): Promise<Setup> {
  const verify = spyVerify({ alice, bob })
  const app = fresh(t)
  // Registered before the plugin, so it runs before the plugin's hook whichever hook that is.
  app.addHook('onRequest', async (request) => { rewrite(request) })
  await app.register(protectedRoutes, { ...(hook === undefined ? {} : { hook }), schemes: { main: kind.scheme(verify) } })
  let handled = 0
  app.get('/me', { config: { auth: true } }, async (request) => {
    handled++
    return { user: request.user }
  })
  return { app, verify, handled: () => handled }
}

for (const hook of [undefined, 'preHandler'] as const) {
  const label = hook === undefined ? 'default hook' : `hook: ${hook}`
  for (const [name, kind] of Object.entries(kinds)) {
    for (const [how, rewrite] of rewrites(kind)) {
      t.test(`${name}: a hook that ${how} to alice's credential does not change what is verified: bob's (${label})`, async (t) => {
        const { app, verify, handled } = await setup(t, kind, rewrite, hook)
        const res = await app.inject({ url: '/me', headers: { [kind.header]: kind.present('bob') } })
        t.equal(res.statusCode, 200, 'status')
        t.equal(res.headers['www-authenticate'], undefined, 'no challenge')
        t.same(res.json(), { user: bob }, "request.user is bob's")
        t.same(verify.calls, ['bob'], 'the verifier ran once, with what the client sent')
        t.equal(handled(), 1, 'the handler ran')
      })

      t.test(`${name}: a hook that ${how} cannot supply a credential the client never sent (${label})`, async (t) => {
        const { app, verify, handled } = await setup(t, kind, rewrite, hook)
        const res = await app.inject({ url: '/me' })
        t.equal(res.statusCode, 401, 'status')
        t.equal(res.headers['www-authenticate'], kind.challenge, 'challenge')
        t.same(res.json(), missing, 'body')
        t.same(verify.calls, [], 'the verifier never ran')
        t.equal(handled(), 0, 'the handler never runs')
      })

      t.test(`${name}: a hook that ${how} cannot dress up a malformed credential (${label})`, async (t) => {
        const { app, verify, handled } = await setup(t, kind, rewrite, hook)
        const res = await app.inject({ url: '/me', headers: { [kind.header]: kind.malformed.value } })
        t.equal(res.statusCode, 400, 'status')
        t.equal(res.headers['www-authenticate'], kind.malformed.challenge, 'challenge')
        t.same(res.json(), kind.malformed.body, 'body')
        t.same(verify.calls, [], 'the verifier never ran')
        t.equal(handled(), 0, 'the handler never runs')
      })
    }

    t.test(`${name}: a hook that deletes the header from request.raw.headers does not hide the credential (${label})`, async (t) => {
      const { app, verify, handled } = await setup(t, kind, (request) => { delete request.raw.headers[kind.header] }, hook)
      const res = await app.inject({ url: '/me', headers: { [kind.header]: kind.present('bob') } })
      t.equal(res.statusCode, 200, 'status')
      t.same(res.json(), { user: bob }, "request.user is bob's")
      t.same(verify.calls, ['bob'], 'the verifier ran once, with what the client sent')
      t.equal(handled(), 1, 'the handler ran')
    })
  }
}

t.test('over a real socket, a hook that rewrites the raw Authorization header does not change whose token is verified', async (t) => {
  const kind = kinds.bearer
  const { app, verify, handled } = await setup(t, kind, (request) => { request.raw.headers.authorization = 'Bearer alice' })
  const port = await listen(app)

  const res = await fetch(`http://127.0.0.1:${port}/me`, { headers: { authorization: 'Bearer bob' } })
  t.equal(res.status, 200, 'status')
  t.equal(res.headers.get('www-authenticate'), null, 'no challenge')
  t.same(await res.json(), { user: bob }, "request.user is bob's")
  t.same(verify.calls, ['bob'], 'the verifier ran once, with what the client sent')
  t.equal(handled(), 1)

  const none = await fetch(`http://127.0.0.1:${port}/me`)
  t.equal(none.status, 401, 'status without a credential')
  t.equal(none.headers.get('www-authenticate'), kind.challenge, 'challenge')
  t.same(await none.json(), missing, 'body')
  t.same(verify.calls, ['bob'], 'the verifier did not run again')
  t.equal(handled(), 1, 'the handler did not run again')
})

t.test('over a real socket, an X-Token hook rewrite does not change whose key is verified', async (t) => {
  const kind = kinds.apiKey
  const { app, verify, handled } = await setup(t, kind, (request) => { request.headers = { ...request.headers, 'x-token': 'alice' } })
  const port = await listen(app)
  const res = await fetch(`http://127.0.0.1:${port}/me`, { headers: { 'x-token': 'bob' } })
  t.equal(res.status, 200, 'status')
  t.same(await res.json(), { user: bob }, "request.user is bob's")
  t.same(verify.calls, ['bob'], 'the verifier ran once, with what the client sent')
  t.equal(handled(), 1)
})
