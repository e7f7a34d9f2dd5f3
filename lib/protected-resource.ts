/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728): the `protectedResource` option, checked at
 * boot, the document the plugin serves at the well-known URL, and the `resource_metadata`
 * parameter every bearer and DPoP challenge carries (§5.1). What the document says of tokens
 * (how they are presented, which DPoP algorithms, which scopes) is read from the schemes and
 * routes, never configured twice.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify'
import { InvalidOptionError } from './errors.js'
import { isNonEmptyString, isPlainObject, SCOPE_TOKEN } from './checks.js'
import type { SchemeOptions } from './types.js'
import { allowedEndpoint } from './verifiers/endpoint-url.js'
import { isIssuerUrl } from './verifiers/discovery.js'
import { configuredIssuers } from './verifiers/jwt-config.js'

/** `protectedResource`: what this API says of itself to OAuth clients (RFC 9728 §2). */
export interface ProtectedResourceOptions {
  /**
   * The resource identifier (RFC 8707, RFC 9728 §2): the URL clients use for this API, exactly
   * (§3.3), e.g. `https://api.example/mcp`. `https:`, or `http:` on a loopback host for
   * development; no query, fragment or credentials. It is also the audience tokens must carry
   * when a `jwt` or `introspection` scheme sets no `audience`.
   */
  resource: string
  /**
   * Issuer identifiers (RFC 8414) of the authorization servers that issue tokens for it.
   * @default the `issuer` of every `jwt` and `introspection` scheme that is a URL, in order
   */
  authorizationServers?: readonly string[]
  /**
   * The scopes it advertises (RFC 9728 §2 allows leaving some out).
   * @default every scope a route that accepts a bearer scheme requires, in declaration order
   */
  scopesSupported?: readonly string[]
  /** A human-readable name (`resource_name`). */
  resourceName?: string
  /** A page for developers (`resource_documentation`). */
  resourceDocumentation?: string
  /** Its data-use policy (`resource_policy_uri`). */
  resourcePolicyUri?: string
  /** Its terms of service (`resource_tos_uri`). */
  resourceTosUri?: string
  /** Its own JWK Set (`jwks_uri`), for apps that sign responses or encrypt requests. */
  jwksUri?: string
  /** JWS algorithms it signs responses with (`resource_signing_alg_values_supported`). */
  resourceSigningAlgValuesSupported?: readonly string[]
  /** RFC 9396 authorization details types it accepts (`authorization_details_types_supported`). */
  authorizationDetailsTypesSupported?: readonly string[]
}

/** `protectedResource` after validation. */
export interface ProtectedResourceConfig {
  readonly resource: string
  /** The absolute URL of the document, for `resource_metadata` in challenges (RFC 9728 §3.1, §5.1). */
  readonly metadataUrl: string
  /** The paths the document is served at: the path-inserted one, and the bare one when they differ. */
  readonly paths: readonly string[]
  /** As given, else the issuers of the schemes (see {@link defaultAuthorizationServers}); empty fails the boot (see {@link serveMetadata}). */
  readonly authorizationServers: readonly string[]
  /** `undefined`: the routes' scopes, collected as they are declared. */
  readonly scopesSupported: readonly string[] | undefined
  /** The optional fields as they go into the document (snake_case), in the order given above. */
  readonly fields: Readonly<Record<string, string | readonly string[]>>
}

/** The well-known URI suffix (RFC 9728 §3). */
export const WELL_KNOWN = '/.well-known/oauth-protected-resource'

// A path a Fastify route can hold literally: segments of unreserved characters only (RFC 3986
// §2.3), so that no ':' or '*' turns into a route parameter and no percent-encoding into a
// second spelling of the same path.
const LITERAL_PATH = /^(?:\/[A-Za-z0-9._~-]*)+$/

const KNOWN = new Set(['resource', 'authorizationServers', 'scopesSupported', 'resourceName', 'resourceDocumentation', 'resourcePolicyUri', 'resourceTosUri', 'jwksUri', 'resourceSigningAlgValuesSupported', 'authorizationDetailsTypesSupported'])
// Fields the plugin reads from the schemes, so that the document cannot claim what it does not enforce.
const DERIVED: Readonly<Record<string, string>> = {
  bearerMethodsSupported: 'the bearer schemes',
  dpopSigningAlgValuesSupported: 'the schemes\' dpop.algorithms',
  dpopBoundAccessTokensRequired: 'the schemes\' dpop.required',
  tlsClientCertificateBoundAccessTokens: 'the schemes (this plugin does not verify certificate-bound tokens)'
}
const URL_FIELDS = [['resourceDocumentation', 'resource_documentation'], ['resourcePolicyUri', 'resource_policy_uri'], ['resourceTosUri', 'resource_tos_uri'], ['jwksUri', 'jwks_uri']] as const
const LIST_FIELDS = [['resourceSigningAlgValuesSupported', 'resource_signing_alg_values_supported'], ['authorizationDetailsTypesSupported', 'authorization_details_types_supported']] as const

function fail (message: string): never {
  throw new InvalidOptionError(`protectedResource.${message}`)
}

function list (value: unknown, name: string, what: string, item: (entry: string) => boolean): readonly string[] {
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string' && item(entry))) fail(`${name} must be an array of ${what}`)
  if (new Set(value).size !== value.length) fail(`${name} lists an entry twice`)
  return Object.freeze([...value as string[]])
}

/** The resource identifier's path-inserted metadata path (RFC 9728 §3.1): `/` alone adds nothing. */
function metadataPath (url: URL): string {
  return url.pathname === '/' ? WELL_KNOWN : `${WELL_KNOWN}${url.pathname}`
}

/** Validates `protectedResource`; throws {@link InvalidOptionError} with what to fix. */
export function checkProtectedResource (value: unknown, schemes: ReadonlyMap<string, SchemeOptions>): ProtectedResourceConfig | undefined {
  if (value === undefined) return undefined
  if (!isPlainObject(value)) throw new InvalidOptionError('protectedResource must be an object with at least resource')
  for (const key of Object.keys(value)) {
    if (DERIVED[key] !== undefined) fail(`${key} is not an option: the document reads it from ${DERIVED[key]}`)
    if (!KNOWN.has(key)) throw new InvalidOptionError(`protectedResource has an unknown key '${key}' (known: ${[...KNOWN].join(', ')})`)
  }
  const url = allowedEndpoint(value.resource)
  if (url === undefined || typeof value.resource !== 'string' || url.search !== '' || url.hash !== '' || (value.resource as string).includes('#') ||
    url.username !== '' || url.password !== '') {
    fail('resource must be the URL clients use for this API (https:, or http: on a loopback host; no query, fragment or credentials), e.g. \'https://api.example/mcp\'')
  }
  if (!LITERAL_PATH.test(url.pathname)) fail('resource must have a path of letters, digits and \'-._~\' only: the document is served at a route under it')
  if (![...schemes.values()].some((scheme) => scheme.type === 'bearer')) fail('resource needs a bearer scheme: the document describes OAuth access tokens, which API keys are not')

  const fields: Record<string, string | readonly string[]> = {}
  if (value.resourceName !== undefined) {
    if (!isNonEmptyString(value.resourceName)) fail('resourceName must be a non-empty string')
    fields.resource_name = value.resourceName
  }
  for (const [option, field] of URL_FIELDS) {
    if (value[option] === undefined) continue
    if (typeof value[option] !== 'string' || allowedEndpoint(value[option]) === undefined) fail(`${option} must be a URL (https:, or http: on a loopback host)`)
    fields[field] = value[option]
  }
  for (const [option, field] of LIST_FIELDS) {
    if (value[option] !== undefined) fields[field] = list(value[option], option, 'non-empty strings', isNonEmptyString)
  }

  const authorizationServers = value.authorizationServers === undefined
    ? defaultAuthorizationServers(schemes)
    : list(value.authorizationServers, 'authorizationServers', "authorization servers' issuer URLs (https:, or http: on a loopback host; no query or fragment)", isIssuerUrl)
  const path = metadataPath(url)
  return Object.freeze({
    resource: value.resource as string,
    metadataUrl: `${url.origin}${path}`,
    paths: Object.freeze(path === WELL_KNOWN ? [path] : [path, WELL_KNOWN]),
    authorizationServers,
    scopesSupported: value.scopesSupported === undefined ? undefined : list(value.scopesSupported, 'scopesSupported', 'scope tokens', (scope) => SCOPE_TOKEN.test(scope)),
    fields: Object.freeze(fields)
  })
}

/** The issuers of the `jwt` and `introspection` schemes that are URLs (RFC 8414 issuer identifiers), each once. */
function defaultAuthorizationServers (schemes: ReadonlyMap<string, SchemeOptions>): readonly string[] {
  const issuers = new Set<string>()
  for (const scheme of schemes.values()) {
    if (scheme.type !== 'bearer') continue
    const named = scheme.jwt === undefined ? [scheme.introspection?.issuer] : configuredIssuers(scheme.jwt)
    for (const issuer of named) {
      if (isIssuerUrl(issuer)) issuers.add(issuer)
    }
  }
  return Object.freeze([...issuers])
}

/** What the document says of DPoP, read from the built schemes. */
export interface Presented {
  /** The DPoP algorithms of the schemes with DPoP, each once; empty: none has DPoP. */
  readonly dpopAlgorithms: readonly string[]
  /** Every bearer scheme requires DPoP. */
  readonly dpopRequired: boolean
}

/** The document (RFC 9728 §2), as JSON text. */
export function metadataDocument (config: ProtectedResourceConfig, scopes: readonly string[], presented: Presented): string {
  const document: Record<string, unknown> = { resource: config.resource, authorization_servers: config.authorizationServers }
  if (scopes.length > 0) document.scopes_supported = scopes
  // Every bearer scheme (there is one) reads the Authorization header; none reads a form body or
  // the query (RFC 6750 §2.2, §2.3).
  document.bearer_methods_supported = ['header']
  Object.assign(document, config.fields)
  if (presented.dpopAlgorithms.length > 0) {
    document.dpop_signing_alg_values_supported = presented.dpopAlgorithms
    document.dpop_bound_access_tokens_required = presented.dpopRequired
  }
  return JSON.stringify(document)
}

/**
 * Serves the document at each of the config's paths: public (`config.auth: false`, which
 * `protectByDefault` honours), left out of the OpenAPI document, cacheable, and readable from
 * any origin (it holds nothing that is not public; no credentials are asked for). `body` is read
 * at the first request, once the app is ready and every route's scopes are known.
 */
export function serveMetadata (fastify: FastifyInstance, config: ProtectedResourceConfig, body: () => string): void {
  // Checked once the schemes are built, so that a scheme's own error (a jwt issuer that is no URL) is named first.
  if (config.authorizationServers.length === 0) {
    fail('authorizationServers: no jwt or introspection scheme names an issuer URL, so list the issuer identifiers of the authorization servers clients get tokens from (RFC 9728 §2); without them the document tells a client nothing to follow')
  }
  if (fastify.prefix !== '') {
    throw new InvalidOptionError(`protectedResource: the plugin is registered under the prefix '${fastify.prefix}', and RFC 9728 puts the document at ${config.paths[0]} from the host's root; register the plugin in a context without a prefix`)
  }
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'public, max-age=3600',
    'access-control-allow-origin': '*'
  }
  // `hide`: @fastify/swagger leaves the route out of the API's document.
  const routeOptions = { config: { auth: false }, schema: { hide: true } as FastifySchema }
  for (const path of config.paths) {
    fastify.get(path, routeOptions, function protectedResourceMetadata (_request: FastifyRequest, reply: FastifyReply) {
      reply.headers(headers).send(body())
    })
    // A browser client's preflight, for a request with headers of its own (MCP clients send MCP-Protocol-Version).
    fastify.options(path, routeOptions, function protectedResourceMetadataPreflight (_request: FastifyRequest, reply: FastifyReply) {
      reply.code(204).headers({
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET, HEAD, OPTIONS',
        'access-control-allow-headers': '*',
        'access-control-max-age': '86400'
      }).send()
    })
  }
}
