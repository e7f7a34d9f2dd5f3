import type { FastifyRequest } from 'fastify'
import type { AuthUser } from '../types.js'
import type { ScopeClaim } from './scopes.js'

export type { ScopeClaim }

/**
 * A verification key: a PEM string (SPKI, `-----BEGIN PUBLIC KEY-----`), a public JWK
 * object, or a public KeyObject / extractable CryptoKey. Private and secret keys are refused.
 */
export type JwtPublicKey = string | Readonly<Record<string, unknown>> | import('node:crypto').KeyObject | import('jose').CryptoKey

/**
 * Options of the JWT verifier (`schemes.<name>.jwt`): RFC 8725 and RFC 9068 by default.
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
 */
export interface JwtOptions {
  /**
   * HS* secret. Exactly one of `secret`, `publicKey`, `jwksUrl`. At least as many bytes as
   * the hash of every listed algorithm (RFC 7518 §3.2): 32 for HS256, 48 for HS384, 64 for HS512.
   */
  secret?: string | Uint8Array
  /** Public key for RS*, PS*, ES*, EdDSA / Ed25519; it must fit every listed algorithm. */
  publicKey?: JwtPublicKey
  /**
   * A JWKS endpoint (fetched with jose's createRemoteJWKSet): `https:`, or `http:` on a loopback
   * host only. Only this URL is ever fetched: `jku`, `x5u`, `jwk` and `kid` headers are never followed.
   */
  jwksUrl?: string | URL
  /** Accepted `alg` values; required; never 'none'; HS* and asymmetric algorithms cannot be mixed. */
  algorithms: readonly string[]
  /** Required `iss`, compared exactly (no normalisation of case or trailing slash). */
  issuer: string
  /** Required audience: `aud` (a string or an array) must contain it. */
  audience: string
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
