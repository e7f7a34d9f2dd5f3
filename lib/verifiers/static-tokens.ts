import { timingSafeEqual } from 'node:crypto'
import { InvalidOptionError } from '../errors.js'
import type { AuthUser, StaticTokens } from '../types.js'
import { deepFreeze, MAX_FREEZE_DEPTH, MAX_FREEZE_PROPERTIES } from './freeze.js'
import { userScopes } from './scopes.js'
import { isUserObject, verified, type Verified, type Verifier } from './verifier.js'

const zero = Uint8Array.prototype.fill

interface Entry {
  /** The token's bytes, zero-padded to the longest configured token. */
  readonly padded: Buffer
  readonly length: number
  readonly verified: Verified
}

/**
 * Static token -> user. Every presented token is written into a zero-filled block as long as
 * the longest configured token and compared with timingSafeEqual against every entry, padded
 * the same way, without stopping at a match. The work per request depends on the number of
 * entries and on the presented token's own length, never on which entry matched or on how
 * long the configured tokens are; and it costs a copy rather than a hash per request.
 */
export function staticTokensVerifier (
  schemeName: string,
  tokens: StaticTokens,
  isWellFormed: (token: string) => boolean,
  getScopes: (user: AuthUser) => readonly string[],
  maxTokenLength: number
): Verifier {
  const pairs = tokens instanceof Map ? [...tokens] : Object.entries(tokens as Record<string, AuthUser>)
  if (pairs.length === 0) throw new InvalidOptionError(`schemes.${schemeName}.tokens is empty`)
  for (const [token, user] of pairs) {
    if (typeof token !== 'string' || !isWellFormed(token)) {
      throw new InvalidOptionError(`schemes.${schemeName}.tokens holds a token that no request could present`)
    }
    if (!isUserObject(user)) {
      throw new InvalidOptionError(`schemes.${schemeName}.tokens maps a token to something that is not a user object`)
    }
  }
  // Well-formed tokens are visible ASCII: one byte per character.
  const block = pairs.reduce((longest, [token]) => Math.max(longest, token.length), 0)
  const scopesOf = userScopes(getScopes)
  const entries: Entry[] = pairs.map(([token, user]) => {
    // Every request with this token gets this user: frozen here, in place, so that no handler
    // can change it for the next one. Not a copy: structuredClone cannot copy functions or keep
    // class instances (nor their private fields), and a copy would let the app's own later
    // changes to its object pass silently unseen; freezing makes them throw where they are made.
    try {
      deepFreeze(user)
    } catch (err) {
      throw new InvalidOptionError(`schemes.${schemeName}.tokens maps a token to a user object that cannot be frozen (nested more than ${MAX_FREEZE_DEPTH} levels deep, more than ${MAX_FREEZE_PROPERTIES} properties, or a Proxy that refuses)`, { cause: err })
    }
    let scopes
    try {
      scopes = scopesOf(user)
    } catch (err) {
      throw new InvalidOptionError(`schemes.${schemeName}.tokens: getScopes must return an array of strings`, { cause: err })
    }
    const padded = Buffer.alloc(block)
    padded.write(token, 'ascii')
    return { padded, length: token.length, verified: verified(schemeName, user, scopes) }
  })
  // All zeros between calls: verification is synchronous, so one buffer serves every request.
  // It holds any token a request may present, so the copy never depends on `block`.
  const scratch = Buffer.alloc(Math.max(block, maxTokenLength))
  const presented = scratch.subarray(0, block)

  return function verifyStaticToken (token) {
    // UTF-8 writes any non-ASCII character as bytes >= 0x80, which no configured token holds;
    // the length check refuses a token cut short by the buffer or padded with NULs.
    const written = scratch.write(token, 'utf8')
    let match: Verified | null = null
    for (const entry of entries) {
      if (timingSafeEqual(presented, entry.padded) && token.length === entry.length) match = entry.verified
    }
    // The typed-array fill: Buffer's own fill validates its arguments on every call.
    zero.call(scratch, 0, 0, written)
    return match
  }
}
