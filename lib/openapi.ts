/**
 * The OpenAPI side of the route config, for @fastify/swagger: `security` on the operations
 * this plugin protects (and `security: []` on public ones under `protectByDefault`), the
 * 400/401/403 responses of protected operations (as the `openapi.responses` option says), and
 * the `securitySchemes` they name.
 *
 * Why the document is completed around @fastify/swagger's build rather than through route
 * schemas alone: while it builds, @fastify/swagger looks every scheme named by a route's
 * `schema.security` up in the `components.securitySchemes` of its own options (to leave
 * credential parameters out) and throws a TypeError when one is missing. Those options are
 * out of this plugin's reach, and nothing else it offers runs before that lookup (a route's
 * `swaggerTransform` would, but it replaces the app's global `transform` on that route). So:
 *
 * 1. `onRoute` records each route with its resolved `config.auth` (nothing else).
 * 2. `onReady` (both plugins are loaded by then, whatever their order) wraps the `swagger`
 *    decorator where it is defined, so `app.swagger()`, `app.swagger({ yaml: true })` and
 *    @fastify/swagger-ui's `/json` and `/yaml` routes all see the complete document.
 * 3. The wrapper's first call tags this plugin's route schemas with a vendor extension,
 *    which @fastify/swagger reads lazily and copies into each operation by reference; it
 *    builds, puts every route schema back, then turns each tag into the operation's
 *    `security` and responses and adds the schemes. The result is cached like @fastify/swagger
 *    caches its own, so requests never run any of this.
 *
 * The responses are added to the document only: a response schema on the route would make
 * Fastify compile a serializer for 400/401/403, which would reshape what the app's own error
 * handler sends (fast-json-stringify coerces declared properties and drops undeclared ones).
 */
import type { FastifyInstance, RouteOptions } from 'fastify'
import type { ProtectedRoutesErrorCode } from './errors.js'
import type { NormalizedOpenapiOptions, NormalizedOptions } from './options.js'
import { PUBLIC, type ResolvedRoute } from './route-config.js'
import type { StepUp } from './step-up.js'
import type { BearerSchemeOptions, SchemeOptions } from './types.js'
import { DEFAULT_DPOP_ALGORITHMS, type DpopOptions } from './dpop/options.js'
import { isPlainObject as isRecord } from './checks.js'

type Json = Record<string, unknown>
type Resolution = ResolvedRoute | typeof PUBLIC
type SwaggerFunction = (this: unknown, options?: { yaml?: boolean }) => unknown

/** Swagger 2.0, OpenAPI 3.0.x, or OpenAPI 3.1 and later. */
export type Flavour = '2.0' | '3.0' | '3.1'

/** What the document needs to say about this plugin, once per built document. */
export interface DocumentContext {
  readonly flavour: Flavour
  readonly protectByDefault: boolean
  /** Security Scheme Objects by scheme name; a scheme the flavour cannot express is absent. */
  readonly declared: ReadonlyMap<string, Json>
  /** The tags this plugin instance put on its routes: another instance (in another context) completes its own. */
  readonly tags: ReadonlySet<Tag>
  /** Per refusal: the plugin's body (`true`), none (`false`), or the app's body schema as JSON text. */
  readonly responses: NormalizedOpenapiOptions['responses']
}

/** The vendor extension that carries a route's auth through @fastify/swagger's build. */
export const TAG = 'x-fastify-protected-routes'

/** The value of {@link TAG}: the route's resolved `config.auth`, and its own `schema.security` if it names our schemes. */
export interface Tag {
  readonly resolution: Resolution
  readonly handWritten: unknown
}

interface Entry {
  readonly routeOptions: RouteOptions
  readonly resolution: Resolution
}

const codes = {
  invalidRequest: 'FST_PROTECTED_ROUTES_INVALID_REQUEST',
  missingCredentials: 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS',
  invalidToken: 'FST_PROTECTED_ROUTES_INVALID_TOKEN',
  insufficientScope: 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE',
  insufficientUserAuthentication: 'FST_PROTECTED_ROUTES_INSUFFICIENT_USER_AUTHENTICATION',
  accessDenied: 'FST_PROTECTED_ROUTES_ACCESS_DENIED'
} as const satisfies Record<string, ProtectedRoutesErrorCode>

const CHALLENGE = 'The challenge (RFC 6750 §3); a 401 has one per scheme the route accepts'

function isProtected (resolution: Resolution): resolution is ResolvedRoute {
  return resolution !== PUBLIC
}

/** The flavour of a built document. */
export function flavourOf (document: Json): Flavour {
  if (document.swagger !== undefined) return '2.0'
  return String(document.openapi).startsWith('3.0') ? '3.0' : '3.1'
}

/**
 * The Security Scheme Object of one scheme, or undefined when the flavour cannot express it
 * (Swagger 2.0 has no cookie API keys). `scopes` are those the routes require on this scheme:
 * an `oauth2` flow declares them all.
 */
export function securityScheme (options: SchemeOptions, flavour: Flavour, scopes: Iterable<string>): Json | undefined {
  if (options.type === 'apiKey') {
    if (flavour === '2.0' && options.in === 'cookie') return undefined
    return { type: 'apiKey', in: options.in, name: options.name }
  }
  const scheme = bearerScheme(options, flavour, scopes)
  return options.dpop === undefined ? scheme : { ...scheme, description: dpopDescription(options.dpop, scheme.description) }
}

/**
 * RFC 9449 in the document: OpenAPI has no way to say that a request carries a proof made per
 * request, so the scheme's description says it; a scheme that requires DPoP is an `http` scheme
 * named `DPoP` (a registered HTTP authentication scheme).
 */
function dpopDescription (dpop: DpopOptions, description: unknown): string {
  const algorithms = (dpop.algorithms ?? DEFAULT_DPOP_ALGORITHMS).join(' ')
  const how = `Authorization: DPoP <token> with a DPoP proof header (RFC 9449; proof algorithms ${algorithms})`
  const what = dpop.required === true ? `Only DPoP-bound tokens: ${how}.` : `Bearer tokens, and DPoP-bound tokens as ${how}.`
  return typeof description === 'string' ? `${description}. ${what}` : what
}

function bearerScheme (options: BearerSchemeOptions, flavour: Flavour, scopes: Iterable<string>): Record<string, unknown> {
  const tokenUrl = options.tokenUrl
  // Swagger 2.0 wants an absolute tokenUrl; a path cannot be resolved without the host.
  if (tokenUrl !== undefined && (flavour !== '2.0' || URL.canParse(tokenUrl))) {
    const described = new Map(Object.entries(options.scopes ?? {}))
    for (const scope of scopes) if (!described.has(scope)) described.set(scope, '')
    const flow = { tokenUrl, scopes: Object.fromEntries(described) }
    return flavour === '2.0'
      ? { type: 'oauth2', flow: 'password', ...flow }
      : { type: 'oauth2', flows: { password: flow } }
  }
  const jwt = options.jwt !== undefined
  const dpopOnly = options.dpop?.required === true
  if (flavour === '2.0') {
    // Swagger 2.0 has no bearer scheme; the usual stand-in is an API key in the Authorization header.
    return { type: 'apiKey', in: 'header', name: 'Authorization', description: `Authorization: ${dpopOnly ? 'DPoP' : 'Bearer'} <${jwt ? 'JWT' : 'token'}>` }
  }
  const scheme = dpopOnly ? 'DPoP' : 'bearer'
  return jwt ? { type: 'http', scheme, bearerFormat: 'JWT' } : { type: 'http', scheme }
}

/**
 * A route's Security Requirement Objects: one per accepted scheme (any one will do), or one
 * naming them all with `all: true`; plus
 * `{}` when the credential is optional; `[]` for a public route under `protectByDefault`;
 * undefined when there is nothing to say.
 */
export function requirements (resolution: Resolution, context: DocumentContext): Json[] | undefined {
  if (!isProtected(resolution)) return context.protectByDefault ? [] : undefined
  let alternatives: Json[] = []
  for (const scheme of resolution.schemes) {
    const definition = context.declared.get(scheme.name)
    if (definition === undefined) continue
    // OpenAPI 3.1 lets any scheme list required roles; in 3.0 and 2.0 the list MUST be empty
    // unless the scheme is oauth2 (OpenAPI 3.0.3 §4.7.30, Swagger 2.0 Security Requirement Object).
    const listsScopes = context.flavour === '3.1' || definition.type === 'oauth2'
    alternatives.push({ [scheme.name]: listsScopes ? [...resolution.scopes] : [] })
  }
  if (alternatives.length === 0) return undefined
  // all: one requirement naming every scheme (each must be satisfied), not alternatives.
  if (resolution.all) alternatives = [Object.assign({}, ...alternatives) as Json]
  if (resolution.optional) alternatives.push({})
  return alternatives
}

/** RFC 9470: what the 401 says of a route's `acr` / `maxAge`, or nothing. */
function stepUpRefusal (stepUp: StepUp | undefined): string {
  if (stepUp === undefined) return ''
  const needs: string[] = []
  if (stepUp.acr !== undefined) needs.push(`an acr of ${stepUp.acr.join(', ')}`)
  if (stepUp.maxAge !== undefined) needs.push(`an authentication at most ${stepUp.maxAge} seconds old`)
  return `, or one whose authentication is not strong or recent enough (${codes.insufficientUserAuthentication}: re-authenticate with ${needs.join(' and ')})`
}

/** The refusals a protected route can answer: status and description. */
export function refusals (route: ResolvedRoute): Array<[status: keyof NormalizedOpenapiOptions['responses'], description: string]> {
  const unauthorized = route.optional
    ? `Unauthorized: an invalid credential (${codes.invalidToken})`
    : `Unauthorized: no credential (${codes.missingCredentials}) or an invalid one (${codes.invalidToken})`
  const result: Array<[keyof NormalizedOpenapiOptions['responses'], string]> = [
    ['400', `Bad Request, e.g. a malformed credential (${codes.invalidRequest})`],
    ['401', `${unauthorized}${stepUpRefusal(route.stepUp)}${route.optional ? '; a request without one is let through' : ''}`]
  ]
  const forbidden: string[] = []
  if (route.scopes.length > 0) forbidden.push(`a required scope is missing, of ${route.scopes.join(', ')} (${codes.insufficientScope})`)
  if (route.authorize !== undefined) forbidden.push(`the route refused the user (${codes.accessDenied})`)
  if (forbidden.length > 0) result.push(['403', `Forbidden: ${forbidden.join('; or ')}`])
  return result
}

/** The default error body (`{ statusCode, code, error, message }`), a fresh object for each operation. */
function errorBody (): Json {
  return {
    type: 'object',
    required: ['statusCode', 'code', 'error', 'message'],
    properties: {
      statusCode: { type: 'integer' },
      code: { type: 'string' },
      error: { type: 'string' },
      message: { type: 'string' }
    }
  }
}

function response (description: string, flavour: Flavour, body: Json): Json {
  if (flavour === '2.0') {
    return { description, headers: { 'WWW-Authenticate': { type: 'string', description: CHALLENGE } }, schema: body }
  }
  return {
    description,
    headers: { 'WWW-Authenticate': { description: CHALLENGE, schema: { type: 'string' } } },
    content: { 'application/json': { schema: body } }
  }
}

/** Turns an operation's tag into its `security` and responses; false when it has no tag. */
function completeOperation (operation: unknown, context: DocumentContext): boolean {
  if (!isRecord(operation) || !context.tags.has(operation[TAG] as Tag)) return false
  const { resolution, handWritten } = operation[TAG] as Tag
  delete operation[TAG]
  // A `security` already there is the app's: hand-written naming only its own schemes, or set by a transform.
  if (operation.security === undefined) {
    const security = handWritten ?? requirements(resolution, context)
    if (security !== undefined) operation.security = security
  }
  if (isProtected(resolution)) {
    for (const [status, description] of refusals(resolution)) {
      const body = context.responses[status]
      if (body === false) continue // the app turned this response off (`openapi.responses`)
      const responses = isRecord(operation.responses) ? operation.responses : (operation.responses = {})
      // What the route declares stays as declared, a 4XX range included.
      if (responses[status] === undefined && responses['4XX'] === undefined) {
        responses[status] = response(description, context.flavour, body === true ? errorBody() : JSON.parse(body) as Json)
      }
    }
  }
  return true
}

/** Operations of a Path Item: its method fields, and OpenAPI 3.2's `additionalOperations`. */
function operationsOf (pathItem: Json): unknown[] {
  const operations = Object.values(pathItem)
  if (isRecord(pathItem.additionalOperations)) operations.push(...Object.values(pathItem.additionalOperations))
  return operations
}

/** The app's own entries first: a scheme the app declared itself stays as declared. */
function merged (existing: unknown, ours: ReadonlyMap<string, Json>): Json {
  const own = isRecord(existing) ? existing : {}
  return Object.fromEntries([...Object.entries(own), ...[...ours].filter(([name]) => !Object.hasOwn(own, name))])
}

/**
 * Completes a document built from tagged routes, in place. A document without tags (a
 * static one, or one with no route of this plugin) is left as it is.
 */
export function completeDocument (document: Json, context: DocumentContext): void {
  let tagged = false
  for (const pathItem of Object.values(isRecord(document.paths) ? document.paths : {})) {
    if (!isRecord(pathItem)) continue
    for (const operation of operationsOf(pathItem)) {
      if (completeOperation(operation, context)) tagged = true
    }
  }
  if (!tagged) return
  if (context.flavour === '2.0') {
    document.securityDefinitions = merged(document.securityDefinitions, context.declared)
  } else {
    const components = isRecord(document.components) ? document.components : {}
    document.components = { ...components, securitySchemes: merged(components.securitySchemes, context.declared) }
  }
}

function documentContext (document: Json, options: NormalizedOptions, entries: readonly Entry[], tags: ReadonlySet<Tag>): DocumentContext {
  const flavour = flavourOf(document)
  const scopes = new Map<string, Set<string>>()
  for (const { resolution } of entries) {
    if (!isProtected(resolution)) continue
    for (const scheme of resolution.schemes) {
      const set = scopes.get(scheme.name) ?? new Set()
      for (const scope of resolution.scopes) set.add(scope)
      scopes.set(scheme.name, set)
    }
  }
  const declared = new Map<string, Json>()
  for (const [name, scheme] of options.schemes) {
    const definition = securityScheme(scheme, flavour, scopes.get(name) ?? [])
    if (definition !== undefined) declared.set(name, definition)
  }
  return { flavour, protectByDefault: options.protectByDefault, declared, tags, responses: options.openapi.responses }
}

function namesOurSchemes (security: unknown, schemes: ReadonlyMap<string, unknown>): boolean {
  return Array.isArray(security) && security.some((requirement) => isRecord(requirement) && Object.keys(requirement).some((name) => schemes.has(name)))
}

/**
 * Tags the route schemas for one build (a copy per route: the app's schema objects are never
 * written to), adding each tag to `tags`, and returns what puts the schemas back. A
 * hand-written `schema.security` that names this plugin's schemes rides in the tag, out of
 * @fastify/swagger's lookup, and is restored as written.
 */
function tagRoutes (entries: readonly Entry[], options: NormalizedOptions, tags: Set<Tag>): () => void {
  const undo: Array<() => void> = []
  for (const { routeOptions, resolution } of entries) {
    const schema = routeOptions.schema as Json | undefined
    const handWritten = namesOurSchemes(schema?.security, options.schemes) ? schema?.security : undefined
    if (!isProtected(resolution) && !options.protectByDefault && handWritten === undefined) continue
    const tag: Tag = { resolution, handWritten }
    tags.add(tag)
    const tagged: Json = { ...schema, [TAG]: tag }
    if (handWritten !== undefined) delete tagged.security
    const had = Object.hasOwn(routeOptions, 'schema')
    routeOptions.schema = tagged
    undo.push(had ? () => { routeOptions.schema = schema as RouteOptions['schema'] & object } : () => { delete routeOptions.schema })
  }
  return () => { for (const step of undo.reverse()) step() }
}

/** The `swagger` decorator, completing the document it returns. */
function documented (original: SwaggerFunction, entries: readonly Entry[], options: NormalizedOptions, toYaml: YamlWriter): SwaggerFunction {
  let document: unknown
  let yaml: string | undefined
  return function swagger (this: unknown, opts?: { yaml?: boolean }): unknown {
    // Not through @fastify/swagger's own YAML output: that rebuilds the document, uncompleted.
    if (opts?.yaml === true) return (yaml ??= toYaml(swagger.call(this)))
    if (document === undefined) {
      const tags = new Set<Tag>()
      const restore = tagRoutes(entries, options, tags)
      let built: unknown
      try {
        built = original.call(this)
      } finally {
        restore()
      }
      if (isRecord(built)) completeDocument(built, documentContext(built, options, entries, tags))
      document = built
    }
    return document
  }
}

/**
 * Wires the document side: call once per plugin instance, then `addRoute` for every route
 * its `onRoute` hook resolves.
 */
export function openapiDocumenter (fastify: FastifyInstance, options: NormalizedOptions): { addRoute (routeOptions: RouteOptions, resolution: Resolution): void } {
  const entries: Entry[] = []
  fastify.addHook('onReady', async function protectedRoutesOpenapi () {
    const instance = fastify as unknown as Json
    if (typeof instance.swagger !== 'function') {
      entries.length = 0 // no @fastify/swagger here: nothing will ever read them
      return
    }
    // Loaded here, not when the YAML is asked for: app.swagger({ yaml: true }) is synchronous.
    const toYaml = await loadYamlWriter()
    // Wrap it where @fastify/swagger decorated it, so every context that reaches it (such
    // as @fastify/swagger-ui's) gets the complete document.
    let owner: object = instance
    while (!Object.hasOwn(owner, 'swagger')) owner = Object.getPrototypeOf(owner) as object
    const decorated = owner as Json
    decorated.swagger = documented(decorated.swagger as SwaggerFunction, entries, options, toYaml)
  })
  return {
    addRoute (routeOptions, resolution) {
      entries.push({ routeOptions, resolution })
    }
  }
}

/** Writes a document as YAML. */
export type YamlWriter = (document: unknown) => string

// Not printable in YAML 1.2 (§5.1: DEL, the C1 controls but NEL, U+FFFE, U+FFFF), line breaks in
// YAML 1.1 (NEL, U+2028, U+2029), the BOM, and tabs: the `yaml` package writes them as they are,
// and libyaml-based readers refuse or misread them. Written as escapes, any reader gets them back.
const UNSAFE = /[\t\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/g

let yamlWriter: Promise<YamlWriter> | undefined

/**
 * The YAML writer: the `yaml` package that @fastify/swagger uses, imported once per process
 * and only when an app has a `swagger` decorator (which has imported it already). Output is
 * block style, readable as the same JSON by YAML 1.2 and 1.1 readers alike.
 */
export function loadYamlWriter (): Promise<YamlWriter> {
  return (yamlWriter ??= (async () => {
    const [{ stringify }, { stringTag }] = await Promise.all([import('yaml'), import('yaml/util')])
    const str: typeof stringTag = {
      ...stringTag,
      stringify (item, ctx, onComment, onChompKeep) {
        const value = String(item.value)
        // '=' is YAML 1.1's value key (yaml.org/type/value), which some readers cannot load.
        if (value !== '=' && value.search(UNSAFE) === -1) return stringTag.stringify!(item, ctx, onComment, onChompKeep)
        // A JSON string is a YAML double-quoted scalar (YAML 1.2 §7.3.1 escapes include JSON's).
        return JSON.stringify(value).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
      }
    }
    return (document) => stringify(JSON.parse(JSON.stringify(document)), {
      // Quote what YAML 1.1 would read as something else: yes, on, 1_000, 12:30, 3.1.0, <<.
      compat: 'yaml-1.1',
      customTags: (tags) => tags.map((tag) => tag === stringTag ? str : tag)
    })
  })())
}
