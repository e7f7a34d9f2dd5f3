import t, { type Test } from 'tap'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import protectedRoutes, { type ProtectedRoutesOptions } from '../../lib/index.js'
import { errorBody, fresh, spyVerify, type VerifySpy } from '../helpers/app.js'

// Regression: the plugin verified in a hook prepended to each protected route's own hook
// array, and Fastify runs a route's own hooks after every instance-level hook of the same
// phase. So the app's hooks (the @fastify/autoload `autohooks` pattern, or app.addHook after
// the plugin) ran before verification: they saw `request.user === null` on every request,
// and a hook that refuses users it cannot see answered 403 where the plugin would have
// answered 401 with its challenge, and refused valid users too.
//
// Verification is now one instance-level hook added where the plugin is registered, in the
// `hook` phase (default 'onRequest'). Hooks of that phase added after the plugin (in its
// context or in child contexts registered after it) and hooks of every later phase run
// after verification and see the verified user; a refused request never reaches them.
// What still runs BEFORE verification, and sees `request.user === null`:
// - hooks added before the plugin in the plugin's own context (Fastify runs a context's
//   hooks in the order they were added);
// - hooks of contexts registered before the plugin: Fastify appends a hook added to a
//   context to its existing children after their own hooks, so a child context that
//   loaded first runs its hooks before the plugin's (and the hooks of a parent context
//   run before those of the child the plugin is registered in);
// - hooks of an earlier phase than the plugin's: with `hook: 'preHandler'`, every onRequest,
//   preParsing and preValidation hook.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const invalid = errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid')
const invalidChallenge = 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"'
const alice = { id: 'alice' }

type Seen = Array<[string, unknown]>

/** An app hook that records the user it sees and, like an app's own guard, refuses a request it sees no user on. */
function refusingHook (seen: Seen, name: string) {
  return async function appHook (request: FastifyRequest, reply: FastifyReply) {
    seen.push([name, request.user])
    if (request.user === null) return reply.code(403).send({ refusedBy: name })
  }
}

interface Setup {
  app: FastifyInstance
  verify: VerifySpy
  seen: Seen
  handled: { count: number }
}

async function setup (t: Test, extra: Partial<ProtectedRoutesOptions> = {}): Promise<Setup> {
  const verify = spyVerify({ good: alice })
  const app = fresh(t)
  await app.register(protectedRoutes, { ...extra, schemes: { bearer: { type: 'bearer', verify } } })
  return { app, verify, seen: [], handled: { count: 0 } }
}

function meRoute ({ handled }: Setup) {
  return async (request: FastifyRequest) => {
    handled.count++
    return { user: request.user }
  }
}

/** Without a credential and with a refused one: the plugin's 401s, and the refusing app hooks never ran. */
async function expectRefusedBeforeAppHooks (t: Test, { app, seen, handled }: Setup, url: string, before: Seen = []): Promise<void> {
  const res = await app.inject(url)
  t.equal(res.statusCode, 401, 'no credential: the plugin\'s 401, not an app hook\'s 403')
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"', 'the plugin\'s challenge')
  t.same(res.json(), missing, 'the MISSING_CREDENTIALS body')
  const refused = await app.inject({ url, headers: { authorization: 'Bearer bad' } })
  t.equal(refused.statusCode, 401, 'a refused token: the plugin\'s 401')
  t.equal(refused.headers['www-authenticate'], invalidChallenge, 'the invalid_token challenge')
  t.same(refused.json(), invalid, 'the INVALID_TOKEN body')
  t.same(seen, before, 'the app hooks after verification never ran for refused requests')
  t.equal(handled.count, 0, 'the handler never ran')
  seen.length = 0
}

async function expectAdmitted (t: Test, { app, verify, seen, handled }: Setup, url: string, expected: Seen): Promise<void> {
  verify.calls.length = 0
  const ok = await app.inject({ url, headers: { authorization: 'Bearer good' } })
  t.equal(ok.statusCode, 200, 'a valid token: 200')
  t.equal(ok.headers['www-authenticate'], undefined, 'no challenge')
  t.same(ok.json(), { user: alice }, 'the handler saw the verified user')
  t.same(seen, expected, 'each app hook saw the verified user')
  t.equal(handled.count, 1, 'the handler ran once')
  t.same(verify.calls, ['good'], 'verified once')
}

t.test('hooks of a child context registered after the plugin (autohooks) see the verified user; refused requests never reach them', async (t) => {
  const s = await setup(t)
  s.app.register(async function autohooks (child) {
    child.addHook('onRequest', refusingHook(s.seen, 'child onRequest'))
    child.addHook('preHandler', refusingHook(s.seen, 'child preHandler'))
    child.get('/me', { config: { auth: true } }, meRoute(s))
  })
  await s.app.ready()
  await expectRefusedBeforeAppHooks(t, s, '/me')
  await expectAdmitted(t, s, '/me', [['child onRequest', alice], ['child preHandler', alice]])
})

t.test('hooks added at the root after the plugin see the verified user; refused requests never reach them', async (t) => {
  const s = await setup(t)
  s.app.addHook('onRequest', refusingHook(s.seen, 'root onRequest'))
  s.app.addHook('preHandler', refusingHook(s.seen, 'root preHandler'))
  s.app.get('/me', { config: { auth: true } }, meRoute(s))
  await s.app.ready()
  await expectRefusedBeforeAppHooks(t, s, '/me')
  await expectAdmitted(t, s, '/me', [['root onRequest', alice], ['root preHandler', alice]])
})

t.test('with hook: \'preHandler\', app preHandler hooks added after the plugin see the user; onRequest hooks run before verification', async (t) => {
  const s = await setup(t, { hook: 'preHandler' })
  // An earlier phase than the plugin's: it runs on every request, before verification.
  s.app.addHook('onRequest', async (request) => { s.seen.push(['root onRequest', request.user]) })
  s.app.addHook('preHandler', refusingHook(s.seen, 'root preHandler'))
  s.app.register(async function autohooks (child) {
    child.addHook('preHandler', refusingHook(s.seen, 'child preHandler'))
    child.get('/me', { config: { auth: true } }, meRoute(s))
  })
  await s.app.ready()
  await expectRefusedBeforeAppHooks(t, s, '/me', [['root onRequest', null], ['root onRequest', null]])
  await expectAdmitted(t, s, '/me', [['root onRequest', null], ['root preHandler', alice], ['child preHandler', alice]])
})
