import type { FastifyRequest } from 'fastify'
import type { AuthUser } from '../types.js'
import type { ScopeClaim } from './scopes.js'

export type { ScopeClaim }

/**
 * A verification key: a PEM string (SPKI, `-----BEGIN PUBLIC KEY-----`), a public JWK
 * object, or a public KeyObject / extractable CryptoKey. Private and secret keys are refused.
 */
export type JwtPublicKey = string | Readonly<Record<string, unknown>> | import('node:crypto').KeyObject | import('jose').CryptoKey

/** Where one issuer's verification keys come from: exactly one of these (the others `?: never`). */
export type JwtKeySource =
  | {
    /**
     * HS* secret. At least as many bytes as the hash of every listed algorithm (RFC 7518 §3.2):
     * 32 for HS256, 48 for HS384, 64 for HS512. Only this issuer's tokens are checked with it.
     */
    secret: string | Uint8Array
    publicKey?: never
    jwksUrl?: never
    discovery?: never
  }
  | {
    /** Public key for RS*, PS*, ES*, EdDSA / Ed25519; it must fit every listed algorithm. */
    publicKey: JwtPublicKey
    secret?: never
    jwksUrl?: never
    discovery?: never
  }
  | {
    /**
     * A JWKS endpoint (fetched with jose's createRemoteJWKSet): `https:`, or `http:` on a loopback
     * host only. Only this URL is ever fetched: `jku`, `x5u`, `jwk` and `kid` headers are never
     * followed. An answer that is not a JWKS (a discovery document, an HTML page) is logged at
     * the first fetch, with what to fix.
     */
    jwksUrl: string | URL
    secret?: never
    publicKey?: never
    discovery?: never
  }
  | {
    /**
     * Find the JWKS from the issuer alone: OpenID Connect Discovery
     * (`<issuer>/.well-known/openid-configuration`), else RFC 8414
     * (`/.well-known/oauth-authorization-server` inserted before the issuer's path). The
     * metadata's `issuer` must equal `issuer` exactly (RFC 8414 §3.3) and its `jwks_uri` be
     * `https:` (`http:` on a loopback host only). Fetched when the first token needs it, with
     * `jwksTimeout`, again after `jwksCacheMaxAge` (a failed refetch keeps the metadata fetched
     * before) and no sooner than `jwksCooldown` after a failed fetch; until
     * one succeeded requests get 503. `algorithms` still comes from this configuration, never
     * from the metadata.
     */
    discovery: true
    secret?: never
    publicKey?: never
    jwksUrl?: never
  }

/** The audience(s) of this API: the token's `aud` (a string or an array) must contain one of them. */
export type JwtAudience = string | readonly string[]

/**
 * One trusted issuer of `jwt.issuers`: its `iss` (compared exactly), its key source, and
 * optionally its own `algorithms` and `audience` (else the scheme's).
 */
export type JwtIssuerOptions = JwtKeySource & {
  /** The `iss` this entry is chosen for, compared exactly (no normalisation of case or trailing slash). */
  issuer: string
  /** This issuer's algorithms. @default the scheme's `algorithms` */
  algorithms?: readonly string[]
  /** This issuer's audience(s). @default the scheme's `audience` */
  audience?: JwtAudience
}

/** Options every JWT scheme has, whatever its issuers. */
export interface JwtSettings {
  /** Leeway for exp/nbf/iat in whole seconds, 0 to 300. @default 30 */
  clockTolerance?: number
  /** Require this `typ` header (RFC 9068 §4: 'at+jwt'); compared case-insensitively, "application/" prefix allowed. */
  typ?: string
  /** Claims that must be present besides exp (which is always required). */
  requiredClaims?: readonly string[]
  /** Refuse tokens whose iat is older than this many seconds (iat then becomes required). */
  maxTokenAge?: number
  /**
   * Where scopes come from, read once per token (a cache hit reuses them): a claim name, a
   * dotted path into nested claims, or a function of the (frozen) claims returning an array of
   * strings or a space-delimited string. The claim holds a space-delimited string or an array
   * of strings; any other type refuses the token (401), a missing claim grants no scopes.
   * When set, it wins over the plugin's `getScopes`.
   * A claim whose name contains dots (Auth0's namespaced `https://…` claims) needs the function form.
   * @default the plugin's `getScopes` given the claims when it is set, else 'scope', falling
   * back to 'scp' then 'permissions' when the token has no 'scope'
   * @example 'roles' // Entra ID app roles
   * @example 'realm_access.roles' // Keycloak realm roles
   * @example (claims) => claims.resource_access?.['my-api']?.roles ?? [] // Keycloak client roles
   * @example 'permissions' // Auth0 RBAC
   */
  scopeClaim?: ScopeClaim
  /**
   * Map verified claims to request.user (may load from a database). It runs on every request,
   * cache hit or not, so a disabled user is refused at once; a falsy result refuses the token.
   * What it returns is deeply frozen, in place, before any handler sees it. Its scopes are not
   * read: the token's are (an account's scopes are more than what a token was granted).
   * @default the (frozen) claims
   */
  user?: (claims: Readonly<Record<string, unknown>>, request: FastifyRequest) => AuthUser | null | undefined | false | Promise<AuthUser | null | undefined | false>
  /** Checked on every request, cache hit or not: return true to refuse the token, false to accept it. */
  isRevoked?: (claims: Readonly<Record<string, unknown>>, request: FastifyRequest) => boolean | Promise<boolean>
  /**
   * Verification cache of verified tokens (signature and claims), keyed by a SHA-256 digest of
   * the token; an entry never outlives the token's exp. `false` turns it off.
   * @default { max: 10000 }
   */
  cache?: false | { max?: number }
  /** JWKS fetch timeout in ms. @default 5000 */
  jwksTimeout?: number
  /** Minimum ms between JWKS refetches (an unknown kid triggers at most one; a failed fetch waits this long too). @default 30000 */
  jwksCooldown?: number
  /**
   * After this many ms the JWKS is fetched again (so a key the issuer withdrew stops verifying).
   * If that fetch fails, the keys already fetched keep being used.
   * @default 600000
   */
  jwksCacheMaxAge?: number
}

/**
 * A JWT scheme trusting one issuer (`schemes.<name>.jwt`): RFC 8725 and RFC 9068 by default.
 * Every option is checked when the plugin registers; an unsafe one stops the boot.
 *
 * @example
 * jwt: {
 *   jwksUrl: 'https://issuer.example/.well-known/jwks.json',
 *   algorithms: ['RS256'],
 *   issuer: 'https://issuer.example/',
 *   audience: 'https://api.example/',
 *   typ: 'at+jwt'
 * }
 * @example
 * jwt: { issuer: 'https://tenant.example/', discovery: true, algorithms: ['RS256'], audience: 'https://api.example/' }
 */
export type JwtSingleIssuerOptions = JwtSettings & JwtKeySource & {
  /** Accepted `alg` values; required; never 'none'; HS* and asymmetric algorithms cannot be mixed. */
  algorithms: readonly string[]
  /** Required `iss`, compared exactly (no normalisation of case or trailing slash). */
  issuer: string
  /**
   * Required audience(s): `aud` (a string or an array) must contain one of them. Required,
   * unless the plugin's `protectedResource` is set: its `resource` is then the default (RFC 8707).
   */
  audience?: JwtAudience
  issuers?: never
}

/**
 * A JWT scheme trusting several issuers: the token's unverified `iss` picks the entry (exact
 * match); an `iss` no entry names is refused (401) before any key is looked up or fetched.
 *
 * @example
 * jwt: {
 *   algorithms: ['RS256'],
 *   audience: 'https://api.example/',
 *   issuers: [
 *     { issuer: 'https://kc.example/realms/staff', discovery: true },
 *     { issuer: 'https://tenant.auth0.com/', jwksUrl: 'https://tenant.auth0.com/.well-known/jwks.json' },
 *     { issuer: 'internal', secret: process.env.JWT_SECRET!, algorithms: ['HS256'] }
 *   ]
 * }
 */
export type JwtSeveralIssuersOptions = JwtSettings & {
  /** The trusted issuers, each with its key source; at least one, each `issuer` once. */
  issuers: readonly JwtIssuerOptions[]
  /** The default `algorithms` of every entry. */
  algorithms?: readonly string[]
  /** The default `audience` of every entry. @default the plugin's `protectedResource.resource`, when set */
  audience?: JwtAudience
  issuer?: never
  secret?: never
  publicKey?: never
  jwksUrl?: never
  discovery?: never
}

/** Options of the JWT verifier (`schemes.<name>.jwt`): one issuer, or several with `issuers`. */
export type JwtOptions = JwtSingleIssuerOptions | JwtSeveralIssuersOptions
