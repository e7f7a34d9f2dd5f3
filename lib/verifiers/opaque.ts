import type { FastifyRequest } from 'fastify'
import { InvalidOptionError } from '../errors.js'
import type { TokenRecord, TokenStore } from '../stores/token-store.js'
import type { AuthUser } from '../types.js'
import { isUserObject, type Verified, type Verifier } from './verifier.js'

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
   * @default the `user` stored with the token
   */
  user?: (record: TokenRecord, request: FastifyRequest) => AuthUser | null | undefined | false | Promise<AuthUser | null | undefined | false>
}

const knownOptions = new Set(['store', 'user'])

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
 * is a 503, anything else a 500.
 */
export function opaqueVerifier (schemeName: string, options: OpaqueOptions): Verifier {
  const path = `schemes.${schemeName}.opaque`
  const { store, user } = checkOptions(path, options)

  return async function verifyOpaque (token, request): Promise<Verified | null> {
    const record = await store.lookup(token)
    if (record === null) return null
    if (user === undefined) return { user: record.user, scopes: record.scopes }
    const mapped = await user(record, request)
    if (!mapped) return null
    if (!isUserObject(mapped)) throw new TypeError(`${path}.user must return a user object or a falsy value`)
    return { user: mapped, scopes: record.scopes }
  }
}
