import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import protectedRoutes, { type ProtectedRoutesOptions } from '../../lib/index.js'
import { errorBody, fresh, spyVerify, type VerifySpy } from '../helpers/app.js'

// Regression: the plugin verified in preHandler by default, after the body was parsed and
// validated. A request with no credential to a protected POST route had its body parsed by
// the app's parsers and got 400 FST_ERR_VALIDATION, whose message tells anyone which fields
// the route's schema requires or refuses, or a parser error; only a valid body reached the
// 401. The default hook is now 'onRequest': an unauthenticated request is refused before
// its body is read. `hook: 'preHandler'` stays available for apps that want the old order
// (validation first), and is pinned here too.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const invalidToken = errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid')
const invalidChallenge = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'
const missingName = errorBody(400, 'FST_ERR_VALIDATION', "body must have required property 'name'")
const notJson = errorBody(400, 'FST_ERR_CTP_INVALID_JSON_BODY', "Body is not valid JSON but content-type is set to 'application/json'")

const json = { 'content-type': 'application/json' }
const good = { ...json, authorization: 'Bearer good' }

interface Setup {
  app: FastifyInstance
  verify: VerifySpy
  parsed: { count: number }
  handled: { count: number }
}

/** A protected POST /items with a strict body schema, and a JSON parser that counts the bodies it parses. */
async function setup (t: Test, extra: Partial<ProtectedRoutesOptions> = {}): Promise<Setup> {
  const verify = spyVerify({ good: { id: 'alice' } })
  const parsed = { count: 0 }
  const handled = { count: 0 }
  const app = fresh(t)
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    parsed.count++
    try {
      done(null, JSON.parse(body as string))
    } catch {
      const err = Object.assign(new Error("Body is not valid JSON but content-type is set to 'application/json'"),
        { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' })
      done(err, undefined)
    }
  })
  await app.register(protectedRoutes, { ...extra, schemes: { bearer: { type: 'bearer', verify } } })
  app.post('/items', {
    config: { auth: true },
    schema: {
      body: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' } },
        additionalProperties: false
      }
    }
  }, async (request) => {
    handled.count++
    return { created: request.body, user: request.user }
  })
  return { app, verify, parsed, handled }
}

const bodies: Array<[string, string]> = [
  ['an invalid body', JSON.stringify({ secretField: 1 })],
  ['a body that is not JSON', '{"name": '],
  ['a valid body', JSON.stringify({ name: 'widget' })]
]

for (const [what, payload] of bodies) {
  t.test(`by default, no credential and ${what} gets 401 before the body is parsed or validated`, async (t) => {
    const { app, verify, parsed, handled } = await setup(t)
    const res = await app.inject({ method: 'POST', url: '/items', headers: json, payload })
    t.equal(res.statusCode, 401, 'the plugin\'s 401, not a 400 that reveals the schema')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api"', 'the plain challenge')
    t.same(res.json(), missing, 'the MISSING_CREDENTIALS body')
    t.equal(parsed.count, 0, 'the body was never parsed')
    t.equal(handled.count, 0, 'the handler never ran')
    t.same(verify.calls, [])
  })
}

t.test('by default, a refused token and an invalid body gets 401 invalid_token before the body is parsed', async (t) => {
  const { app, verify, parsed, handled } = await setup(t)
  const res = await app.inject({ method: 'POST', url: '/items', headers: { ...json, authorization: 'Bearer bad' }, payload: bodies[0]![1] })
  t.equal(res.statusCode, 401, 'the plugin\'s 401, not a 400')
  t.equal(res.headers['www-authenticate'], invalidChallenge, 'the invalid_token challenge')
  t.same(res.json(), invalidToken, 'the INVALID_TOKEN body')
  t.equal(parsed.count, 0, 'the body was never parsed')
  t.equal(handled.count, 0, 'the handler never ran')
  t.same(verify.calls, ['bad'], 'the token was verified once')
})

t.test('by default, a valid token and an invalid body still gets the usual 400 validation error', async (t) => {
  const { app, verify, parsed, handled } = await setup(t)
  const res = await app.inject({ method: 'POST', url: '/items', headers: good, payload: bodies[0]![1] })
  t.equal(res.statusCode, 400)
  t.equal(res.headers['www-authenticate'], undefined, 'no challenge on a validation error')
  t.same(res.json(), missingName, 'Fastify\'s validation body')
  t.equal(parsed.count, 1, 'the body was parsed after verification')
  t.equal(handled.count, 0, 'the handler never ran')
  t.same(verify.calls, ['good'], 'verified once, before the body was read')

  const ok = await app.inject({ method: 'POST', url: '/items', headers: good, payload: bodies[2]![1] })
  t.equal(ok.statusCode, 200, 'a valid token and a valid body: 200')
  t.same(ok.json(), { created: { name: 'widget' }, user: { id: 'alice' } })
  t.equal(parsed.count, 2)
  t.equal(handled.count, 1)
})

t.test('with hook: \'preHandler\', the body is parsed and validated before verification, as before', async (t) => {
  const { app, verify, parsed, handled } = await setup(t, { hook: 'preHandler' })
  const invalid = await app.inject({ method: 'POST', url: '/items', headers: json, payload: bodies[0]![1] })
  t.equal(invalid.statusCode, 400, 'no credential and an invalid body: validation answers first')
  t.equal(invalid.headers['www-authenticate'], undefined)
  t.same(invalid.json(), missingName)
  t.equal(parsed.count, 1, 'the body was parsed')

  const broken = await app.inject({ method: 'POST', url: '/items', headers: json, payload: bodies[1]![1] })
  t.equal(broken.statusCode, 400, 'no credential and a body that is not JSON: the parser answers first')
  t.equal(broken.headers['www-authenticate'], undefined)
  t.same(broken.json(), notJson)
  t.equal(parsed.count, 2)

  const valid = await app.inject({ method: 'POST', url: '/items', headers: json, payload: bodies[2]![1] })
  t.equal(valid.statusCode, 401, 'no credential and a valid body: the plugin\'s 401')
  t.equal(valid.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(valid.json(), missing)
  t.equal(parsed.count, 3)

  const ok = await app.inject({ method: 'POST', url: '/items', headers: good, payload: bodies[2]![1] })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { created: { name: 'widget' }, user: { id: 'alice' } })
  t.equal(handled.count, 1, 'only the authenticated valid request reached the handler')
  t.same(verify.calls, ['good'], 'the verifier ran only for the request that sent a token')
})
