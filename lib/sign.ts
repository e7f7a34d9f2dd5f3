import { randomUUID, type KeyObject } from 'node:crypto'
import { SignJWT, type CryptoKey, type JWK } from 'jose'
import { checkSecret, type KeySource } from './verifiers/jwt-config.js'

const HMAC_ALGORITHMS = new Set(['HS256', 'HS384', 'HS512'])

/** Options of {@link signAccessToken}. */
export interface SignAccessTokenOptions {
  /**
   * The signing key: an HS* secret in the forms `jwt.secret` takes (a string, as its UTF-8 bytes,
   * or a Uint8Array; as long as the verifier requires: 32 bytes for HS256, 48 for HS384, 64 for
   * HS512), or a private key (CryptoKey, KeyObject or private JWK).
   */
  key: CryptoKey | KeyObject | Uint8Array | JWK | string
  /** The `alg`, e.g. 'RS256', 'ES256', 'EdDSA', 'HS256'. Never 'none'. */
  algorithm: string
  /** `iss`. */
  issuer: string
  /** `aud`. */
  audience: string | string[]
  /** `sub`. */
  subject: string
  /** Lifetime in whole seconds. @default 900 */
  expiresIn?: number
  /** `scope`: space-delimited scopes (RFC 9068 §2.2.3). */
  scope?: string
  /** Further claims; `iss`, `sub`, `aud`, `iat`, `exp`, `jti` and `scope` above take precedence. */
  claims?: Record<string, unknown>
  /** `kid` header, so a verifier using a JWKS can pick the key. */
  kid?: string
}

/**
 * Signs an RFC 9068 JWT access token: header `typ: 'at+jwt'`, claims `iss`, `sub`, `aud`,
 * `iat`, `exp` and a random `jti`. Built on jose's SignJWT; meant for tests, examples and
 * small issuers.
 *
 * @example
 * const token = await signAccessToken({ key: privateKey, algorithm: 'ES256', kid: 'k1', issuer: 'https://issuer.example/', audience: 'api', subject: 'user-1', scope: 'read' })
 * // An HS256 secret, as the scheme's jwt.secret takes it:
 * const hs = await signAccessToken({ key: process.env.JWT_SECRET!, algorithm: 'HS256', issuer: 'https://issuer.example/', audience: 'api', subject: 'user-1' })
 */
export async function signAccessToken (options: SignAccessTokenOptions): Promise<string> {
  const { key, algorithm, issuer, audience, subject, expiresIn = 900, scope, claims, kid } = options
  if (typeof algorithm !== 'string' || algorithm.toLowerCase() === 'none') throw new TypeError('signAccessToken: algorithm must name a signing algorithm, never none')
  if (!Number.isInteger(expiresIn) || expiresIn < 1) throw new RangeError('signAccessToken: expiresIn must be a positive whole number of seconds')
  const signingKey = typeof key === 'string' || key instanceof Uint8Array ? secret(key, algorithm) : key
  const iat = Math.floor(Date.now() / 1000)
  return await new SignJWT(scope === undefined ? { ...claims } : { ...claims, scope })
    .setProtectedHeader(kid === undefined ? { alg: algorithm, typ: 'at+jwt' } : { alg: algorithm, typ: 'at+jwt', kid })
    .setIssuer(issuer)
    .setSubject(subject)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + expiresIn)
    .setJti(randomUUID())
    .sign(signingKey)
}

/** A string or bytes key is an HS* secret, checked (and copied) as `jwt.secret` is. */
function secret (key: string | Uint8Array, algorithm: string): Uint8Array {
  if (!HMAC_ALGORITHMS.has(algorithm)) throw new TypeError(`signAccessToken: a string or Uint8Array key is an HS* secret; ${algorithm} signs with a private key (KeyObject, CryptoKey or private JWK)`)
  return (checkSecret('signAccessToken', key, [algorithm]) as Extract<KeySource, { type: 'secret' }>).secret
}
