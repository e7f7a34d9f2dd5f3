import type { FastifyRequest } from 'fastify'
import { InvalidOptionError } from '../errors.js'
import type { TokenRecord, TokenStore } from '../stores/token-store.js'
import type { AuthUser } from '../types.js'
import { deepFreeze } from './freeze.js'
import { compileScopeClaim, isScopeList, scopeReader, type ScopeClaim } from './scopes.js'
import { isUserObject, refuseUnproven, verified, type Verified, type Verifier } from './verifier.js'

/**
 * Options of the opaque-token verifier (`schemes.<name>.opaque`): tokens a {@link TokenStore}
 * issued, looked up on every request.
 *
 * @example
 * opaque: { store: new RedisTokenStore(redis) }
 */
export interface OpaqueOptions {
  /** Where the tokens live: a `MemoryTokenStore`, a `RedisTokenStore`, or your own. */
  store: TokenStore
  /**
   * Map the token's record to `request.user` (may load from a database). It runs on every
   * request, so a disabled user is refused at once; a falsy result refuses the token.
   * What it returns is deeply frozen, in place, before any handler sees it. Its scopes are not
   * read: the token's are (an account's scopes are more than what a token was granted).
   * @default the `user` stored with the token
   */
  user?: (record: TokenRecord, request: FastifyRequest) => AuthUser | null | undefined | false | Promise<AuthUser | null | undefined | false>
  /**
   * Read the scopes from the `user` stored with the token instead of the scopes it was issued
   * with: a property name, a dotted path (`'realm_access.roles'`) or a function of the stored
   * user, as `jwt.scopeClaim`. A missing property grants no scopes; one of the wrong type is a
   * fault (500): the store holds what the app wrote.
   * @default the scopes the token was issued with (the plugin's `getScopes` is not used: the
   * record holds what the token was granted)
   */
  scopeClaim?: ScopeClaim
}

const knownOptions = new Set(['store', 'user', 'scopeClaim'])

function checkOptions (path: string, options: unknown): OpaqueOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new InvalidOptionError(`${path} must be an object`)
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) throw new InvalidOptionError(`unknown option '${path}.${key}'`)
  }
  const { store, user } = options as Partial<OpaqueOptions>
  if (typeof store?.lookup !== 'function') throw new InvalidOptionError(`${path}.store must be a token store (MemoryTokenStore, RedisTokenStore or one with a lookup method)`)
  if (user !== undefined && typeof user !== 'function') throw new InvalidOptionError(`${path}.user must be a function`)
  return options as OpaqueOptions
}

/**
 * The opaque-token verifier of a bearer scheme: one `store.lookup` per request (a GET, or a hit
 * in the Redis store's local cache). The store's errors pass through: `VerifierUnavailableError`
 * is a 503, anything else a 500. The record (with its stored user) and the mapped user are
 * deeply frozen; a record the store hands out again (a cache hit) costs one lookup for that.
 */
export function opaqueVerifier (schemeName: string, options: OpaqueOptions): Verifier {
  const path = `schemes.${schemeName}.opaque`
  const { store, user, scopeClaim } = checkOptions(path, options)
  const claim = compileScopeClaim(`${path}.scopeClaim`, scopeClaim, () => new TypeError(`${path}.scopeClaim found a value that is neither a string nor an array of strings`))
  const scopesOf = scopeReader<TokenRecord>({
    claim: claim === undefined ? undefined : (record) => claim(record.user as Readonly<Record<string, unknown>>),
    fallback: (record) => {
      // A store of the app's own answers this: a string here would match scopes by substring.
      if (!isScopeList(record.scopes)) throw new TypeError(`${path}.store returned a record whose scopes are not an array of strings`)
      return record.scopes
    }
  })

  return async function verifyOpaque (token, request, dpop): Promise<Verified | null> {
    const record = await store.lookup(token)
    if (record === null) return null
    refuseUnproven(record.jkt, dpop)
    if (!isUserObject(record.user)) throw new TypeError(`${path}.store returned a record whose user is not a user object`)
    deepFreeze(record)
    const scopes = scopesOf(record)
    if (user === undefined) return verified(schemeName, record.user, scopes, undefined, record.jkt)
    const mapped = await user(record, request)
    if (!mapped) return null
    if (!isUserObject(mapped)) throw new TypeError(`${path}.user must return a user object or a falsy value`)
    deepFreeze(mapped)
    // The token's scopes, never the mapped user's (lib/verifiers/scopes.ts says why).
    return verified(schemeName, mapped, scopes, undefined, record.jkt)
  }
}
