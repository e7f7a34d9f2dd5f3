import type { AuthInfo, AuthUser } from './types.js'

/**
 * `request.auth`: the scheme, the scopes, the claims (for JWTs), the DPoP key (for a DPoP-bound
 * token) and the user. Its JSON is what
 * it was before it carried the user (`{ scheme, scopes, claims?, dpop? }`), so an app that sends
 * `request.auth` to clients does not start sending the user record with it.
 */
export class Authenticated implements AuthInfo {
  // Declared, not class fields: the constructor's assignments are the only stores.
  declare readonly scheme: string
  declare readonly scopes: readonly string[]
  declare readonly claims?: Readonly<Record<string, unknown>>
  declare readonly user: AuthUser
  declare readonly dpop?: { readonly jkt: string }

  constructor (scheme: string, scopes: readonly string[], user: AuthUser, claims: Readonly<Record<string, unknown>> | undefined, jkt: string | undefined) {
    this.scheme = scheme
    this.scopes = scopes
    if (claims !== undefined) this.claims = claims
    this.user = user
    if (jkt !== undefined) this.dpop = Object.freeze({ jkt })
  }

  toJSON (): Omit<AuthInfo, 'user'> {
    const json: { -readonly [K in keyof Omit<AuthInfo, 'user'>]: Omit<AuthInfo, 'user'>[K] } = { scheme: this.scheme, scopes: this.scopes }
    if (this.claims !== undefined) json.claims = this.claims
    if (this.dpop !== undefined) json.dpop = this.dpop
    return json
  }
}
