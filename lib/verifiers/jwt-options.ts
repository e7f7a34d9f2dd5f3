import type { FastifyRequest } from 'fastify'
import type { AuthUser } from '../types.js'

/** A verification key: a PEM string (SPKI), a JWK object, or a KeyObject / CryptoKey. */
export type JwtPublicKey = string | Readonly<Record<string, unknown>> | import('node:crypto').KeyObject | CryptoKey

/** Where the token's scopes are read from. */
export type ScopeClaim = 'scope' | 'scp' | 'permissions'

/** Options of the JWT verifier (`schemes.<name>.jwt`): RFC 8725 and RFC 9068 by default. */
export interface JwtOptions {
  /** HS* secret, at least 32 bytes. Exactly one of `secret`, `publicKey`, `jwksUrl`. */
  secret?: string | Uint8Array
  /** Public key for RS*, PS*, ES*, EdDSA. */
  publicKey?: JwtPublicKey
  /** A JWKS endpoint (fetched with jose's createRemoteJWKSet). */
  jwksUrl?: string | URL
  /** Accepted `alg` values; required; never 'none'. */
  algorithms: readonly string[]
  /** Required `iss`, compared exactly. */
  issuer: string
  /** Required audience: `aud` must contain it. */
  audience: string
  /** Leeway for exp/nbf/iat in seconds. @default 30 (at most 300) */
  clockTolerance?: number
  /** Require this `typ` header (RFC 9068 §4: 'at+jwt'); compared case-insensitively, "application/" prefix allowed. */
  typ?: string
  /** Claims that must be present besides exp. */
  requiredClaims?: readonly string[]
  /** Refuse tokens whose iat is older than this many seconds. */
  maxTokenAge?: number
  /** Where scopes come from. @default 'scope' (space-delimited string), falling back to 'scp' and 'permissions' arrays */
  scopeClaim?: ScopeClaim
  /** Map verified claims to request.user (may load from a database). @default the claims */
  user?: (claims: Readonly<Record<string, unknown>>, request: FastifyRequest) => AuthUser | null | undefined | false | Promise<AuthUser | null | undefined | false>
  /** Checked on every request, cache hit or not: return true to refuse the token. */
  isRevoked?: (claims: Readonly<Record<string, unknown>>, request: FastifyRequest) => boolean | Promise<boolean>
  /** Verification cache of verified tokens. `false` turns it off. @default { max: 10000 } */
  cache?: false | { max?: number }
  /** JWKS fetch timeout in ms. @default 5000 */
  jwksTimeout?: number
  /** Minimum ms between JWKS refetches (an unknown kid triggers at most one). @default 30000 */
  jwksCooldown?: number
}
