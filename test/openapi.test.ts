import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import swagger, { type SwaggerOptions } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Validator } from '@seriousme/openapi-schema-validator'
import protectedRoutes, { type ProtectedRoutesOptions } from '../lib/index.js'

// What the document says about this plugin's routes when @fastify/swagger is registered.

type Json = Record<string, any>

interface Teardown {
  teardown: (fn: () => unknown) => void
}

const TAG = 'x-fastify-protected-routes'

const twoSchemes: ProtectedRoutesOptions['schemes'] = {
  bearerAuth: { type: 'bearer', tokens: { 'alice-token': { username: 'alice', scopes: ['items:read'] } } },
  tokenHeader: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { 'key-1': { username: 'service' } } }
}

const openapi31: SwaggerOptions = { openapi: { openapi: '3.1.0', info: { title: 'test', version: '1.0.0' } } }

interface Setup {
  order?: 'swagger first' | 'plugin first'
  swagger?: SwaggerOptions
  ui?: boolean
  plugin?: Partial<ProtectedRoutesOptions>
  routes?: (app: FastifyInstance) => void
}

async function build (t: Teardown, setup: Setup = {}): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  const registerSwagger = async (): Promise<void> => {
    await app.register(swagger, setup.swagger ?? openapi31)
    if (setup.ui === true) await app.register(swaggerUi)
  }
  const registerPlugin = async (): Promise<void> => {
    await app.register(protectedRoutes, { schemes: twoSchemes, ...setup.plugin })
  }
  if (setup.order === 'plugin first') {
    await registerPlugin()
    await registerSwagger()
  } else {
    await registerSwagger()
    await registerPlugin()
  }
  ;(setup.routes ?? everyForm)(app)
  await app.ready()
  return app
}

const ok = async (): Promise<string> => 'ok'

/** One route per form of config.auth. */
function everyForm (app: FastifyInstance): void {
  app.get('/public', ok)
  app.get('/off', { config: { auth: false } }, ok)
  app.get('/any', { config: { auth: true } }, ok)
  app.get('/header-only', { config: { auth: { schemes: ['tokenHeader'] } } }, ok)
  app.get('/scoped', { config: { auth: { scopes: ['items:read', 'items:write'] } } }, ok)
  app.get('/optional', { config: { auth: { optional: true } } }, ok)
  app.get('/authorized', { config: { auth: { authorize: () => true } } }, ok)
  app.route({ method: ['POST', 'PUT'], url: '/items/:id', config: { auth: { schemes: ['bearerAuth'], scopes: ['items:write'] } }, handler: ok })
  app.get('/hidden', { config: { auth: true }, schema: { hide: true } }, ok)
}

function document (app: FastifyInstance): Json {
  return app.swagger() as unknown as Json
}

const errorBody = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' }
  }
}
const challengeHeader = {
  'WWW-Authenticate': {
    description: 'The challenge (RFC 6750 §3); a 401 has one per scheme the route accepts',
    schema: { type: 'string' }
  }
}

function refusal (description: string): Json {
  return { description, headers: challengeHeader, content: { 'application/json': { schema: errorBody } } }
}

const badRequest = 'Bad Request, e.g. a malformed credential (FST_PROTECTED_ROUTES_INVALID_REQUEST)'
const unauthorized = 'Unauthorized: no credential (FST_PROTECTED_ROUTES_MISSING_CREDENTIALS) or an invalid one (FST_PROTECTED_ROUTES_INVALID_TOKEN)'

/** Validates with a real OpenAPI validator: its verdict (errors included when invalid) and the validator. */
async function validate (spec: Json | string): Promise<[Awaited<ReturnType<Validator['validate']>>, Validator]> {
  const validator = new Validator()
  return [await validator.validate(spec), validator]
}

t.test('a protected route documents its schemes as alternatives and its refusals, with the error body', async (t) => {
  const app = await build(t)
  t.same(document(app).paths['/any'], {
    get: {
      responses: {
        200: { description: 'Default Response' },
        400: refusal(badRequest),
        401: refusal(unauthorized)
      },
      security: [{ bearerAuth: [] }, { tokenHeader: [] }]
    }
  })
})

t.test('every form of config.auth gives its security requirements and refusals', async (t) => {
  const paths = document(await build(t)).paths

  for (const url of ['/public', '/off']) {
    t.same(paths[url].get, { responses: { 200: { description: 'Default Response' } } }, `${url} says nothing about auth`)
  }
  t.same(paths['/header-only'].get.security, [{ tokenHeader: [] }], 'only the schemes the route accepts')

  const scoped = paths['/scoped'].get
  t.same(scoped.security, [{ bearerAuth: ['items:read', 'items:write'] }, { tokenHeader: ['items:read', 'items:write'] }], 'the scopes in each alternative (OpenAPI 3.1)')
  t.same(Object.keys(scoped.responses), ['200', '400', '401', '403'])
  t.same(scoped.responses[403], refusal('Forbidden: a required scope is missing, of items:read, items:write (FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE)'))

  const optional = paths['/optional'].get
  t.same(optional.security, [{ bearerAuth: [] }, { tokenHeader: [] }, {}], 'an optional route also accepts no credential')
  t.same(optional.responses[401], refusal('Unauthorized: an invalid credential (FST_PROTECTED_ROUTES_INVALID_TOKEN); a request without one is let through'))
  t.same(Object.keys(optional.responses), ['200', '400', '401'], 'no 403 without scopes or authorize')

  t.same(paths['/authorized'].get.responses[403], refusal('Forbidden: the route refused the user (FST_PROTECTED_ROUTES_ACCESS_DENIED)'))

  for (const method of ['post', 'put']) {
    t.same(paths['/items/{id}'][method].security, [{ bearerAuth: ['items:write'] }], `${method} of a multi-method route`)
  }
  t.notOk(paths['/hidden'], 'a hidden route stays hidden')
  t.notOk(JSON.stringify(paths).includes(TAG), 'no trace of the build')
})

t.test('either registration order gives the same document', async (t) => {
  const swaggerFirst = document(await build(t, { order: 'swagger first' }))
  const pluginFirst = document(await build(t, { order: 'plugin first' }))
  t.same(pluginFirst, swaggerFirst)
  t.same(swaggerFirst.paths['/any'].get.security, [{ bearerAuth: [] }, { tokenHeader: [] }])
  t.same(Object.keys(swaggerFirst.components.securitySchemes), ['bearerAuth', 'tokenHeader'])
})

t.test('under protectByDefault, public routes say security: [] and the rest are protected', async (t) => {
  const app = await build(t, {
    plugin: { protectByDefault: true },
    routes (app) {
      app.get('/implicit', ok)
      app.get('/off', { config: { auth: false } }, ok)
      app.options('/preflight', ok)
    }
  })
  const paths = document(app).paths
  t.same(paths['/implicit'].get.security, [{ bearerAuth: [] }, { tokenHeader: [] }])
  t.same(Object.keys(paths['/implicit'].get.responses), ['200', '400', '401'])
  t.same(paths['/off'].get, { responses: { 200: { description: 'Default Response' } }, security: [] })
  // Protected like any route: only CORS preflights to it (which no OpenAPI client sends) pass.
  t.same(paths['/preflight'].options.security, [{ bearerAuth: [] }, { tokenHeader: [] }], 'an OPTIONS-only route is protected too')
  t.same(Object.keys(paths['/preflight'].options.responses), ['200', '400', '401'])
})

t.test('a hand-written schema.security is left as written, and its schema object untouched', async (t) => {
  const namingOurs = { security: [{ bearerAuth: ['custom'] }] }
  const publicNamingOurs = { security: [{ tokenHeader: [] }, {}] }
  const namingTheApps = { security: [{ partnerAuth: [] }] }
  const app = await build(t, {
    swagger: {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'test', version: '1.0.0' },
        components: { securitySchemes: { partnerAuth: { type: 'http', scheme: 'basic' } } }
      }
    },
    routes (app) {
      app.get('/ours', { config: { auth: true }, schema: namingOurs }, ok)
      app.get('/public', { schema: publicNamingOurs }, ok)
      app.get('/theirs', { config: { auth: true }, schema: namingTheApps }, ok)
    }
  })
  const paths = document(app).paths
  t.same(paths['/ours'].get.security, [{ bearerAuth: ['custom'] }])
  t.same(Object.keys(paths['/ours'].get.responses), ['200', '400', '401'], 'the refusals are still documented')
  t.same(paths['/public'].get, { responses: { 200: { description: 'Default Response' } }, security: [{ tokenHeader: [] }, {}] })
  t.same(paths['/theirs'].get.security, [{ partnerAuth: [] }])
  t.same(Object.keys(document(app).components.securitySchemes), ['partnerAuth', 'bearerAuth', 'tokenHeader'])

  // (Fastify marks the schemas it compiled with a symbol of its own: compare the JSON.)
  t.same(JSON.parse(JSON.stringify(namingOurs)), { security: [{ bearerAuth: ['custom'] }] }, 'the schema objects are never written to')
  t.same(JSON.parse(JSON.stringify(publicNamingOurs)), { security: [{ tokenHeader: [] }, {}] })
  t.same(JSON.parse(JSON.stringify(namingTheApps)), { security: [{ partnerAuth: [] }] })
})

t.test('responses a route declares stay as declared', async (t) => {
  const app = await build(t, {
    routes (app) {
      app.get('/declared', {
        config: { auth: { scopes: ['items:read'] } },
        schema: {
          response: {
            200: { type: 'object', properties: { ok: { type: 'boolean' } } },
            401: { description: 'Our own 401', type: 'object', properties: { reason: { type: 'string' } } }
          }
        }
      }, async () => ({ ok: true }))
      app.get('/range', { config: { auth: true }, schema: { response: { '4xx': { description: 'Any client error', type: 'object' } } } }, ok)
    }
  })
  const paths = document(app).paths
  const declared = paths['/declared'].get.responses
  t.same(Object.keys(declared), ['200', '400', '401', '403'])
  t.same(declared[200], { description: 'Default Response', content: { 'application/json': { schema: { type: 'object', properties: { ok: { type: 'boolean' } } } } } })
  t.same(declared[401], { description: 'Our own 401', content: { 'application/json': { schema: { description: 'Our own 401', type: 'object', properties: { reason: { type: 'string' } } } } } })
  t.same(Object.keys(paths['/range'].get.responses), ['4XX'], 'a 4XX range covers the refusals')
})

t.test('the documented responses do not change what the app\'s error handler sends', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, openapi31)
  await app.register(protectedRoutes, { schemes: twoSchemes })
  app.setErrorHandler((error: Error & { code?: string, statusCode?: number }, _request, reply) => {
    reply.code(error.statusCode ?? 500).send({ problem: error.code, statusCode: 'not a number', extra: [1] })
  })
  app.get('/any', { config: { auth: true } }, ok)
  await app.ready()
  t.ok(document(app).paths['/any'].get.responses[401], 'documented')
  const res = await app.inject('/any')
  t.equal(res.statusCode, 401)
  t.same(res.headers['www-authenticate'], ['Bearer realm="api"', 'ApiKey realm="api", in="header", name="X-Token"'])
  t.same(res.json(), { problem: 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', statusCode: 'not a number', extra: [1] })
})

const jwt = { secret: 'a-secret-of-at-least-32-bytes-long!', algorithms: ['HS256'], issuer: 'https://issuer.example', audience: 'api' }

/** Every kind of scheme, and a route per config form and scheme. */
const everyScheme: ProtectedRoutesOptions['schemes'] = {
  bearerAuth: { type: 'bearer', tokens: { 'alice-token': { username: 'alice' } } },
  jwtAuth: { type: 'bearer', jwt },
  tokenHeader: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { 'key-1': { username: 'a' } } },
  queryKey: { type: 'apiKey', in: 'query', name: 'api_key', tokens: { 'key-2': { username: 'b' } } },
  cookieKey: { type: 'apiKey', in: 'cookie', name: 'session', tokens: { 'key-3': { username: 'c' } } },
  oauth: { type: 'bearer', tokens: { 'oauth-token': { username: 'd' } }, tokenUrl: '/token', scopes: { 'items:read': 'Read items' } },
  remoteOauth: { type: 'bearer', tokens: { 'remote-token': { username: 'e' } }, tokenUrl: 'https://auth.example.com/token' }
}

function everySchemeRoutes (app: FastifyInstance): void {
  everyForm(app)
  app.get('/oauth', { config: { auth: { schemes: ['oauth', 'bearerAuth'], scopes: ['items:read', 'items:write'] } } }, ok)
  app.get('/cookie-only', { config: { auth: { schemes: ['cookieKey'], optional: true } } }, ok)
  app.get('/declared', { config: { auth: true }, schema: { response: { 401: { description: 'Our own 401', type: 'object' } } } }, ok)
}

t.test('securitySchemes declares every scheme: http bearer (JWT), apiKey in header, query and cookie, oauth2 password flow', async (t) => {
  const app = await build(t, { plugin: { schemes: everyScheme, defaultSchemes: ['bearerAuth'] }, routes: everySchemeRoutes })
  t.same(document(app).components, {
    schemas: {},
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer' },
      jwtAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      tokenHeader: { type: 'apiKey', in: 'header', name: 'X-Token' },
      queryKey: { type: 'apiKey', in: 'query', name: 'api_key' },
      cookieKey: { type: 'apiKey', in: 'cookie', name: 'session' },
      oauth: { type: 'oauth2', flows: { password: { tokenUrl: '/token', scopes: { 'items:read': 'Read items', 'items:write': '' } } } },
      remoteOauth: { type: 'oauth2', flows: { password: { tokenUrl: 'https://auth.example.com/token', scopes: {} } } }
    }
  }, 'the scopes routes require are added to the flow')
})

t.test('what the app configured in @fastify/swagger\'s components is kept', async (t) => {
  const appSchemes = {
    partnerAuth: { type: 'http', scheme: 'basic' },
    bearerAuth: { type: 'http', scheme: 'bearer', description: 'Declared by the app' }
  } as const
  const app = await build(t, {
    swagger: {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'test', version: '1.0.0' },
        components: {
          schemas: { Item: { type: 'object', properties: { id: { type: 'integer' } } } },
          responses: { NotFound: { description: 'Not found' } },
          securitySchemes: appSchemes
        }
      }
    }
  })
  const components = document(app).components
  t.same(components.schemas, { Item: { type: 'object', properties: { id: { type: 'integer' } } } })
  t.same(components.responses, { NotFound: { description: 'Not found' } })
  t.same(components.securitySchemes, {
    partnerAuth: { type: 'http', scheme: 'basic' },
    bearerAuth: { type: 'http', scheme: 'bearer', description: 'Declared by the app' },
    tokenHeader: { type: 'apiKey', in: 'header', name: 'X-Token' }
  }, 'a scheme the app declared itself stays as declared')
  t.same(Object.keys(appSchemes), ['partnerAuth', 'bearerAuth'], 'the app\'s options object is not written to')
})

t.test('the document validates as OpenAPI 3.1, 3.0 and 3.2, with every scheme and config form', async (t) => {
  for (const version of ['3.1.0', '3.0.3', '3.2.0']) {
    for (const protectByDefault of [false, true]) {
      const app = await build(t, {
        swagger: { openapi: { openapi: version, info: { title: 'test', version: '1.0.0' } } },
        plugin: { schemes: everyScheme, defaultSchemes: ['bearerAuth', 'tokenHeader'], protectByDefault },
        routes: everySchemeRoutes
      })
      const [result, validator] = await validate(document(app))
      t.same(result, { valid: true }, `valid as ${version}${protectByDefault ? ', protectByDefault' : ''}`)
      t.equal(validator.version, version.slice(0, 3))
      await app.close()
    }
  }
})

t.test('in OpenAPI 3.0 only oauth2 requirements list scopes (the others MUST be empty)', async (t) => {
  const app = await build(t, {
    swagger: { openapi: { openapi: '3.0.3', info: { title: 'test', version: '1.0.0' } } },
    plugin: { schemes: everyScheme },
    routes: everySchemeRoutes
  })
  t.same(document(app).paths['/oauth'].get.security, [{ oauth: ['items:read', 'items:write'] }, { bearerAuth: [] }])
})

t.test('Swagger 2.0: securityDefinitions, and what 2.0 cannot express is left out', async (t) => {
  const app = await build(t, {
    swagger: { swagger: { info: { title: 'test', version: '1.0.0' } } },
    plugin: { schemes: everyScheme, defaultSchemes: ['bearerAuth', 'cookieKey'] },
    routes: everySchemeRoutes
  })
  const doc = document(app)
  t.same((await validate(doc))[0], { valid: true }, 'valid as Swagger 2.0')
  t.same(doc.securityDefinitions, {
    bearerAuth: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Authorization: Bearer <token>' },
    jwtAuth: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Authorization: Bearer <JWT>' },
    tokenHeader: { type: 'apiKey', in: 'header', name: 'X-Token' },
    queryKey: { type: 'apiKey', in: 'query', name: 'api_key' },
    oauth: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Authorization: Bearer <token>' },
    remoteOauth: { type: 'oauth2', flow: 'password', tokenUrl: 'https://auth.example.com/token', scopes: {} }
  }, 'no cookie API keys in 2.0; an oauth2 flow needs an absolute tokenUrl')
  t.same(doc.paths['/any'].get, {
    responses: {
      200: { description: 'Default Response' },
      400: { description: badRequest, headers: { 'WWW-Authenticate': { type: 'string', description: challengeHeader['WWW-Authenticate'].description } }, schema: errorBody },
      401: { description: unauthorized, headers: { 'WWW-Authenticate': { type: 'string', description: challengeHeader['WWW-Authenticate'].description } }, schema: errorBody }
    },
    security: [{ bearerAuth: [] }]
  }, 'the cookie alternative is left out')
  t.same(doc.paths['/scoped'].get.security, [{ bearerAuth: [] }], 'scopes only for oauth2 in 2.0')
  t.same(doc.paths['/cookie-only'].get.security, undefined, 'no requirement it can express: no security rather than a wrong one')
  t.same(Object.keys(doc.paths['/cookie-only'].get.responses), ['200', '400', '401'])
})

t.test('app.swagger() and app.swagger({ yaml: true }) give the same completed document, built once', async (t) => {
  const app = await build(t, { plugin: { schemes: everyScheme }, routes: everySchemeRoutes })
  const doc = document(app)
  t.equal(app.swagger(), doc, 'the same object every time')
  const yaml = app.swagger({ yaml: true })
  t.equal(app.swagger({ yaml: true }), yaml, 'the same string every time')
  t.same(yaml.split('\n').slice(0, 6), ['openapi: 3.1.0', 'info:', '  title: test', '  version: 1.0.0', 'components:', '  schemas: {}'], 'block-style YAML')
  const [result, validator] = await validate(yaml)
  t.same(result, { valid: true })
  t.same(validator.specification, JSON.parse(JSON.stringify(doc)))
})

t.test('@fastify/swagger-ui serves the completed document as JSON and YAML', async (t) => {
  for (const order of ['swagger first', 'plugin first'] as const) {
    const app = await build(t, { order, ui: true })
    const json = await app.inject('/documentation/json')
    t.equal(json.statusCode, 200)
    t.same(json.json(), JSON.parse(JSON.stringify(document(app))))
    t.same(json.json().paths['/any'].get.security, [{ bearerAuth: [] }, { tokenHeader: [] }])
    const yaml = await app.inject('/documentation/yaml')
    t.equal(yaml.statusCode, 200)
    t.equal(yaml.body, app.swagger({ yaml: true }))
    await app.close()
  }
})

t.test('routes in a child context are documented when the plugin is registered there', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, openapi31)
  await app.register(async function api (child) {
    await child.register(protectedRoutes, { schemes: twoSchemes })
    child.get('/me', { config: { auth: { schemes: ['bearerAuth'] } } }, ok)
  }, { prefix: '/api' })
  await app.ready()
  t.same(document(app).paths['/api/me'].get.security, [{ bearerAuth: [] }])
})

t.test('two plugin instances in sibling contexts each document their own routes and schemes', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, openapi31)
  await app.register(async function users (child) {
    await child.register(protectedRoutes, { schemes: { userToken: { type: 'bearer', tokens: { 'u-token': { id: 1 } } } } })
    child.get('/me', { config: { auth: { scopes: ['profile'] } } }, ok)
  }, { prefix: '/users' })
  await app.register(async function partners (child) {
    await child.register(protectedRoutes, { schemes: { partnerKey: { type: 'apiKey', in: 'header', name: 'X-Partner', tokens: { 'p-key': { id: 2 } } } } })
    child.get('/orders', { config: { auth: true } }, ok)
  }, { prefix: '/partners' })
  await app.ready()
  const doc = document(app)
  t.same(doc.paths['/users/me'].get.security, [{ userToken: ['profile'] }])
  t.same(doc.paths['/partners/orders'].get.security, [{ partnerKey: [] }])
  t.same(doc.components.securitySchemes, {
    userToken: { type: 'http', scheme: 'bearer' },
    partnerKey: { type: 'apiKey', in: 'header', name: 'X-Partner' }
  })
  t.notOk(JSON.stringify(doc).includes(TAG))
})

t.test('protectByDefault in the API\'s context keeps @fastify/swagger-ui public at the root', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, openapi31)
  await app.register(swaggerUi)
  await app.register(async function api (child) {
    await child.register(protectedRoutes, { schemes: twoSchemes, protectByDefault: true })
    child.get('/items', ok)
    child.get('/health', { config: { auth: false } }, ok)
  }, { prefix: '/api' })
  await app.ready()
  const res = await app.inject('/documentation/json')
  t.equal(res.statusCode, 200)
  t.same(res.json().paths['/api/items'].get.security, [{ bearerAuth: [] }, { tokenHeader: [] }])
  t.same(res.json().paths['/api/health'].get.security, [])
  t.equal((await app.inject('/api/items')).statusCode, 401)
})

t.test('another @fastify/swagger under its own decorator sees the routes as declared', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, openapi31)
  await app.register(swagger, { ...openapi31, decorator: 'plainSwagger' })
  await app.register(protectedRoutes, { schemes: twoSchemes })
  everyForm(app)
  await app.ready()
  t.ok(document(app).paths['/any'].get.security, 'the default decorator is completed')
  const plain = (app as unknown as { plainSwagger: () => Json }).plainSwagger()
  t.same(plain.paths['/any'].get, { responses: { 200: { description: 'Default Response' } } })
  t.notOk(JSON.stringify(plain).includes(TAG), 'the route schemas were put back after the build')
})

t.test('a static document is returned untouched', async (t) => {
  const spec = { openapi: '3.1.0', info: { title: 'static', version: '1.0.0' }, paths: {} }
  const app = await build(t, { swagger: { mode: 'static', specification: { document: spec } } as SwaggerOptions })
  t.same(document(app), { openapi: '3.1.0', info: { title: 'static', version: '1.0.0' }, paths: {} })
})

t.test('a swagger decorator that returns no document is passed through', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorate('swagger', () => 'not a document')
  await app.register(protectedRoutes, { schemes: twoSchemes })
  app.get('/any', { config: { auth: true } }, ok)
  await app.ready()
  const swaggerFn = (app as unknown as { swagger: (options?: { yaml: boolean }) => unknown }).swagger
  t.equal(swaggerFn(), 'not a document')
  t.equal(swaggerFn({ yaml: true }), 'not a document\n')
})

t.test('without @fastify/swagger nothing is added and routes work as before', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: twoSchemes })
  app.get('/any', { config: { auth: true } }, ok)
  await app.ready()
  t.equal(app.hasDecorator('swagger'), false)
  t.equal((await app.inject('/any')).statusCode, 401)
  t.equal((await app.inject({ url: '/any', headers: { authorization: 'Bearer alice-token' } })).body, 'ok')
})
