import { errorChallenge } from './challenge.js'
import type { Scheme } from './schemes/index.js'
import type { AuthorizeFunction } from './types.js'
import { SCOPE_TOKEN } from './checks.js'

/** A protected route's auth requirements, resolved once when the route is declared. */
export interface ResolvedRoute {
  readonly schemes: readonly Scheme[]
  readonly scopes: readonly string[]
  readonly authorize: AuthorizeFunction | undefined
  readonly optional: boolean
  /**
   * CORS preflights to it pass unchallenged: it answers OPTIONS only and is protected only
   * implicitly (`protectByDefault`), so it is a preflight handler nobody asked to protect.
   */
  readonly preflightExempt: boolean
  /** The 401 header value: one challenge per accepted scheme, in order (RFC 9110 §11.6.1); a string when there is one. */
  readonly challenges: string | readonly string[]
}

/** What a route that asks for nothing resolves to. */
export const PUBLIC = Object.freeze({ public: true as const })

const routeKeys = new Set(['schemes', 'scopes', 'authorize', 'optional'])

interface Context {
  readonly schemes: ReadonlyMap<string, Scheme>
  readonly defaultSchemes: readonly string[]
  readonly protectByDefault: boolean
  readonly publicRoutes: readonly string[]
}

/** Thrown with a reason; the caller wraps it with the route's method and URL. */
export class RouteConfigProblem extends Error {}

function problem (reason: string): never {
  throw new RouteConfigProblem(reason)
}

function stringList (value: unknown, what: string): readonly string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) problem(`${what} must be an array of strings`)
  if (new Set(value).size !== value.length) problem(`${what} lists an entry twice`)
  return value as string[]
}

/** A route's method(s) and URL, for messages: `GET,POST`, `/items`. */
export function describeRoute (method: string | readonly string[], url: string): [string, string] {
  return [Array.isArray(method) ? method.join(',') : String(method), url]
}

/** Does a route with these methods answer OPTIONS only (a CORS preflight handler)? */
export function answersOnlyOptions (method: string | readonly string[]): boolean {
  return method === 'OPTIONS' || (Array.isArray(method) && method.every((m) => m === 'OPTIONS'))
}

/** Is the route URL one of `publicRoutes` or below one (`/docs` covers `/docs/json`, not `/docsx`)? */
function isPublicPath (url: string, publicRoutes: readonly string[]): boolean {
  return publicRoutes.some((path) => url === path || url.startsWith(`${path}/`))
}

/**
 * Resolves `config.auth` for a route declared at `url`. Returns {@link PUBLIC} for a public
 * route; throws {@link RouteConfigProblem} for anything that is not a valid `config.auth`.
 */
export function resolveRoute (auth: unknown, method: string | readonly string[], url: string, context: Context): ResolvedRoute | typeof PUBLIC {
  if (auth === false) return PUBLIC
  const implicit = auth === undefined
  if (implicit) {
    if (!context.protectByDefault || isPublicPath(url, context.publicRoutes)) return PUBLIC
    auth = true
  }
  const options = auth === true ? {} : auth
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    problem('must be true, false or an object')
  }
  const record = options as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (!routeKeys.has(key)) problem(`unknown key '${key}' (known: schemes, scopes, authorize, optional)`)
  }

  let names = context.defaultSchemes
  if (record.schemes !== undefined) {
    names = stringList(record.schemes, 'schemes')
    if (names.length === 0) problem('schemes must name at least one scheme')
  }
  const schemes = names.map((name) => context.schemes.get(name) ?? problem(`schemes names an unknown scheme '${name}'`))

  let scopes: readonly string[] = []
  if (record.scopes !== undefined) {
    scopes = stringList(record.scopes, 'scopes')
    if (scopes.some((scope) => !SCOPE_TOKEN.test(scope))) problem('scopes must be RFC 6749 scope tokens (no spaces, quotes or backslashes)')
  }
  if (record.authorize !== undefined && typeof record.authorize !== 'function') problem('authorize must be a function')
  if (record.optional !== undefined && typeof record.optional !== 'boolean') problem('optional must be a boolean')

  return Object.freeze({
    schemes: Object.freeze(schemes),
    scopes: Object.freeze([...scopes]),
    authorize: record.authorize as AuthorizeFunction | undefined,
    optional: record.optional === true,
    // Preflights carry no credentials (Fetch §4.8). An explicit config.auth is honoured as written.
    preflightExempt: implicit && answersOnlyOptions(method),
    challenges: oneOrMany(schemes.map((scheme) => scheme.challenge))
  })
}

/** Header values: a single challenge as a string, several as one header line each. */
export function oneOrMany (values: string[]): string | readonly string[] {
  return values.length === 1 ? values[0] as string : Object.freeze(values)
}

/** The 403 challenge for a route, on the scheme that identified the user. */
export function forbiddenChallenge (scheme: Scheme, route: ResolvedRoute, description: string): string {
  return errorChallenge(scheme.challenge, 'insufficient_scope', description, route.scopes.length > 0 ? route.scopes.join(' ') : undefined)
}
