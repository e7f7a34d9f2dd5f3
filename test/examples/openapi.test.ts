import t from 'tap'
import { Validator } from '@seriousme/openapi-schema-validator'
import { server } from './fixtures/helpers.js'

// The example's OpenAPI document and Swagger UI, as served. The browser side is in browser.test.ts.

type Json = Record<string, any>

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

/** Every operation of a document, as [method, path, operation]. */
function operations (document: Json): Array<[string, string, Json]> {
  return Object.entries(document.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json).filter(([method]) => HTTP_METHODS.has(method)).map(([method, operation]): [string, string, Json] => [method, path, operation as Json]))
}

t.test('GET /documentation/json is a valid OpenAPI 3.1 document, and /documentation/yaml is the same one', async (t) => {
  const app = await server(t)
  const json = await app.inject('/documentation/json')
  t.equal(json.statusCode, 200)
  t.match(json.headers['content-type'], /^application\/json/)
  const validator = new Validator()
  t.same(await validator.validate(json.json()), { valid: true })
  t.equal(validator.version, '3.1')

  const yaml = await app.inject('/documentation/yaml')
  t.equal(yaml.statusCode, 200)
  t.equal(yaml.headers['content-type'], 'application/x-yaml')
  const fromYaml = new Validator()
  t.same(await fromYaml.validate(yaml.body), { valid: true })
  t.same(fromYaml.specification, json.json(), 'the YAML says what the JSON says')
})

t.test('the Authorize dialog offers the password flow at POST /token with described scopes, and the X-Token key', async (t) => {
  const app = await server(t)
  const document = (await app.inject('/documentation/json')).json() as Json
  t.same(document.components.securitySchemes, {
    bearerAuth: {
      type: 'oauth2',
      flows: {
        password: {
          tokenUrl: '/token',
          scopes: {
            'me:read': 'Read your own account (GET /users/me)',
            'items:read': 'List the items (GET /items)',
            'items:write': 'Create items (POST /items)'
          }
        }
      },
      // OpenAPI has no way to say "and a proof per request": the plugin says it in words.
      description: 'Bearer tokens, and DPoP-bound tokens as Authorization: DPoP <token> with a DPoP proof header (RFC 9449; proof algorithms ES256 PS256 EdDSA RS256).'
    },
    tokenHeader: { type: 'apiKey', in: 'header', name: 'X-Token' }
  })
})

t.test('each operation\'s security says what its config.auth says', async (t) => {
  const app = await server(t)
  const document = (await app.inject('/documentation/json')).json() as Json
  const security = (method: string, path: string): unknown => document.paths[path]?.[method]?.security
  t.same(security('get', '/public'), [], 'public under protectByDefault: no lock')
  t.same(security('post', '/token'), [])
  t.same(security('get', '/protected'), [{ tokenHeader: [] }])
  t.same(security('get', '/users/me'), [{ bearerAuth: ['me:read'] }])
  t.same(security('get', '/items'), [{ bearerAuth: ['items:read'] }])
  t.same(security('post', '/items'), [{ bearerAuth: ['items:write'] }])

  // Whatever routes the example grows: under protectByDefault every operation says whether it
  // needs a credential, and every scope it names is described in the Authorize dialog.
  const described = document.components.securitySchemes.bearerAuth.flows.password.scopes as Record<string, string>
  for (const [method, path, operation] of operations(document)) {
    t.ok(Array.isArray(operation.security), `${method} ${path} has security`)
    for (const requirement of operation.security as Json[]) {
      for (const scope of (requirement.bearerAuth ?? []) as string[]) t.not(described[scope] ?? '', '', `${method} ${path}: ${scope} is described`)
    }
  }
})

t.test('the documentation is public while the API stays closed, and is not in the document itself', async (t) => {
  const app = await server(t)
  const urls = [
    '/documentation',
    '/documentation/',
    '/documentation/json',
    '/documentation/yaml',
    '/documentation/static/swagger-ui-bundle.js',
    '/documentation/static/swagger-initializer.js',
    '/documentation/static/oauth2-redirect.html'
  ]
  for (const url of urls) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['www-authenticate'], undefined, url)
  }
  t.equal((await app.inject('/users/me')).statusCode, 401, 'beside it, the API refuses a request without a credential')
  const document = (await app.inject('/documentation/json')).json() as Json
  t.same(Object.keys(document.paths).filter((path) => path.startsWith('/documentation')), [])
})

t.test('Swagger UI needs nothing beyond this server: no CDN, no validator badge', async (t) => {
  const app = await server(t)
  const page = await app.inject('/documentation')
  t.match(page.headers['content-type'], /^text\/html/)
  const references = [...page.body.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((match) => match[1] as string)
  t.ok(references.length >= 5, 'the page loads its styles, scripts and icons')
  for (const reference of references) {
    t.notMatch(reference, /^(?:[a-z][a-z\d+.-]*:|\/\/)/i, `${reference} is on this server`)
    const asset = await app.inject(new URL(reference, 'http://localhost/documentation').pathname)
    t.equal(asset.statusCode, 200, reference)
  }
  const initializer = (await app.inject('/documentation/static/swagger-initializer.js')).body
  t.match(initializer, 'validatorUrl: null', 'no request to validator.swagger.io')
})
