import { hash, timingSafeEqual } from 'node:crypto'
import { InvalidOptionError } from '../errors.js'
import type { AuthUser, StaticTokens } from '../types.js'
import type { Verified, Verifier } from './verifier.js'

interface Entry {
  readonly digest: Buffer
  readonly verified: Verified
}

function digest (token: string): Buffer {
  return hash('sha256', token, 'buffer')
}

/**
 * Static token -> user. Tokens are compared as SHA-256 digests with timingSafeEqual, and
 * every entry is compared on every request, so neither a token, its length nor its position
 * in the table shows in the timing.
 */
export function staticTokensVerifier (
  schemeName: string,
  tokens: StaticTokens,
  isWellFormed: (token: string) => boolean,
  getScopes: (user: AuthUser) => readonly string[]
): Verifier {
  const pairs = tokens instanceof Map ? [...tokens] : Object.entries(tokens as Record<string, AuthUser>)
  if (pairs.length === 0) throw new InvalidOptionError(`schemes.${schemeName}.tokens is empty`)
  const entries: Entry[] = pairs.map(([token, user]) => {
    if (typeof token !== 'string' || !isWellFormed(token)) {
      throw new InvalidOptionError(`schemes.${schemeName}.tokens holds a token that no request could present`)
    }
    if (typeof user !== 'object' || user === null || Array.isArray(user)) {
      throw new InvalidOptionError(`schemes.${schemeName}.tokens maps a token to something that is not a user object`)
    }
    const scopes = getScopes(user)
    // Spreading a string would grant its characters as scopes.
    if (!Array.isArray(scopes)) throw new InvalidOptionError(`schemes.${schemeName}.tokens: getScopes must return an array`)
    return { digest: digest(token), verified: Object.freeze({ user, scopes: Object.freeze([...scopes]) }) }
  })

  return function verifyStaticToken (token) {
    const presented = digest(token)
    let match: Verified | null = null
    for (const entry of entries) {
      if (timingSafeEqual(presented, entry.digest)) match = entry.verified
    }
    return match
  }
}
