import t, { type Test } from 'tap'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ProtectedRoutesOptions, RouteAuthConfig } from '../../lib/index.js'
import protectedRoutes from '../../lib/index.js'
import { errorBody, fresh, spyVerify, type VerifySpy } from '../helpers/app.js'

// Regression: a query API key was read from `request.query`, which is not what the client
// sent. With hook: 'preHandler' the route's querystring schema has already run, and Fastify's
// default Ajv (removeAdditional) strips a parameter the schema does not list: a wrong key next
// to a good bearer token vanished (the bad credential was masked and the request went
// through), a wrong key on an optional route became an anonymous 200, a good key alone became
// a 401, and a repeated key was never seen. Any hook before the plugin could also rewrite
// `request.query` and choose the key that got verified. The key is now read from the raw URL,
// percent-decoded, once.

const bearerChallenge = 'Bearer realm="api"'
const keyChallenge = 'ApiKey realm="api", in="query", name="api_key"'
const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const keyRefused = errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The API key is invalid')
const keyRefusedChallenges = [bearerChallenge, `${keyChallenge}, error="invalid_token", error_description="The API key is invalid"`]
const duplicate = errorBody(400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST', 'The API key was sent more than once')
const duplicateChallenge = `${keyChallenge}, error="invalid_request", error_description="The API key was sent more than once"`

const alice = { id: 'alice' }
const kay = { id: 'kay' }

// Lists only `page`: Ajv removes every other parameter (api_key among them) before preHandler.
const querystring = {
  type: 'object',
  properties: { page: { type: 'string' } },
  additionalProperties: false
} as const

interface Setup {
  app: FastifyInstance
  bearer: VerifySpy
  key: VerifySpy
  handled: () => number
}

interface SetupOptions {
  hook?: ProtectedRoutesOptions['hook']
  auth?: RouteAuthConfig
  schema?: boolean
  /** An app-level onRequest hook added before the plugin. */
  before?: (request: FastifyRequest) => void
}

async function setup (t: Test, { hook, auth = true, schema = true, before }: SetupOptions): Promise<Setup> {
  const bearer = spyVerify({ 'bearer-good': alice })
  const key = spyVerify({ GOOD: kay })
  const options: ProtectedRoutesOptions = {
    ...(hook === undefined ? {} : { hook }),
    schemes: {
      bearer: { type: 'bearer', verify: bearer },
      key: { type: 'apiKey', in: 'query', name: 'api_key', verify: key }
    }
  }
  const app = fresh(t)
  if (before !== undefined) app.addHook('onRequest', async (request) => { before(request) })
  await app.register(protectedRoutes, options)
  let handled = 0
  app.get('/items', {
    ...(schema ? { schema: { querystring } } : {}),
    config: { auth }
  }, async (request) => {
    handled++
    return { user: request.user, scheme: request.auth?.scheme ?? null }
  })
  return { app, bearer, key, handled: () => handled }
}

t.test('a wrong query key beside a good bearer token is refused with 401, not masked by the schema (hook: preHandler)', async (t) => {
  const { app, key, handled } = await setup(t, { hook: 'preHandler' })
  const res = await app.inject({ url: '/items?api_key=WRONG', headers: { authorization: 'Bearer bearer-good' } })
  t.equal(res.statusCode, 401, 'status')
  t.same(res.headers['www-authenticate'], keyRefusedChallenges, 'challenge')
  t.same(res.json(), keyRefused, 'body')
  t.same(key.calls, ['WRONG'], 'the key the client sent was verified')
  t.equal(handled(), 0, 'the handler never runs')
})

t.test('a wrong query key alone on an optional route is refused with 401, not let in anonymously (hook: preHandler)', async (t) => {
  const { app, bearer, key, handled } = await setup(t, { hook: 'preHandler', auth: { optional: true } })
  const res = await app.inject({ url: '/items?api_key=WRONG' })
  t.equal(res.statusCode, 401, 'status')
  t.same(res.headers['www-authenticate'], keyRefusedChallenges, 'challenge')
  t.same(res.json(), keyRefused, 'body')
  t.same(key.calls, ['WRONG'], 'the key verifier calls')
  t.same(bearer.calls, [], 'the bearer verifier never ran')
  t.equal(handled(), 0, 'the handler never runs')
})

t.test('a good query key alone is accepted although the schema strips it (hook: preHandler)', async (t) => {
  const { app, bearer, key, handled } = await setup(t, { hook: 'preHandler' })
  const res = await app.inject({ url: '/items?api_key=GOOD&page=2' })
  t.equal(res.statusCode, 200, 'status')
  t.equal(res.headers['www-authenticate'], undefined, 'challenge')
  t.same(res.json(), { user: kay, scheme: 'key' }, 'body')
  t.same(key.calls, ['GOOD'], 'the key verifier calls')
  t.same(bearer.calls, [], 'the bearer verifier never ran')
  t.equal(handled(), 1, 'the handler ran')
})

t.test('a query key sent twice is refused with 400 although the schema strips it (hook: preHandler)', async (t) => {
  const { app, bearer, key, handled } = await setup(t, { hook: 'preHandler' })
  const res = await app.inject({ url: '/items?api_key=a&api_key=b' })
  t.equal(res.statusCode, 400, 'status')
  t.equal(res.headers['www-authenticate'], duplicateChallenge, 'challenge')
  t.same(res.json(), duplicate, 'body')
  t.same(key.calls, [], 'no verifier runs on a malformed request')
  t.same(bearer.calls, [], 'the bearer verifier never ran')
  t.equal(handled(), 0, 'the handler never runs')
})

for (const hook of [undefined, 'preHandler'] as const) {
  const label = hook === undefined ? 'default hook' : `hook: ${hook}`

  t.test(`a percent-encoded query key is verified decoded (${label}, with the stripping schema)`, async (t) => {
    const { app, key, handled } = await setup(t, { ...(hook === undefined ? {} : { hook }) })
    const res = await app.inject({ url: '/items?api_key=GO%4FD' })
    t.equal(res.statusCode, 200, 'status')
    t.same(res.json(), { user: kay, scheme: 'key' }, 'body')
    t.same(key.calls, ['GOOD'], 'the key verifier calls')
    t.equal(handled(), 1, 'the handler ran')
  })

  t.test(`a percent-encoded query key is verified decoded (${label}, no schema)`, async (t) => {
    const { app, key, handled } = await setup(t, { ...(hook === undefined ? {} : { hook }), schema: false })
    const res = await app.inject({ url: '/items?api_key=GO%4FD' })
    t.equal(res.statusCode, 200, 'status')
    t.same(res.json(), { user: kay, scheme: 'key' }, 'body')
    t.same(key.calls, ['GOOD'], 'the key verifier calls')
    t.equal(handled(), 1, 'the handler ran')
  })

  // Ways an earlier onRequest hook can change what `request.query` says.
  const rewrites: Array<[string, (request: FastifyRequest) => void]> = [
    ['replaces request.query', (request) => { request.query = { ...(request.query as object), api_key: 'GOOD' } }],
    ['mutates request.query', (request) => { (request.query as Record<string, unknown>).api_key = 'GOOD' }]
  ]
  for (const [how, before] of rewrites) {
    t.test(`a hook before the plugin that ${how} does not choose the key that is verified (${label})`, async (t) => {
      const { app, key, handled } = await setup(t, { ...(hook === undefined ? {} : { hook }), schema: false, before })
      const res = await app.inject({ url: '/items?api_key=WRONG' })
      t.equal(res.statusCode, 401, 'status')
      t.same(res.headers['www-authenticate'], keyRefusedChallenges, 'challenge')
      t.same(res.json(), keyRefused, 'body')
      t.same(key.calls, ['WRONG'], 'the key the client sent is what is verified, once')
      t.equal(handled(), 0, 'the handler never runs')
    })

    t.test(`a hook before the plugin that ${how} cannot supply a key the client never sent (${label})`, async (t) => {
      const { app, bearer, key, handled } = await setup(t, { ...(hook === undefined ? {} : { hook }), schema: false, before })
      const res = await app.inject({ url: '/items' })
      t.equal(res.statusCode, 401, 'status')
      t.same(res.headers['www-authenticate'], [bearerChallenge, keyChallenge], 'challenge')
      t.same(res.json(), missing, 'body')
      t.same(key.calls, [], 'no verifier runs')
      t.same(bearer.calls, [], 'the bearer verifier never ran')
      t.equal(handled(), 0, 'the handler never runs')
    })
  }

  t.test(`a hook before the plugin that deletes the key from request.query does not hide it (${label})`, async (t) => {
    const { app, key, handled } = await setup(t, {
      ...(hook === undefined ? {} : { hook }),
      schema: false,
      before: (request) => { delete (request.query as Record<string, unknown>).api_key }
    })
    const res = await app.inject({ url: '/items?api_key=GOOD' })
    t.equal(res.statusCode, 200, 'status')
    t.same(res.json(), { user: kay, scheme: 'key' }, 'body')
    t.same(key.calls, ['GOOD'], 'the key verifier calls')
    t.equal(handled(), 1, 'the handler ran')
  })
}
