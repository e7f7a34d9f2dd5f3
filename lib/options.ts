import { InvalidOptionError } from './errors.js'
import type { AuthUser, LogLevel, ProtectedRoutesOptions, RefusalStatus, SchemeOptions } from './types.js'
import { isPlainObject, SCOPE_TOKEN } from './checks.js'
import { checkProtectedResource, type ProtectedResourceConfig } from './protected-resource.js'

/** Options after validation, with every default filled in. */
export interface NormalizedOptions {
  readonly schemes: ReadonlyMap<string, SchemeOptions>
  readonly defaultSchemes: readonly string[]
  readonly protectByDefault: boolean
  readonly publicRoutes: readonly string[]
  readonly realm: string
  readonly hook: 'onRequest' | 'preHandler'
  readonly verifyTimeout: number
  readonly maxTokenLength: number
  readonly getScopes: (user: AuthUser) => readonly string[]
  readonly logLevel: LogLevel
  readonly openapi: NormalizedOpenapiOptions
  readonly userProperty: string
  /** RFC 9728: `undefined` without the option. */
  readonly protectedResource: ProtectedResourceConfig | undefined
  readonly mcpAuthInfo: boolean
}

const defaults = Object.freeze({
  protectByDefault: false,
  realm: 'api',
  hook: 'onRequest',
  verifyTimeout: 10_000,
  maxTokenLength: 8192,
  logLevel: 'silent',
  userProperty: 'user'
} as const)

const knownOptions = new Set(['schemes', 'defaultSchemes', 'protectByDefault', 'publicRoutes', 'realm', 'hook', 'verifyTimeout', 'maxTokenLength', 'getScopes', 'logLevel', 'openapi', 'userProperty', 'protectedResource', 'mcpAuthInfo'])
// The keys a scheme of each type may have: a typo (`verfiy`) is named at boot, not ignored.
const schemeKeys = {
  bearer: new Set(['type', 'verify', 'tokens', 'jwt', 'opaque', 'introspection', 'dpop', 'tokenUrl', 'scopes']),
  apiKey: new Set(['type', 'in', 'name', 'verify', 'tokens'])
}
// A key of the other type (tokenUrl on an API key) gets the more specific message of its own check.
const anySchemeKey = new Set([...schemeKeys.bearer, ...schemeKeys.apiKey])
// A property name one can write as `request.<name>`.
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/
const logLevels = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
// A realm is sent inside a quoted-string (RFC 9110 §5.6.4); keep it to printable ASCII with nothing to escape.
const REALM = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/
// Header, query and cookie names are RFC 9110 tokens.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** Default scope reader: a `scopes` array, else a space-delimited `scope` string (RFC 6749 §3.3). */
export function defaultGetScopes (user: AuthUser): readonly string[] {
  const record = user as { scopes?: unknown, scope?: unknown }
  if (Array.isArray(record.scopes)) return record.scopes.filter((s): s is string => typeof s === 'string')
  if (typeof record.scope === 'string') return record.scope.split(' ').filter((s) => s !== '')
  return []
}

function fail (message: string): never {
  throw new InvalidOptionError(message)
}

// Node's timers overflow past this and fire after 1 ms instead.
const MAX_TIMEOUT = 2 ** 31 - 1

function positiveInteger (value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) fail(`${name} must be a positive integer`)
  return value
}

function checkScheme (name: string, scheme: unknown): SchemeOptions {
  if (!isPlainObject(scheme)) fail(`schemes.${name} must be an object`)
  if (scheme.type === 'apiKey') {
    if (scheme.in !== 'header' && scheme.in !== 'query' && scheme.in !== 'cookie') fail(`schemes.${name}.in must be 'header', 'query' or 'cookie'`)
    if (typeof scheme.name !== 'string' || !TOKEN.test(scheme.name)) fail(`schemes.${name}.name must be a header, query or cookie name`)
    if (scheme.in === 'header' && scheme.name.toLowerCase() === 'authorization') fail(`schemes.${name}.name cannot be Authorization: use a bearer scheme`)
  } else if (scheme.type !== 'bearer') {
    fail(`schemes.${name}.type must be 'bearer' or 'apiKey'`)
  }
  if (scheme.type !== 'bearer' && scheme.jwt !== undefined) fail(`schemes.${name}.jwt is for bearer schemes`)
  if (scheme.type !== 'bearer' && scheme.opaque !== undefined) fail(`schemes.${name}.opaque is for bearer schemes`)
  if (scheme.type !== 'bearer' && scheme.introspection !== undefined) fail(`schemes.${name}.introspection is for bearer schemes`)
  if (scheme.type !== 'bearer' && scheme.dpop !== undefined) fail(`schemes.${name}.dpop is for bearer schemes`)
  const known = schemeKeys[scheme.type]
  for (const key of Object.keys(scheme)) {
    if (!anySchemeKey.has(key)) fail(`schemes.${name} has an unknown key '${key}' (known for ${scheme.type} schemes: ${[...known].join(', ')})`)
  }
  const sources = ['verify', 'tokens', 'jwt', 'opaque', 'introspection'].filter((key) => scheme[key] !== undefined)
  if (sources.length !== 1) fail(`schemes.${name} needs exactly one of ${scheme.type === 'bearer' ? 'verify, tokens, jwt, opaque or introspection' : 'verify or tokens'}`)
  if (scheme.verify !== undefined && typeof scheme.verify !== 'function') fail(`schemes.${name}.verify must be a function`)
  if (scheme.tokens !== undefined && !(scheme.tokens instanceof Map) && !isPlainObject(scheme.tokens)) fail(`schemes.${name}.tokens must be an object or a Map`)
  checkOpenapiFields(name, scheme) // fastify-protected-routes/openapi
  return scheme as unknown as SchemeOptions
}

// --- fastify-protected-routes/openapi: the document-only fields of a bearer scheme (lib/openapi.ts).

function checkOpenapiFields (name: string, scheme: Record<string, unknown>): void {
  if (scheme.tokenUrl === undefined && scheme.scopes === undefined) return
  if (scheme.type !== 'bearer') fail(`schemes.${name}.tokenUrl and scopes are for bearer schemes`)
  if (scheme.tokenUrl === undefined) fail(`schemes.${name}.scopes needs tokenUrl: it describes the scopes of the OAuth2 flow`)
  if (typeof scheme.tokenUrl !== 'string' || !/^[\x21-\x7e]+$/.test(scheme.tokenUrl)) fail(`schemes.${name}.tokenUrl must be a URL or a path, e.g. '/token'`)
  if (scheme.scopes !== undefined && (!isPlainObject(scheme.scopes) ||
    Object.entries(scheme.scopes).some(([scope, description]) => !SCOPE_TOKEN.test(scope) || typeof description !== 'string'))) {
    fail(`schemes.${name}.scopes must map scope tokens to descriptions`)
  }
}

/**
 * `openapi` after validation. Per refusal: `true` for the plugin's error body, `false` for no
 * response, or the app's body schema as JSON text (parsed per operation, so no two share an object).
 */
export interface NormalizedOpenapiOptions {
  readonly responses: Readonly<Record<`${RefusalStatus}`, boolean | string>>
}

const REFUSALS = ['400', '401', '403'] as const

function openapiOptions (value: unknown): NormalizedOpenapiOptions {
  if (value === undefined) value = {}
  if (!isPlainObject(value)) fail('openapi must be an object')
  for (const key of Object.keys(value)) {
    if (key !== 'responses') fail(`unknown option 'openapi.${key}'`)
  }
  const given = value.responses ?? true
  if (typeof given === 'boolean') return Object.freeze({ responses: Object.freeze({ 400: given, 401: given, 403: given }) })
  if (!isPlainObject(given)) fail('openapi.responses must be a boolean or an object by status (400, 401, 403)')
  for (const key of Object.keys(given)) {
    if (!(REFUSALS as readonly string[]).includes(key)) fail(`openapi.responses has no status '${key}': the plugin documents 400, 401 and 403`)
  }
  const responses = Object.fromEntries(REFUSALS.map((status) => {
    const body = given[status] ?? true
    if (typeof body === 'boolean') return [status, body]
    let text: string | undefined
    try {
      if (isPlainObject(body)) text = JSON.stringify(body)
    } catch {} // a cycle or a BigInt: not a JSON Schema either
    if (text === undefined) fail(`openapi.responses.${status} must be a boolean or a JSON Schema object`)
    return [status, text]
  }))
  return Object.freeze({ responses: Object.freeze(responses) as NormalizedOpenapiOptions['responses'] })
}
// --- end fastify-protected-routes/openapi

// A path of a route URL: no wildcard, parameter, query, fragment or whitespace.
const PUBLIC_PATH = /^(?:\/[^/*:?#\s]+)+$/

/** `publicRoutes`: paths without a trailing slash, each public together with everything below it. */
function publicRoutes (value: unknown): readonly string[] {
  if (value === undefined) return Object.freeze([])
  if (!Array.isArray(value)) fail('publicRoutes must be an array of paths')
  for (const path of value) {
    if (typeof path !== 'string' || !PUBLIC_PATH.test(path)) {
      fail("publicRoutes entries must be paths such as '/documentation': a leading '/', no trailing '/', and no '*', ':', '?', '#' or spaces ('/' alone would make every route public)")
    }
  }
  if (new Set(value).size !== value.length) fail('publicRoutes lists a path twice')
  return Object.freeze([...value as string[]])
}

/** `userProperty`: an identifier-like name other than `auth`; plugin.ts checks that the request has no such property yet. */
function userProperty (value: unknown): string {
  if (value === undefined) return defaults.userProperty
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) fail("userProperty must be a property name such as 'identity' (letters, digits, '_' or '$', not starting with a digit)")
  if (value === 'auth') fail("userProperty cannot be 'auth': request.auth is this plugin's own (it carries the user too)")
  return value
}

function timeout (value: unknown): number {
  const ms = positiveInteger(value, 'verifyTimeout', defaults.verifyTimeout)
  if (ms > MAX_TIMEOUT) fail(`verifyTimeout must be at most ${MAX_TIMEOUT}`)
  return ms
}

/** Validates plugin options and fills in defaults; throws {@link InvalidOptionError}. */
export function normalizeOptions (options: ProtectedRoutesOptions): NormalizedOptions {
  if (!isPlainObject(options)) fail('options must be an object')
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) fail(`unknown option '${key}'`)
  }
  if (!isPlainObject(options.schemes) || Object.keys(options.schemes).length === 0) fail('schemes must name at least one scheme')
  const schemes = new Map<string, SchemeOptions>()
  for (const [name, scheme] of Object.entries(options.schemes)) schemes.set(name, checkScheme(name, scheme))

  const defaultSchemes = options.defaultSchemes ?? [...schemes.keys()]
  if (!Array.isArray(defaultSchemes) || defaultSchemes.length === 0) fail('defaultSchemes must be a non-empty array')
  for (const name of defaultSchemes) {
    if (!schemes.has(name)) fail(`defaultSchemes names an unknown scheme '${String(name)}'`)
  }
  if (new Set(defaultSchemes).size !== defaultSchemes.length) fail('defaultSchemes lists a scheme twice')

  const protectByDefault = options.protectByDefault ?? defaults.protectByDefault
  if (typeof protectByDefault !== 'boolean') fail('protectByDefault must be a boolean')
  const realm = options.realm ?? defaults.realm
  if (typeof realm !== 'string' || !REALM.test(realm)) fail('realm must be printable ASCII without quotes or backslashes')
  const hook = options.hook ?? defaults.hook
  if (hook !== 'onRequest' && hook !== 'preHandler') fail("hook must be 'onRequest' or 'preHandler'")
  const getScopes = options.getScopes ?? defaultGetScopes
  if (typeof getScopes !== 'function') fail('getScopes must be a function')
  const logLevel = options.logLevel ?? defaults.logLevel
  if (!logLevels.has(logLevel)) fail('logLevel must be a pino level name')
  const mcpAuthInfo = options.mcpAuthInfo ?? false
  if (typeof mcpAuthInfo !== 'boolean') fail('mcpAuthInfo must be a boolean')

  return {
    schemes,
    defaultSchemes: Object.freeze([...defaultSchemes]),
    protectByDefault,
    publicRoutes: publicRoutes(options.publicRoutes),
    realm,
    hook,
    verifyTimeout: timeout(options.verifyTimeout),
    maxTokenLength: positiveInteger(options.maxTokenLength, 'maxTokenLength', defaults.maxTokenLength),
    getScopes,
    logLevel,
    openapi: openapiOptions(options.openapi),
    userProperty: userProperty(options.userProperty),
    protectedResource: checkProtectedResource(options.protectedResource, schemes),
    mcpAuthInfo
  }
}
