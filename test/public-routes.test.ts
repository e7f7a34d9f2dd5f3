import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import protectedRoutes, { type ProtectedRoutesOptions } from '../lib/index.js'
import { errorBody, fresh, spyVerify, type VerifySpy } from './helpers/app.js'

// The `publicRoutes` option: path prefixes that stay public under protectByDefault (API
// docs, health checks), each covering the path itself and every route URL below it,
// matched on the route's declared URL (prefix included), for routes that do not set
// config.auth themselves. Entries are checked at boot.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')
const good = { authorization: 'Bearer good' }

/**
 * The plugin's options with `publicRoutes`. The option is not in ProtectedRoutesOptions
 * before the redesign, so the object is typed loosely and cast: this file compiles both
 * before and after it.
 */
function withPublicRoutes (verify: VerifySpy, publicRoutes: unknown): ProtectedRoutesOptions {
  const options: Record<string, unknown> = { protectByDefault: true, publicRoutes, schemes: { bearer: { type: 'bearer', verify } } }
  return options as unknown as ProtectedRoutesOptions
}

interface Counted {
  app: FastifyInstance
  verify: VerifySpy
  handled: Record<string, number>
  handler: (name: string) => () => Promise<{ route: string }>
}

function setup (t: Test): Counted {
  const handled: Record<string, number> = {}
  return {
    app: fresh(t),
    verify: spyVerify({ good: { id: 'alice' } }),
    handled,
    handler: (name) => async () => {
      handled[name] = (handled[name] ?? 0) + 1
      return { route: name }
    }
  }
}

async function expectPublic (t: Test, { app, verify, handled }: Counted, url: string, name: string): Promise<void> {
  const before = handled[name] ?? 0
  const res = await app.inject(url)
  t.equal(res.statusCode, 200, `${url} is public`)
  t.equal(res.headers['www-authenticate'], undefined)
  t.same(res.json(), { route: name })
  t.equal(handled[name], before + 1, `${url}: the handler ran`)
  t.same(verify.calls, [], `${url}: no verifier ran`)
}

async function expectProtected (t: Test, { app, verify, handled }: Counted, url: string, name: string): Promise<void> {
  verify.calls.length = 0
  const res = await app.inject(url)
  t.equal(res.statusCode, 401, `${url} without a credential`)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
  t.same(res.json(), missing)
  t.equal(handled[name], undefined, `${url}: the handler never ran`)
  const ok = await app.inject({ url, headers: good })
  t.equal(ok.statusCode, 200, `${url} with a credential`)
  t.same(ok.json(), { route: name })
  t.same(verify.calls, ['good'])
  verify.calls.length = 0
  handled[name] = 0
}

function declareRoutes ({ app, handler }: Counted): void {
  app.get('/documentation', handler('documentation'))
  app.get('/documentation/', handler('documentation/'))
  app.get('/documentation/json', handler('documentation/json'))
  app.get('/documentation/static/*', handler('documentation/static/*'))
  app.get('/documentation/secret', { config: { auth: true } }, handler('documentation/secret'))
  app.get('/documentationx', handler('documentationx'))
  app.get('/health', handler('health'))
  app.get('/health/live', handler('health/live'))
  app.get('/healthz', handler('healthz'))
  app.get('/items', handler('items'))
}

async function expectRule (t: Test, s: Counted): Promise<void> {
  await expectPublic(t, s, '/documentation', 'documentation')
  await expectPublic(t, s, '/documentation/', 'documentation/')
  await expectPublic(t, s, '/documentation/json', 'documentation/json')
  await expectPublic(t, s, '/documentation/static/swagger-ui.css', 'documentation/static/*')
  await expectPublic(t, s, '/health', 'health')
  await expectPublic(t, s, '/health/live', 'health/live')
  await expectProtected(t, s, '/documentationx', 'documentationx')
  await expectProtected(t, s, '/healthz', 'healthz')
  await expectProtected(t, s, '/documentation/secret', 'documentation/secret')
  await expectProtected(t, s, '/items', 'items')
}

t.test('publicRoutes entries and everything below them answer without a credential; neighbours and explicit auth do not', async (t) => {
  const s = setup(t)
  await s.app.register(protectedRoutes, withPublicRoutes(s.verify, ['/documentation', '/health']))
  declareRoutes(s)
  await expectRule(t, s)
})

t.test('a public route never runs the verifier, even when a credential is sent', async (t) => {
  const s = setup(t)
  await s.app.register(protectedRoutes, withPublicRoutes(s.verify, ['/health']))
  s.app.get('/health', s.handler('health'))
  const res = await s.app.inject({ url: '/health', headers: { authorization: 'Bearer bad' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['www-authenticate'], undefined)
  t.same(res.json(), { route: 'health' })
  t.same(s.verify.calls, [], 'the credential on a public route is not verified')
})

t.test('routes a plugin registers under a public prefix are public', async (t) => {
  const s = setup(t)
  await s.app.register(protectedRoutes, withPublicRoutes(s.verify, ['/documentation']))
  s.app.register(async function docs (docs) {
    docs.get('/', s.handler('docs /'))
    docs.get('/json', s.handler('docs /json'))
  }, { prefix: '/documentation' })
  s.app.register(async function api (api) {
    api.get('/json', s.handler('api /json'))
  }, { prefix: '/documentationx' })
  await s.app.ready()
  await expectPublic(t, s, '/documentation', 'docs /')
  await expectPublic(t, s, '/documentation/', 'docs /')
  await expectPublic(t, s, '/documentation/json', 'docs /json')
  await expectProtected(t, s, '/documentationx/json', 'api /json')
})

t.test('routes declared before the plugin loaded follow the same rule', async (t) => {
  const s = setup(t)
  declareRoutes(s)
  await s.app.register(protectedRoutes, withPublicRoutes(s.verify, ['/documentation', '/health']))
  await expectRule(t, s)
})

const invalid: Array<[string, unknown]> = [
  ['an entry that is not a string', [42]],
  ['an empty entry', ['']],
  ['an entry without a leading /', ['documentation']],
  ['an entry with a trailing /', ['/documentation/']],
  ['the root path itself', ['/']],
  ['an entry with a wildcard', ['/documentation/*']],
  ['an entry with a parameter', ['/users/:id']],
  ['an entry with a query', ['/documentation?x=1']],
  ['an entry with a fragment', ['/documentation#top']],
  ['an entry with a space', ['/api docs']],
  ['an entry with a tab', ['/api\tdocs']],
  ['an entry with a trailing newline', ['/documentation\n']],
  ['the same entry twice', ['/health', '/documentation', '/health']]
]

for (const [what, publicRoutes] of invalid) {
  t.test(`${what} in publicRoutes fails the boot`, async (t) => {
    const verify = spyVerify({})
    // The same options with valid entries boot: the refusal is about this entry.
    const control = fresh(t)
    await t.resolves(async () => { await control.register(protectedRoutes, withPublicRoutes(verify, ['/documentation', '/health'])) },
      'a valid publicRoutes list boots')
    const app = fresh(t)
    await t.rejects(async () => { await app.register(protectedRoutes, withPublicRoutes(verify, publicRoutes)) }, {
      code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
      message: /publicRoutes/
    })
  })
}

for (const order of ['plugin first', 'swagger first'] as const) {
  t.test(`with @fastify/swagger-ui under protectByDefault, publicRoutes keeps the docs open and the API closed (${order})`, async (t) => {
    const verify = spyVerify({ good: { id: 'alice' } })
    const app = fresh(t)
    const registerPlugin = async (): Promise<void> => { await app.register(protectedRoutes, withPublicRoutes(verify, ['/documentation'])) }
    const registerSwagger = async (): Promise<void> => {
      await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 'test', version: '1.0.0' } } })
      await app.register(swaggerUi)
    }
    if (order === 'plugin first') {
      await registerPlugin()
      await registerSwagger()
    } else {
      await registerSwagger()
      await registerPlugin()
    }
    let handled = 0
    app.get('/items', async () => { handled++; return ['item'] })
    await app.ready()

    const json = await app.inject('/documentation/json')
    t.equal(json.statusCode, 200, 'the document is public')
    t.equal(json.headers['www-authenticate'], undefined)
    t.match(json.json(), { openapi: '3.1.0', paths: { '/items': { get: {} } } })
    const yaml = await app.inject('/documentation/yaml')
    t.equal(yaml.statusCode, 200, 'the YAML document is public')
    const ui = await app.inject('/documentation/')
    t.equal(ui.statusCode, 200, 'the UI page is public')
    t.match(ui.headers['content-type'], /^text\/html/)
    t.same(verify.calls, [], 'no verifier ran for the docs')

    const items = await app.inject('/items')
    t.equal(items.statusCode, 401, 'an API route still needs a credential')
    t.equal(items.headers['www-authenticate'], 'Bearer realm="api"')
    t.same(items.json(), missing)
    t.equal(handled, 0)
    const ok = await app.inject({ url: '/items', headers: good })
    t.equal(ok.statusCode, 200)
    t.same(ok.json(), ['item'])
    t.same(verify.calls, ['good'])
  })
}
