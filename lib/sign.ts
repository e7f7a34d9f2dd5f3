import { randomUUID, type KeyObject } from 'node:crypto'
import { SignJWT, type CryptoKey, type JWK } from 'jose'

/** Options of {@link signAccessToken}. */
export interface SignAccessTokenOptions {
  /** The signing key: an HS* secret, or a private key (CryptoKey, KeyObject or private JWK). */
  key: CryptoKey | KeyObject | Uint8Array | JWK
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
 */
export async function signAccessToken (options: SignAccessTokenOptions): Promise<string> {
  const { key, algorithm, issuer, audience, subject, expiresIn = 900, scope, claims, kid } = options
  if (typeof algorithm !== 'string' || algorithm.toLowerCase() === 'none') throw new TypeError('signAccessToken: algorithm must name a signing algorithm, never none')
  if (!Number.isInteger(expiresIn) || expiresIn < 1) throw new RangeError('signAccessToken: expiresIn must be a positive whole number of seconds')
  const iat = Math.floor(Date.now() / 1000)
  return await new SignJWT(scope === undefined ? { ...claims } : { ...claims, scope })
    .setProtectedHeader(kid === undefined ? { alg: algorithm, typ: 'at+jwt' } : { alg: algorithm, typ: 'at+jwt', kid })
    .setIssuer(issuer)
    .setSubject(subject)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + expiresIn)
    .setJti(randomUUID())
    .sign(key)
}
