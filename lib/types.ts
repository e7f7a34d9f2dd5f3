import type { FastifyRequest } from 'fastify'
import type { JwtOptions } from './verifiers/jwt-options.js'
import type { OpaqueOptions } from './verifiers/opaque.js'
import type { IntrospectionOptions } from './verifiers/introspection-config.js'
import type { DpopOptions } from './dpop/options.js'
import type { ProtectedResourceOptions } from './protected-resource.js'

/**
 * Augment this interface to type the plugin app-wide. Every key is optional:
 * - `user`: the type of the verified user (default: a plain object);
 * - `userProperty`: the request property the user goes on, as a string literal, when it is
 *   not `'user'` (the plugin option `userProperty` must then say the same);
 * - `schemes`: the scheme names, as a union of string literals; then `schemes`,
 *   `defaultSchemes` and `config.auth.schemes` accept only those names.
 *
 * In a `.d.ts` file, keep the `import` line: without an import or export the file is a
 * script, and its `declare module` replaces the package's types instead of augmenting them.
 *
 * @example
 * import 'fastify-protected-routes'
 *
 * declare module 'fastify-protected-routes' {
 *   interface FastifyProtectedRoutes {
 *     user: { username: string, scopes: string[] }
 *     schemes: 'bearerAuth' | 'tokenHeader'
 *   }
 * }
 */
export interface FastifyProtectedRoutes {}

/** The verified user: the `user` type of {@link FastifyProtectedRoutes}, or a plain object. */
export type AuthUser = FastifyProtectedRoutes extends { user: infer U } ? U : Record<string, unknown>

/** The request property that holds the user: the `userProperty` of {@link FastifyProtectedRoutes}, or `'user'`. */
export type UserProperty = FastifyProtectedRoutes extends { userProperty: infer P extends string } ? P : 'user'

/** A scheme name: one of the `schemes` of {@link FastifyProtectedRoutes}, or any string when none are declared. */
export type SchemeName = FastifyProtectedRoutes extends { schemes: infer S extends string } ? S : string

/** How the current request was authenticated (`request.auth`). */
export interface AuthInfo {
  /** The name of the scheme whose credential identified the user. */
  readonly scheme: string
  /** The scopes granted to the user (what the route's `scopes` were checked against). */
  readonly scopes: readonly string[]
  /** The verified JWT claims, when the scheme verifies JWTs; the introspection response, for an introspection scheme. */
  readonly claims?: Readonly<Record<string, unknown>>
  /** The verified user, whatever `userProperty` says (the same value as `request.user` by default). */
  readonly user: AuthUser
  /**
   * For a DPoP-bound token (RFC 9449), presented with a valid proof: the RFC 7638 thumbprint of
   * the key it is bound to (its `cnf.jkt`). Absent for a bearer token.
   */
  readonly dpop?: { readonly jkt: string }
}

/** What a verifier returns: the user, or a falsy value to refuse the credential. */
export type VerifyResult = AuthUser | null | undefined | false

/** A function that turns a credential into a user. Sync or async. */
export type VerifyFunction = (token: string, request: FastifyRequest) => VerifyResult | Promise<VerifyResult>

/** Static credentials: token -> user, as an object or a Map. */
export type StaticTokens = Readonly<Record<string, AuthUser>> | ReadonlyMap<string, AuthUser>

/**
 * Exactly one verifier per scheme, in the types as at boot: each member requires one key and
 * rules the others out (`?: never`), so a scheme with none or two does not compile.
 */
interface WithVerify {
  /** Turns the credential into a user (sync or async); a falsy result refuses it. */
  verify: VerifyFunction
  tokens?: never
}
interface WithTokens {
  verify?: never
  /** Static credentials, compared in constant time against every entry. */
  tokens: StaticTokens
}
type NoJwtOrOpaque = { jwt?: never, opaque?: never, introspection?: never, dpop?: never }
interface WithDpop {
  /**
   * Accept DPoP-bound tokens (RFC 9449): `Authorization: DPoP <token>` with a `DPoP` proof
   * made with the key the token's `cnf.jkt` names. Bound tokens are refused as `Bearer` whether
   * or not this is set.
   */
  dpop?: DpopOptions
}
/** The verifier of a bearer scheme: exactly one of `verify`, `tokens`, `jwt`, `opaque` or `introspection`. */
type BearerVerifier =
  | (WithVerify & NoJwtOrOpaque)
  | (WithTokens & NoJwtOrOpaque)
  | (WithDpop & {
    verify?: never
    tokens?: never
    /** Verify the token as a JWT access token (RFC 9068, RFC 8725). */
    jwt: JwtOptions
    opaque?: never
    introspection?: never
  })
  | (WithDpop & {
    verify?: never
    tokens?: never
    jwt?: never
    /** Opaque tokens a token store issued (`MemoryTokenStore`, `RedisTokenStore`), looked up per request. */
    opaque: OpaqueOptions
    introspection?: never
  })
  | (WithDpop & {
    verify?: never
    tokens?: never
    jwt?: never
    opaque?: never
    /** Opaque tokens of an authorization server, checked at its RFC 7662 introspection endpoint and cached. */
    introspection: IntrospectionOptions
  })

/** The fields of a bearer scheme besides its verifier. */
interface BearerSchemeFields {
  type: 'bearer'
  /**
   * For the OpenAPI document only: the OAuth 2.0 token endpoint where clients get tokens
   * for this scheme. With it, @fastify/swagger shows the scheme as an `oauth2` password
   * flow (so Swagger UI can log in) instead of plain `http` bearer. This plugin does not
   * serve the endpoint.
   * @example '/token'
   */
  tokenUrl?: string
  /**
   * For the OpenAPI document only (needs `tokenUrl`): descriptions of the scopes of the
   * `oauth2` flow. Scopes that routes require but that are not listed here are added with
   * an empty description.
   * @example { 'items:read': 'Read items' }
   */
  scopes?: Readonly<Record<string, string>>
}

/** `Authorization: Bearer <token>` (RFC 6750 §2.1). Exactly one of `verify`, `tokens`, `jwt`, `opaque` or `introspection`. */
export type BearerSchemeOptions = BearerSchemeFields & BearerVerifier

/** The fields of an API key scheme besides its verifier. */
interface ApiKeySchemeFields {
  type: 'apiKey'
  in: 'header' | 'query' | 'cookie'
  /** The header, query parameter or cookie name, e.g. `X-Token`. */
  name: string
}

/** An API key in a header, a query parameter or a cookie. Exactly one of `verify` or `tokens`. */
export type ApiKeySchemeOptions = ApiKeySchemeFields & (WithVerify | WithTokens)

/** One authentication scheme. */
export type SchemeOptions = BearerSchemeOptions | ApiKeySchemeOptions

/**
 * Per-route predicate: anything but `true` refuses with 403. Declared with method syntax, so
 * its parameters are checked bivariantly: a predicate may annotate `request` with the route's
 * own type (`FastifyRequest<{ Params: { id: string } }>`), which a plain function type would
 * refuse under `strictFunctionTypes`.
 *
 * @example
 * authorize (request: FastifyRequest<{ Params: { owner: string } }>, user) {
 *   return request.params.owner === user.username
 * }
 */
export type AuthorizeFunction = {
  authorize (request: FastifyRequest, user: AuthUser): boolean | Promise<boolean>
}['authorize']

interface RouteAuthFields {
  /** Schemes this route accepts (by name). Default: the plugin's `defaultSchemes`. */
  schemes?: readonly SchemeName[]
  /** Scopes the user must all have. */
  scopes?: readonly string[]
  /** A predicate the user must pass (403 unless it returns true). */
  authorize?: AuthorizeFunction
  /** Let requests without any credential through with `request.user = null`; a bad credential is still refused. */
  optional?: boolean
  /**
   * Require every scheme in `schemes` at once (a client API key and a user token), each in its
   * own place: all must be present and verify; the user is the first one's. Not with `optional`.
   */
  all?: boolean
  /**
   * Step-up (RFC 9470): the token's `acr` claim must be one of these, else 401
   * `insufficient_user_authentication` with `acr_values` (in this order of preference), so the
   * client can re-authenticate. Checked before `scopes`. Only schemes whose tokens carry claims
   * (`jwt`, introspection); the route's declaration fails otherwise.
   * @example ['mfa']
   */
  acr?: readonly string[]
  /**
   * Step-up (RFC 9470): the token's `auth_time` claim must be at most this many seconds old
   * (with the scheme's `clockTolerance`), else 401 `insufficient_user_authentication` with
   * `max_age`. Checked before `scopes`; same schemes as `acr`.
   * @example 300
   */
  maxAge?: number
}

/**
 * The object form of `config.auth`: at least one of its keys. (An object type whose keys
 * are all optional is a weak type, and Fastify's inferred route config would let
 * `auth: 'yes'` through it; requiring one key closes that.)
 */
export type RouteAuthOptions =
  | (RouteAuthFields & { schemes: readonly SchemeName[] })
  | (RouteAuthFields & { scopes: readonly string[] })
  | (RouteAuthFields & { authorize: AuthorizeFunction })
  | (RouteAuthFields & { optional: boolean })
  | (RouteAuthFields & { all: boolean })
  | (RouteAuthFields & { acr: readonly string[] })
  | (RouteAuthFields & { maxAge: number })

/**
 * `config.auth` on a route: `true` (any default scheme), `false` (public, even under
 * `protectByDefault`) or {@link RouteAuthOptions}.
 */
export type RouteAuthConfig = boolean | RouteAuthOptions

/** Log levels the plugin may log refusals at. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

/** A refusal this plugin documents: 400 (malformed credential), 401 (none, invalid, or a step-up), 403 (scope or authorize). */
export type RefusalStatus = 400 | 401 | 403

/** For the OpenAPI document only: what @fastify/swagger's document says about this plugin. */
export interface OpenapiOptions {
  /**
   * The 400/401/403 responses added to protected operations, for an app whose error handler
   * reshapes error bodies. `true`: each with the plugin's body (`{ statusCode, code, error,
   * message }`); `false`: none (the operations keep their `security`); an object, by status: a
   * JSON Schema object replaces that body, `false` leaves the status out, `true` or absent keeps
   * the plugin's. Descriptions and the `WWW-Authenticate` header stay; a response the route
   * declares itself still wins.
   * @default true
   * @example { 400: false, 401: { $ref: '#/components/schemas/Problem' }, 403: { $ref: '#/components/schemas/Problem' } }
   */
  responses?: boolean | { readonly [status in RefusalStatus]?: boolean | Readonly<Record<string, unknown>> }
}
/**
 * `userProperty` as the types allow it: `'user'` or nothing by default; required, and the
 * declared name, when {@link FastifyProtectedRoutes} declares another `userProperty`.
 */
type UserPropertyOption = [UserProperty] extends ['user']
  ? {
      /**
       * The request property the verified user goes on (`request.auth.user` has it too). Another
       * name lets @fastify/jwt or @fastify/passport keep `request.user` during a migration;
       * declare it as `userProperty` in {@link FastifyProtectedRoutes} to type it.
       * @default 'user'
       */
      userProperty?: 'user'
    }
  : {
      /** The request property the verified user goes on, as declared in {@link FastifyProtectedRoutes}. */
      userProperty: UserProperty
    }

/** Options of the plugin. */
export interface ProtectedRoutesOptions extends UserPropertyOption {
  /** The schemes, by name. At least one; every declared name when {@link FastifyProtectedRoutes} declares `schemes`. */
  schemes: Readonly<Record<SchemeName, SchemeOptions>>
  /** What `auth: true` accepts. @default every scheme, in declared order */
  defaultSchemes?: readonly SchemeName[]
  /** Protect every route that does not say `auth: false`. @default false */
  protectByDefault?: boolean
  /**
   * Paths that are public, together with everything below them, for routes whose config has
   * no `auth` (an explicit `config.auth` wins). For routes other plugins declare, which take no
   * route config, such as @fastify/swagger-ui's. Matched on the route's declared URL, prefix
   * included: `'/documentation'` covers `/documentation` and `/documentation/json`, not
   * `/documentationx`.
   * @default []
   * @example ['/documentation', '/health']
   */
  publicRoutes?: readonly string[]
  /** The realm in challenges (RFC 9110 §11.5). @default 'api' */
  realm?: string
  /**
   * The lifecycle hook that verifies: `'onRequest'` refuses before the body is read, parsed or
   * validated; `'preHandler'` when verification needs the parsed body (a verifier that reads
   * `request.body`). @default 'onRequest'
   */
  hook?: 'onRequest' | 'preHandler'
  /** Milliseconds a verifier may take before the request gets 503. @default 10000 */
  verifyTimeout?: number
  /** Longest credential accepted, in characters; longer ones get 400 before any verifier runs. @default 8192 */
  maxTokenLength?: number
  /** Reads the granted scopes from a user. @default the user's `scopes` array or space-delimited `scope` string */
  getScopes?: (user: AuthUser) => readonly string[]
  /**
   * A log line of the plugin's own for each refusal, at this level, with the reason code and the
   * scheme (never the credential). Off by default: Fastify's error log already logs each refusal
   * once, at info, with its code and `err.scheme`; set it when your error handler logs nothing,
   * or to see refusals at another level. @default 'silent'
   */
  logLevel?: LogLevel
  /** For the OpenAPI document only (with @fastify/swagger). */
  openapi?: OpenapiOptions
  /**
   * OAuth 2.0 Protected Resource Metadata (RFC 9728): serve the document at
   * `/.well-known/oauth-protected-resource` (and its path-inserted form), add
   * `resource_metadata` to every bearer and DPoP challenge, and make `resource` the default
   * audience of `jwt` and `introspection` schemes (RFC 8707). What MCP clients look for.
   * @example { resource: 'https://api.example/mcp', resourceName: 'Example MCP server' }
   */
  protectedResource?: ProtectedResourceOptions
  /**
   * Also put the verified token on `request.raw.auth` in the shape of the MCP TypeScript SDK's
   * `AuthInfo` (`token`, `clientId`, `scopes`, `expiresAt`, `resource`, `extra`), so its Streamable
   * HTTP transport, handed `request.raw`, gives tool handlers `extra.authInfo`. @default false
   */
  mcpAuthInfo?: boolean
}

/**
 * `request.raw.auth` with `mcpAuthInfo`: the MCP TypeScript SDK's `AuthInfo`, frozen. Set on a
 * protected route once the request is authenticated; `undefined` on an optional route's
 * anonymous request.
 */
export interface McpAuthInfo {
  /** The access token (for DPoP, the token, not the proof). */
  readonly token: string
  /** The token's `client_id` (RFC 9068, RFC 7662), else its `azp`, else `''` (verifiers without claims). */
  readonly clientId: string
  /** The granted scopes; frozen (typed as the SDK's `string[]`, so the object can be handed on as its `AuthInfo`). */
  readonly scopes: string[]
  /** Its `exp`, in seconds since the epoch, when it has one. */
  readonly expiresAt?: number
  /** `protectedResource.resource`, when the token's `aud` names it. */
  readonly resource?: URL
  /** The rest of `request.auth`: the scheme, the user, the claims and the DPoP key. */
  readonly extra: {
    readonly scheme: string
    readonly user: AuthUser
    readonly claims?: Readonly<Record<string, unknown>>
    readonly dpop?: { readonly jkt: string }
  }
}
