import t, { type Test } from 'tap'
import Fastify from 'fastify'
import swagger, { type SwaggerOptions } from '@fastify/swagger'
import { Validator } from '@seriousme/openapi-schema-validator'
import protectedRoutes, { type OpenapiOptions, type ProtectedRoutesOptions, type SchemeOptions } from '../lib/index.js'

// The document-only options: a bearer scheme's tokenUrl and scope descriptions, and the
// plugin's `openapi` option.

const tokens = { 'alice-token': { username: 'alice' } }

async function register (t: { teardown: (fn: () => unknown) => void }, scheme: unknown): Promise<void> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes: { s: scheme } } as unknown as ProtectedRoutesOptions)
  await app.ready()
}

t.test('a bearer scheme takes a tokenUrl and scope descriptions', async (t) => {
  await t.resolves(register(t, { type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items:read': 'Read items' } }))
  await t.resolves(register(t, { type: 'bearer', tokens, tokenUrl: 'https://auth.example.com/oauth2/token' }))
})

t.test('tokenUrl and scopes that cannot be documented stop the boot', async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ type: 'apiKey', in: 'header', name: 'X-Token', tokens, tokenUrl: '/token' }, 'schemes.s.tokenUrl and scopes are for bearer schemes'],
    [{ type: 'apiKey', in: 'header', name: 'X-Token', tokens, scopes: {} }, 'schemes.s.tokenUrl and scopes are for bearer schemes'],
    [{ type: 'bearer', tokens, scopes: { 'items:read': 'Read items' } }, 'schemes.s.scopes needs tokenUrl: it describes the scopes of the OAuth2 flow'],
    [{ type: 'bearer', tokens, tokenUrl: 42 }, "schemes.s.tokenUrl must be a URL or a path, e.g. '/token'"],
    [{ type: 'bearer', tokens, tokenUrl: '' }, "schemes.s.tokenUrl must be a URL or a path, e.g. '/token'"],
    [{ type: 'bearer', tokens, tokenUrl: '/oauth token' }, "schemes.s.tokenUrl must be a URL or a path, e.g. '/token'"],
    [{ type: 'bearer', tokens, tokenUrl: '/token', scopes: ['items:read'] }, 'schemes.s.scopes must map scope tokens to descriptions'],
    [{ type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items read': 'Read items' } }, 'schemes.s.scopes must map scope tokens to descriptions'],
    [{ type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items:read': true } }, 'schemes.s.scopes must map scope tokens to descriptions']
  ]
  for (const [scheme, reason] of cases) {
    await t.rejects(register(t, scheme), {
      code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
      message: `Invalid fastify-protected-routes option: ${reason}`
    }, reason)
  }
})

t.test('the types allow tokenUrl and scopes on bearer schemes only', async (t) => {
  const bearer: SchemeOptions = { type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items:read': 'Read items' } }
  // @ts-expect-error tokenUrl is not an API-key option
  const apiKey: SchemeOptions = { type: 'apiKey', in: 'header', name: 'X-Token', tokens, tokenUrl: '/token' }
  // @ts-expect-error scope descriptions are strings
  const badScopes: SchemeOptions = { type: 'bearer', tokens, tokenUrl: '/token', scopes: { 'items:read': 1 } }
  t.ok(bearer && apiKey && badScopes)
})

type Json = Record<string, any>

const problem = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' } }
}
const pluginBody = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } }
}

/** The document of an app with one route per refusal set, validated by a real OpenAPI validator. */
async function documented (t: Test, openapi: unknown, swaggerOptions?: SwaggerOptions): Promise<Json> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(swagger, swaggerOptions ?? {
    openapi: { openapi: '3.1.0', info: { title: 'test', version: '1.0.0' }, components: { schemas: { Problem: problem } } }
  } as SwaggerOptions)
  await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', tokens } }, openapi } as ProtectedRoutesOptions)
  app.get('/me', { config: { auth: true } }, async () => 'ok')
  app.get('/scoped', { config: { auth: { scopes: ['items:read'] } } }, async () => 'ok')
  app.get('/public', async () => 'ok')
  await app.ready()
  const doc = app.swagger() as unknown as Json
  const validator = new Validator()
  t.same(await validator.validate(doc), { valid: true }, 'a valid document')
  return doc
}

function bodies (responses: Json): Json {
  return Object.fromEntries(Object.entries(responses).map(([status, response]) => [status, response.content?.['application/json']?.schema ?? response.schema]))
}

t.test('openapi.responses: false documents no refusals, and the routes keep their security', async (t) => {
  const doc = await documented(t, { responses: false })
  t.same(doc.paths['/me'].get, { responses: { 200: { description: 'Default Response' } }, security: [{ bearerAuth: [] }] })
  t.same(Object.keys(doc.paths['/scoped'].get.responses), ['200'])
  t.same(doc.paths['/scoped'].get.security, [{ bearerAuth: ['items:read'] }])
})

t.test('openapi.responses by status: a schema replaces the body, false leaves it out, the rest keep the plugin\'s', async (t) => {
  const appSchema = { $ref: '#/components/schemas/Problem' }
  const options: OpenapiOptions = { responses: { 400: false, 401: appSchema, 403: true } }
  const doc = await documented(t, options)
  const me = doc.paths['/me'].get.responses
  t.same(Object.keys(me), ['200', '401'])
  t.same(me[401], {
    description: 'Unauthorized: no credential (FST_PROTECTED_ROUTES_MISSING_CREDENTIALS) or an invalid one (FST_PROTECTED_ROUTES_INVALID_TOKEN)',
    headers: { 'WWW-Authenticate': { description: 'The challenge (RFC 6750 §3); a 401 has one per scheme the route accepts', schema: { type: 'string' } } },
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Problem' } } }
  }, 'the description and the challenge header stay')
  const scoped = doc.paths['/scoped'].get.responses
  t.same(bodies(scoped), { 200: undefined, 401: appSchema, 403: pluginBody })
  t.not(scoped[401].content['application/json'].schema, me[401].content['application/json'].schema, 'no two operations share a body object')
  t.not(me[401].content['application/json'].schema, appSchema, 'the app\'s schema object is copied, never written to')
  t.same(appSchema, { $ref: '#/components/schemas/Problem' })
})

t.test('openapi.responses: an inline schema, in OpenAPI 3.0 and in Swagger 2.0', async (t) => {
  const openapi30 = await documented(t, { responses: { 401: problem, 403: problem } }, { openapi: { openapi: '3.0.3', info: { title: 'test', version: '1.0.0' } } })
  t.same(bodies(openapi30.paths['/scoped'].get.responses), { 200: undefined, 400: pluginBody, 401: problem, 403: problem })
  const swagger20 = await documented(t, { responses: { 400: problem, 401: false } }, { swagger: { info: { title: 'test', version: '1.0.0' } } })
  t.same(bodies(swagger20.paths['/scoped'].get.responses), { 200: undefined, 400: problem, 403: pluginBody })
  t.same(swagger20.paths['/scoped'].get.responses[400].headers, { 'WWW-Authenticate': { type: 'string', description: 'The challenge (RFC 6750 §3); a 401 has one per scheme the route accepts' } })
})

t.test('openapi.responses: true, {} and no openapi option all give the plugin\'s bodies', async (t) => {
  for (const openapi of [undefined, {}, { responses: true }, { responses: {} }]) {
    const doc = await documented(t, openapi)
    t.same(bodies(doc.paths['/scoped'].get.responses), { 200: undefined, 400: pluginBody, 401: pluginBody, 403: pluginBody }, JSON.stringify(openapi))
  }
})

t.test('an openapi option that cannot be documented stops the boot, saying what to fix', async (t) => {
  const cycle: Json = { type: 'object' }
  cycle.properties = { self: cycle }
  const cases: Array<[unknown, string]> = [
    ['yes', 'openapi must be an object'],
    [{ response: false }, "unknown option 'openapi.response'"],
    [{ responses: 'off' }, 'openapi.responses must be a boolean or an object by status (400, 401, 403)'],
    [{ responses: [false] }, 'openapi.responses must be a boolean or an object by status (400, 401, 403)'],
    [{ responses: { 404: false } }, "openapi.responses has no status '404': the plugin documents 400, 401 and 403"],
    [{ responses: { '4XX': false } }, "openapi.responses has no status '4XX': the plugin documents 400, 401 and 403"],
    [{ responses: { 401: 'Problem' } }, 'openapi.responses.401 must be a boolean or a JSON Schema object'],
    [{ responses: { 403: [problem] } }, 'openapi.responses.403 must be a boolean or a JSON Schema object'],
    [{ responses: { 400: cycle } }, 'openapi.responses.400 must be a boolean or a JSON Schema object'],
    [{ responses: { 400: { maximum: 10n } } }, 'openapi.responses.400 must be a boolean or a JSON Schema object']
  ]
  for (const [openapi, reason] of cases) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => {
      await app.register(protectedRoutes, { schemes: { s: { type: 'bearer', tokens } }, openapi } as unknown as ProtectedRoutesOptions)
    }, {
      code: 'FST_PROTECTED_ROUTES_INVALID_OPTION',
      message: `Invalid fastify-protected-routes option: ${reason}`
    }, reason)
  }
})

t.test('the types allow openapi.responses as a boolean or by status 400, 401 and 403', async (t) => {
  const all: OpenapiOptions[] = [{}, { responses: false }, { responses: { 400: false, 401: { $ref: '#/components/schemas/Problem' }, 403: true } }]
  // @ts-expect-error 404 is not a refusal this plugin documents
  const notOurs: OpenapiOptions = { responses: { 404: false } }
  // @ts-expect-error a body is a schema object, not a name
  const named: OpenapiOptions = { responses: { 401: 'Problem' } }
  // @ts-expect-error responses is a boolean or an object
  const word: OpenapiOptions = { responses: 'off' }
  t.ok(all && notOurs && named && word)
})
