import { errorChallenge, stepUpChallenge } from './challenge.js'
import { InsufficientUserAuthenticationError } from './errors.js'
import type { Extractor } from './credential.js'
import type { Scheme } from './schemes/index.js'
import type { StepUp } from './step-up.js'
import type { AuthorizeFunction } from './types.js'
import type { McpContext } from './mcp.js'
import { SCOPE_TOKEN } from './checks.js'

/**
 * The route's schemes that read one place (see {@link Scheme.place}): its credential is found
 * once and offered to them in order.
 */
export interface Group {
  readonly schemes: readonly Scheme[]
  /** The first of them. */
  readonly first: Scheme
  /** Finds the credential for all of them: in every presentation one of them accepts (`Bearer`, `DPoP`). */
  readonly extract: Extractor
  /** The DPoP challenge of the first of them with DPoP, for a malformed DPoP request; `undefined`: none has DPoP. */
  readonly dpopChallenge: string | undefined
}

/** A protected route's auth requirements, resolved once when the route is declared. */
export interface ResolvedRoute {
  readonly schemes: readonly Scheme[]
  /** {@link schemes} by place, each group where its first scheme is in the list. */
  readonly groups: readonly Group[]
  /** Every scheme's credential must be present and verify (`all: true`); else any one will do. */
  readonly all: boolean
  readonly scopes: readonly string[]
  /** `acr` / `maxAge` (RFC 9470), checked before the scopes; `undefined` when the route has neither. */
  readonly stepUp: StepUp | undefined
  readonly authorize: AuthorizeFunction | undefined
  readonly optional: boolean
  /**
   * CORS preflights to it pass unchallenged: it answers OPTIONS only and is protected only
   * implicitly (`protectByDefault`), so it is a preflight handler nobody asked to protect.
   */
  readonly preflightExempt: boolean
  /** The accepted schemes' challenges, each distinct one once, in order. */
  readonly bases: readonly string[]
  /** The 401 header value: {@link bases} (RFC 9110 §11.6.1); a string when there is one. */
  readonly challenges: string | readonly string[]
  /** With `mcpAuthInfo`: `request.raw.auth` is set too (lib/mcp.ts). */
  readonly mcp: McpContext | undefined
}

/** What a route that asks for nothing resolves to. */
export const PUBLIC = Object.freeze({ public: true as const })

const routeKeys = new Set(['schemes', 'scopes', 'authorize', 'optional', 'all', 'acr', 'maxAge'])
const knownKeys = [...routeKeys].join(', ')

interface Context {
  readonly schemes: ReadonlyMap<string, Scheme>
  readonly defaultSchemes: readonly string[]
  readonly protectByDefault: boolean
  readonly publicRoutes: readonly string[]
  readonly mcp: McpContext | undefined
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
    if (!routeKeys.has(key)) problem(`unknown key '${key}' (known: ${knownKeys})`)
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
  if (record.all !== undefined && typeof record.all !== 'boolean') problem('all must be a boolean')
  const all = record.all === true
  const groups = groupByPlace(schemes)
  if (all) {
    if (record.optional === true) problem('optional and all cannot be combined: with all, every scheme\'s credential is required')
    const shared = groups.find((group) => group.schemes.length > 1)
    if (shared !== undefined) {
      problem(`with all, each scheme must read its own place: '${shared.schemes[0]!.name}' and '${shared.schemes[1]!.name}' both read ${shared.first.place}, which carries one credential`)
    }
  }
  const bases = distinct(schemes.flatMap((scheme) => scheme.bases))

  return Object.freeze({
    schemes: Object.freeze(schemes),
    groups,
    all,
    scopes: Object.freeze([...scopes]),
    stepUp: resolveStepUp(record, schemes, all, bases),
    authorize: record.authorize as AuthorizeFunction | undefined,
    optional: record.optional === true,
    // Preflights carry no credentials (Fetch §4.8). An explicit config.auth is honoured as written.
    preflightExempt: implicit && answersOnlyOptions(method),
    bases,
    challenges: oneOrMany([...bases]),
    mcp: context.mcp
  })
}

/**
 * `acr` and `maxAge` (RFC 9470), checked and resolved with the 401 header value for each scheme
 * that may identify the user (every scheme, or with `all` the first). Each such
 * scheme must carry claims: a verify function, static tokens, a token store or an API key have
 * no `acr` or `auth_time`, so a user they identify could never pass, and the route would refuse
 * them all at request time; the declaration is refused instead.
 */
function resolveStepUp (record: Record<string, unknown>, schemes: readonly Scheme[], all: boolean, bases: readonly string[]): StepUp | undefined {
  const { acr, maxAge } = record
  if (acr === undefined && maxAge === undefined) return undefined
  let values: readonly string[] | undefined
  if (acr !== undefined) {
    values = stringList(acr, 'acr')
    if (values.length === 0) problem('acr must list at least one value')
    // They go into acr_values, a space-separated quoted-string (RFC 9470 §3).
    if (values.some((value) => !SCOPE_TOKEN.test(value))) problem('acr values must be printable ASCII without spaces, quotes or backslashes')
    values = Object.freeze([...values])
  }
  if (maxAge !== undefined && (!Number.isSafeInteger(maxAge) || (maxAge as number) < 0)) problem('maxAge must be a non-negative integer (seconds)')
  const blind = (all ? schemes.slice(0, 1) : schemes).find((scheme) => !scheme.hasClaims)
  if (blind !== undefined) {
    problem(`acr and maxAge are read from the claims of the token that identifies the user, and scheme '${blind.name}' has none (only jwt and introspection schemes carry claims)${all ? '; with all, the first scheme identifies the user' : ''}`)
  }
  const description = new InsufficientUserAuthenticationError().message
  const challenges = new Map<string, string | readonly string[]>()
  for (const identified of bases) {
    const refused = stepUpChallenge(identified, description, values, maxAge as number | undefined)
    challenges.set(identified, oneOrMany(bases.map((base) => base === identified ? refused : base)))
  }
  return Object.freeze({ acr: values, maxAge: maxAge as number | undefined, challenges })
}

function distinct (values: readonly string[]): readonly string[] {
  return Object.freeze([...new Set(values)])
}

/** The group's extractor: its first scheme's, unless the others accept a presentation it does not (a bearer scheme beside one with DPoP). */
function extractorOf (group: readonly Scheme[]): Extractor {
  const first = group[0]!
  const bearer = group.some((scheme) => scheme.presentations.bearer)
  const dpop = group.some((scheme) => scheme.presentations.dpop)
  if (first.extractFor === undefined || (bearer === first.presentations.bearer && dpop === first.presentations.dpop)) return first.extract
  return first.extractFor({ bearer, dpop })
}

function groupByPlace (schemes: readonly Scheme[]): readonly Group[] {
  const byPlace = new Map<string, Scheme[]>()
  for (const scheme of schemes) {
    const group = byPlace.get(scheme.place)
    if (group === undefined) byPlace.set(scheme.place, [scheme])
    else group.push(scheme)
  }
  return Object.freeze([...byPlace.values()].map((group) => Object.freeze({
    schemes: Object.freeze(group),
    first: group[0]!,
    extract: extractorOf(group),
    dpopChallenge: group.find((scheme) => scheme.dpop !== undefined)?.dpop!.challenge
  })))
}

/** Header values: a single challenge as a string, several as one header line each. */
export function oneOrMany (values: string[]): string | readonly string[] {
  return values.length === 1 ? values[0] as string : Object.freeze(values)
}

/** The 403 challenge for a route, on the challenge the user was identified under (a scheme's, or its DPoP one). */
export function forbiddenChallenge (identified: string, route: ResolvedRoute, description: string): string {
  return errorChallenge(identified, 'insufficient_scope', description, route.scopes.length > 0 ? route.scopes.join(' ') : undefined)
}
