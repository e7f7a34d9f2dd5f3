import t from 'tap'
import { Validator } from '@seriousme/openapi-schema-validator'
import { parse } from 'yaml'
import { completeDocument, loadYamlWriter, requirements, securityScheme, TAG, type DocumentContext, type Tag } from '../lib/openapi.js'
import { PUBLIC, type ResolvedRoute } from '../lib/route-config.js'
import type { Scheme } from '../lib/schemes/index.js'

// The pieces of lib/openapi.ts on their own, for what an app cannot easily reach.

const jwt = { secret: 'a-secret-of-at-least-32-bytes-long!', algorithms: ['HS256'], issuer: 'https://issuer.example', audience: 'api' }

function route (fields: Partial<ResolvedRoute> & { names?: string[] }): ResolvedRoute {
  const schemes = (fields.names ?? ['bearerAuth']).map((name) => ({ name }) as Scheme)
  return {
    schemes,
    groups: schemes.map((scheme) => ({ schemes: [scheme], first: scheme, extract: () => undefined, dpopChallenge: undefined })),
    all: fields.all ?? false,
    scopes: fields.scopes ?? [],
    stepUp: fields.stepUp,
    authorize: fields.authorize,
    optional: fields.optional ?? false,
    preflightExempt: false,
    bases: ['Bearer realm="api"'],
    challenges: 'Bearer realm="api"',
    mcp: undefined
  }
}

function context (fields: Partial<DocumentContext> = {}): DocumentContext {
  return {
    flavour: fields.flavour ?? '3.1',
    protectByDefault: fields.protectByDefault ?? false,
    declared: fields.declared ?? new Map([['bearerAuth', { type: 'http', scheme: 'bearer' }]]),
    tags: fields.tags ?? new Set(),
    responses: fields.responses ?? { 400: true, 401: true, 403: true }
  }
}

t.test('a bearer scheme with a JWT verifier says bearerFormat: JWT', async (t) => {
  const scheme = { type: 'bearer', jwt } as const
  t.same(securityScheme(scheme, '3.1', []), { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.same(securityScheme(scheme, '3.0', []), { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.same(securityScheme(scheme, '2.0', []), { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Authorization: Bearer <JWT>' })
  t.same(securityScheme({ type: 'bearer', tokens: {} }, '3.1', []), { type: 'http', scheme: 'bearer' }, 'and without one, no format')
})

t.test('an oauth2 flow lists the scopes routes require after the described ones', async (t) => {
  const scheme = { type: 'bearer', tokens: {}, tokenUrl: '/token', scopes: { 'items:read': 'Read items' } } as const
  t.same(securityScheme(scheme, '3.0', ['items:write', 'items:read']), {
    type: 'oauth2',
    flows: { password: { tokenUrl: '/token', scopes: { 'items:read': 'Read items', 'items:write': '' } } }
  })
})

t.test('Swagger 2.0 cannot express a cookie API key', async (t) => {
  t.equal(securityScheme({ type: 'apiKey', in: 'cookie', name: 'session', tokens: {} }, '2.0', []), undefined)
  t.same(securityScheme({ type: 'apiKey', in: 'cookie', name: 'session', tokens: {} }, '3.0', []), { type: 'apiKey', in: 'cookie', name: 'session' })
})

t.test('a public route says nothing about security unless protectByDefault is on', async (t) => {
  t.equal(requirements(PUBLIC, context()), undefined)
  t.same(requirements(PUBLIC, context({ protectByDefault: true })), [])
})

t.test('a route whose schemes the document cannot express says nothing, even when optional', async (t) => {
  t.equal(requirements(route({ names: ['cookieKey'], optional: true }), context({ flavour: '2.0' })), undefined)
})

const tags = new Set<Tag>()
function tag (resolution: ResolvedRoute): Tag {
  const made = { resolution, handWritten: undefined }
  tags.add(made)
  return made
}

t.test('completing a document copes with whatever a transformObject left', async (t) => {
  const protectedRoute = route({})
  const doc: Record<string, unknown> = {
    openapi: '3.2.0',
    paths: {
      '/null': null,
      '/a': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: { [TAG]: tag(protectedRoute) },
        additionalOperations: { MKCOL: { [TAG]: tag(protectedRoute), responses: { 201: { description: 'Created' } } } }
      }
    }
  }
  completeDocument(doc, context({ tags }))
  const paths = doc.paths as Record<string, Record<string, any>>
  t.equal(paths['/null'], null)
  t.same(paths['/a']?.get.security, [{ bearerAuth: [] }])
  t.same(Object.keys(paths['/a']?.get.responses), ['400', '401'], 'responses are created when missing')
  t.same(paths['/a']?.additionalOperations.MKCOL.security, [{ bearerAuth: [] }], 'OpenAPI 3.2 additionalOperations')
  t.same(Object.keys(paths['/a']?.additionalOperations.MKCOL.responses), ['201', '400', '401'])
  t.same(doc.components, { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } }, 'components are created when missing')
})

t.test('a document without paths, or without tags, is left as it is', async (t) => {
  const noPaths = { openapi: '3.1.0', info: { title: 't', version: '1' } }
  completeDocument(noPaths, context())
  t.same(noPaths, { openapi: '3.1.0', info: { title: 't', version: '1' } })
  const untagged = { openapi: '3.1.0', paths: { '/a': { get: { responses: {} } } } }
  completeDocument(untagged, context())
  t.same(untagged, { openapi: '3.1.0', paths: { '/a': { get: { responses: {} } } } })
  const another = { resolution: route({}), handWritten: undefined }
  const taggedByAnother = { openapi: '3.1.0', paths: { '/a': { get: { [TAG]: another, responses: {} } } } }
  completeDocument(taggedByAnother, context())
  t.same(taggedByAnother, { openapi: '3.1.0', paths: { '/a': { get: { [TAG]: another, responses: {} } } } }, 'a tag of another plugin instance is left to it')
})

t.test('YAML: block style, quoted only where a YAML 1.2 or 1.1 reader could read something else', async (t) => {
  const toYaml = await loadYamlWriter()
  t.equal(toYaml({
    a: [1, 'two', true, null, [], {}],
    b: [[1, 2], [{ c: 'd' }]],
    list: [{ k: 1, l: [2] }],
    'x y': { yes: 'No', 200: '3.0', Key_1: 'plain-text_1', ctl: 'a\u007fb\u009f', 'line\u2028key': 1 },
    empty: {},
    skipped: undefined
  }), [
    'a:',
    '  - 1',
    '  - two',
    '  - true',
    '  - null',
    '  - []',
    '  - {}',
    'b:',
    '  - - 1',
    '    - 2',
    '  - - c: d',
    'list:',
    '  - k: 1',
    '    l:',
    '      - 2',
    'x y:',
    '  "200": "3.0"',
    '  "yes": "No"',
    '  Key_1: plain-text_1',
    '  ctl: "a\\u007fb\\u009f"',
    '  "line\\u2028key": 1',
    'empty: {}',
    ''
  ].join('\n'))
  t.equal(toYaml('a scalar'), 'a scalar\n')
  t.equal(toYaml([]), '[]\n')
  t.equal(await loadYamlWriter(), toYaml, 'loaded once')
})

t.test('YAML reads back as the same JSON, in YAML 1.2 and in YAML 1.1', async (t) => {
  const toYaml = await loadYamlWriter()
  const tricky = {
    words: ['yes', 'No', 'ON', 'off', 'y', 'N', 'true', 'False', 'null', 'Null', '~', ''],
    numbers: ['123', '1e3', '0x1F', '0o17', '017', '.5', '-1', '1_000', '12:30', '1:20:30', '3.1.0', '.inf', '.NaN', '0b101', '2001-12-14', '2001-12-14t21:59:43.10-05:00', 0, -1.5, 1e21, 3.14],
    marks: [' lead', 'trail ', 'a: b', '- x', '#c', 'x #c', '&anchor', '*alias', '!tag', '%d', '@at', '`tick', '|', '>', '[', '{', '?', ',', '<<', '=', '---', '...', 'a\tb'],
    escapes: ['multi\nline', 'tab\there', 'quote"', "single'", 'back\\slash', 'del\u007f', 'c1\u0080\u0085\u009f', 'nul\u0000', 'é ✓ \u2028 \u2029 \ud83d\ude00', 'bom\ufeff', 'non\ufffe\uffff', 'lone\ud800', `${'long '.repeat(30)}\u0085`],
    keys: { 200: 'status', 'x y': 1, true: 2, 'a:b': 3, '': 4, '-': 5, é: 6, '<<': 7, 'k\u007f': 8 },
    nested: [[[]], [{}], [[1, [2, { a: [3] }]]], { deep: { deeper: [{ a: 1, b: [{ c: null }] }] } }],
    flags: [true, false, null]
  }
  const spec = { openapi: '3.1.0', info: { title: 'yes', version: '1.0', 'x-data': tricky }, paths: {} }
  const text = toYaml(spec)
  t.notMatch(text, /[\t\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/, 'what some readers refuse or read as a line break is escaped')
  t.match(text, /\n +- "="\n/, "YAML 1.1's value key is quoted")
  const validator = new Validator()
  t.same(await validator.validate(text), { valid: true })
  t.same(validator.specification, spec)
  t.same(parse(text, { version: '1.1' }), spec, 'a YAML 1.1 reader gets the same')
})

t.test('YAML is the JSON that /json sends: toJSON, dates and undefined as JSON.stringify has them', async (t) => {
  const toYaml = await loadYamlWriter()
  const shared = { type: 'string' }
  const doc = { when: new Date(0), custom: { toJSON: () => 'custom' }, list: [undefined, shared, shared], gone: undefined }
  const text = toYaml(doc)
  t.notMatch(text, /[&*]/, 'no anchors or aliases')
  t.same(parse(text), JSON.parse(JSON.stringify(doc)))
})
