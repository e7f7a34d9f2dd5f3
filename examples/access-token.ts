import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import type { SigningKey } from './key-set.js'

/** What {@link signAccessToken} puts in a token besides its key and kid. */
export interface AccessTokenClaims {
  readonly algorithm: string
  readonly issuer: string
  readonly audience: string
  readonly subject: string
  /** Lifetime in whole seconds. */
  readonly expiresIn: number
  /** Space-delimited scopes (RFC 9068 §2.2.3). */
  readonly scope: string
  /** The RFC 7638 thumbprint of the client's DPoP key: the token is bound to it as `cnf.jkt` (RFC 9449 §6.1). */
  readonly jkt?: string | undefined
}

/**
 * Signs an RFC 9068 access token as the plugin's `signAccessToken` does (`typ: at+jwt`, `iss`,
 * `sub`, `aud`, `exp`, a random `jti`, and `cnf.jkt` for a DPoP-bound token), but with `iat` to the millisecond: a fractional
 * NumericDate (RFC 7519 §2). POST /logout?all=true refuses the user's tokens issued no later
 * than its millisecond (TokenStore.revokeAll); a whole-second iat would refuse a token issued
 * after the logout within the same second too, so that a user who logs out everywhere and
 * logs in again at once would get a token that is already revoked.
 */
export async function signAccessToken ({ kid, privateKey }: SigningKey, claims: AccessTokenClaims): Promise<string> {
  const { algorithm, issuer, audience, subject, expiresIn, scope, jkt } = claims
  const issuedAt = Date.now()
  return await new SignJWT(jkt === undefined ? { scope } : { scope, cnf: { jkt } })
    // The kid picks the key in the shared JWKS (RFC 7515 §4.1.4).
    .setProtectedHeader(kid === undefined ? { alg: algorithm, typ: 'at+jwt' } : { alg: algorithm, typ: 'at+jwt', kid })
    .setIssuer(issuer)
    .setSubject(subject)
    .setAudience(audience)
    .setIssuedAt(issuedAt / 1000)
    // Whole seconds, as before: the token lives at most expiresIn seconds.
    .setExpirationTime(Math.floor(issuedAt / 1000) + expiresIn)
    .setJti(randomUUID())
    .sign(privateKey)
}
