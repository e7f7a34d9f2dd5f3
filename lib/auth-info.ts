import type { AuthInfo, AuthUser } from './types.js'

/**
 * `request.auth`: the scheme, the scopes, the claims (for JWTs) and the user. Its JSON is what
 * it was before it carried the user (`{ scheme, scopes, claims? }`), so an app that sends
 * `request.auth` to clients does not start sending the user record with it.
 */
export class Authenticated implements AuthInfo {
  // Declared, not class fields: the constructor's assignments are the only stores.
  declare readonly scheme: string
  declare readonly scopes: readonly string[]
  declare readonly claims?: Readonly<Record<string, unknown>>
  declare readonly user: AuthUser

  constructor (scheme: string, scopes: readonly string[], user: AuthUser, claims: Readonly<Record<string, unknown>> | undefined) {
    this.scheme = scheme
    this.scopes = scopes
    if (claims !== undefined) this.claims = claims
    this.user = user
  }

  toJSON (): Omit<AuthInfo, 'user'> {
    return this.claims === undefined
      ? { scheme: this.scheme, scopes: this.scopes }
      : { scheme: this.scheme, scopes: this.scopes, claims: this.claims }
  }
}
