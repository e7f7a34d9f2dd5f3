import t, { type Test } from 'tap'
import type { FastifyInstance, RouteOptions } from 'fastify'
import protectedRoutes from '../../lib/index.js'
import { errorBody, fresh, spyVerify, type VerifySpy } from '../helpers/app.js'

// Regression: the plugin protected a route by prepending its verification hook to the
// route's own onRequest/preHandler array in onRoute, and its fallback guard skipped every
// route whose config carried the plugin's mark. Another onRoute hook that ran later (any
// plugin registered after this one) could replace the route's hook arrays, and the route
// then answered 200 to anyone; one that replaced or rewrote config.auth was ignored, since
// the decision had been taken from the config as it was when the plugin's onRoute ran.
// Verification is now one instance-level hook that reads the route's final config: no
// onRoute hook can remove it, and what config.auth says after every onRoute hook is what
// is enforced.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const good = { authorization: 'Bearer good' }

type Hook = 'onRequest' | 'preHandler'

interface Setup {
  app: FastifyInstance
  verify: VerifySpy
  handled: { count: number }
}

async function setup (t: Test, hook: Hook): Promise<Setup> {
  const verify = spyVerify({ good: { id: 'alice' } })
  const app = fresh(t)
  await app.register(protectedRoutes, { hook, schemes: { bearer: { type: 'bearer', verify } } })
  return { app, verify, handled: { count: 0 } }
}

function route ({ app, handled }: Setup, config?: RouteOptions['config']): void {
  app.get('/me', config === undefined ? {} : { config }, async (request) => {
    handled.count++
    return { user: request.user }
  })
}

async function expectProtected (t: Test, { app, verify, handled }: Setup): Promise<void> {
  const res = await app.inject('/me')
  t.equal(res.statusCode, 401, 'no credential: 401')
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"', 'the plain challenge')
  t.same(res.json(), missing, 'the MISSING_CREDENTIALS body')
  t.equal(handled.count, 0, 'the handler never ran without a credential')
  const refused = await app.inject({ url: '/me', headers: { authorization: 'Bearer bad' } })
  t.equal(refused.statusCode, 401, 'a refused token: 401')
  t.equal(refused.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"', 'the invalid_token challenge')
  t.same(refused.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token is invalid'), 'the INVALID_TOKEN body')
  t.equal(handled.count, 0, 'the handler never ran with a refused token')
  const ok = await app.inject({ url: '/me', headers: good })
  t.equal(ok.statusCode, 200, 'a valid credential: 200')
  t.same(ok.json(), { user: { id: 'alice' } }, 'the handler saw the verified user')
  t.equal(handled.count, 1, 'the handler ran once')
  t.same(verify.calls, ['bad', 'good'], 'each credential verified once')
}

for (const hook of ['onRequest', 'preHandler'] as const) {
  t.test(`an onRoute hook that replaces the route's hook arrays does not remove its protection (hook: '${hook}')`, async (t) => {
    const s = await setup(t, hook)
    let ran = 0
    s.app.addHook('onRoute', (r) => {
      r.preHandler = [(_request, _reply, done) => { ran++; done() }]
      r.onRequest = [(_request, _reply, done) => { ran++; done() }]
    })
    route(s, { auth: true })
    await expectProtected(t, s)
    // Under 'preHandler' the route's replacement onRequest hook is of an earlier phase, so it
    // runs for all three requests; its preHandler runs only for the admitted one.
    t.equal(ran, hook === 'onRequest' ? 2 : 4, 'the app\'s replacement hooks ran, after verification in the same phase')
  })

  t.test(`an onRoute hook that replaces the route's config with { auth: true } keeps it protected, verified once (hook: '${hook}')`, async (t) => {
    const s = await setup(t, hook)
    s.app.addHook('onRoute', (r) => { r.config = { auth: true } })
    route(s, { auth: true })
    await expectProtected(t, s)
  })

  t.test(`an onRoute hook after the plugin that adds auth: true to a route declared without it protects it (hook: '${hook}')`, async (t) => {
    const s = await setup(t, hook)
    s.app.addHook('onRoute', (r) => { r.config = { ...r.config, auth: true } })
    route(s)
    await expectProtected(t, s)
  })

  t.test(`an onRoute hook after the plugin that sets auth: false makes the route public (hook: '${hook}')`, async (t) => {
    const s = await setup(t, hook)
    s.app.addHook('onRoute', (r) => { r.config = { ...r.config, auth: false } })
    route(s, { auth: true })
    const res = await s.app.inject('/me')
    t.equal(res.statusCode, 200, 'the final config.auth: false wins')
    t.equal(res.headers['www-authenticate'], undefined, 'no challenge')
    t.same(res.json(), { user: null }, 'the handler ran with no user')
    t.equal(s.handled.count, 1, 'the handler ran once')
    t.same(s.verify.calls, [], 'no verifier ran on the public route')
  })
}
