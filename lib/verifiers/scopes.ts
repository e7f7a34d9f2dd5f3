import { InvalidOptionError } from '../errors.js'
import type { AuthUser } from '../types.js'
import { isPlainObject } from '../checks.js'
import { deepFreeze } from './freeze.js'

type Claims = Readonly<Record<string, unknown>>

/**
 * Where a verifier reads scopes from its claims (`jwt.scopeClaim`, `opaque.scopeClaim`): a
 * claim name, a dotted path into nested claims (`'realm_access.roles'`), or a function of the
 * claims. What it finds is a space-delimited string (RFC 6749 §3.3, RFC 9068 `scope`) or an
 * array of strings (`scp`, `roles`, `permissions`).
 */
export type ScopeClaim =
  | 'scope' | 'scp' | 'permissions' | 'roles' | 'realm_access.roles'
  | (string & {})
  | ((claims: Claims) => readonly string[] | string)

/** Scopes out of a token's claims (or anything else a verifier reads them from). */
export type ScopeReader<T = Claims> = (from: T) => readonly string[]

const NONE: readonly string[] = Object.freeze([])

// Names that mean something to every object: no issuer uses them, and a path through them could
// only ever reach something no token said.
const RESERVED = new Set(['__proto__', 'constructor', 'prototype'])

/** An array of strings: what every source of scopes must give. */
export function isScopeList (value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((scope) => typeof scope === 'string')
}

/** A space-delimited string or an array of strings, frozen; `undefined` for anything else. */
function toScopes (value: unknown): readonly string[] | undefined {
  if (typeof value === 'string') return Object.freeze(value.split(' ').filter((scope) => scope !== ''))
  if (!isScopeList(value)) return undefined
  return Object.isFrozen(value) ? value as readonly string[] : Object.freeze([...value as string[]])
}

function pathReader (segments: readonly string[], malformed: () => Error): ScopeReader {
  return function readScopePath (claims) {
    let value: unknown = claims
    for (const segment of segments) {
      if (!isPlainObject(value)) throw malformed()
      // Own properties only: nothing inherited is ever read as a claim.
      if (!Object.hasOwn(value, segment)) return NONE
      value = value[segment]
    }
    const scopes = toScopes(value)
    if (scopes === undefined) throw malformed()
    return scopes
  }
}

function functionReader (path: string, read: (claims: Claims) => unknown): ScopeReader {
  return function readScopeFunction (claims) {
    const scopes = toScopes(read(claims))
    // The app's function broke its contract: a fault (500) the app's log explains, not a refusal.
    if (scopes === undefined) throw new TypeError(`${path} must return an array of strings or a space-delimited string`)
    return scopes
  }
}

/**
 * Compiles a `scopeClaim` option once, at boot: a path is split and checked here, so a request
 * only walks it. A missing claim (or a missing step of the path) grants no scopes: routes that
 * require one answer 403 insufficient_scope, routes that require none still let the user in.
 * A claim of the wrong type is `malformed()` (the verifier decides what that is); a function
 * that returns anything but a string or an array of strings is a fault.
 *
 * @param path the option's name, for messages (`schemes.api.jwt.scopeClaim`)
 */
export function compileScopeClaim (path: string, option: unknown, malformed: () => Error): ScopeReader | undefined {
  if (option === undefined) return undefined
  if (typeof option === 'function') return functionReader(path, option as (claims: Claims) => unknown)
  if (typeof option !== 'string') throw new InvalidOptionError(`${path} must be a claim name, a dotted path such as 'realm_access.roles', or a function of the claims`)
  if (option.includes('://')) {
    throw new InvalidOptionError(`${path} is split on '.': a claim whose name is a URL (a namespaced claim) needs the function form, (claims) => claims['https://…']`)
  }
  const segments = option.split('.')
  if (segments.some((segment) => segment === '')) throw new InvalidOptionError(`${path} must be a claim name or a dotted path without empty segments`)
  const reserved = segments.find((segment) => RESERVED.has(segment))
  if (reserved !== undefined) throw new InvalidOptionError(`${path} must not go through '${reserved}'`)
  return pathReader(Object.freeze(segments), malformed)
}

/** What `getScopes` (the plugin option) returned, checked and frozen. */
function checked (scopes: unknown): readonly string[] {
  // A string would make the scope check match substrings ('read' in 'readonly').
  if (!isScopeList(scopes)) throw new TypeError('getScopes must return an array of strings')
  return deepFreeze(scopes)
}

/** The sources of a verifier's scopes; `T` is what it verified (JWT claims, a store's record). */
export interface ScopeSources<T> {
  /** The verifier's compiled `scopeClaim`, applied to what it verified. */
  readonly claim: ScopeReader<T> | undefined
  /**
   * The plugin's `getScopes` when the app set it and the verifier takes it, given what the
   * token says of the user (a JWT's claims).
   */
  readonly getScopes?: ((from: T) => readonly string[]) | undefined
  /** The verifier's own default: `scope`, `scp` or `permissions` of a JWT, a store record's scopes. */
  readonly fallback: ScopeReader<T>
}

/**
 * Which source wins, for every verifier: the one place that decides it. First that applies:
 * 1. the verifier's `scopeClaim`, read from what it verified (the JWT's claims, the stored user);
 * 2. the plugin's `getScopes`, when the app set it, given what the token says (a JWT's claims);
 * 3. the verifier's default (a JWT's `scope`, else `scp`, else `permissions`; the scopes an
 *    opaque token was issued with).
 * What `jwt.user()` or `opaque.user()` map to never supplies scopes: such a user is usually the
 * account, and its scopes are all the account may do, not what this token was granted
 * (RFC 6749 §3.3); taking them would widen every token without anyone asking. So the scopes
 * depend on the token alone, and a JWT's are computed once per token (a cache hit reuses them).
 * Static tokens and verify functions have no claims: {@link userScopes}.
 */
export function scopeReader<T> (sources: ScopeSources<T>): ScopeReader<T> {
  const { claim, getScopes, fallback } = sources
  if (claim !== undefined) return claim
  if (getScopes !== undefined) return (from) => checked(getScopes(from))
  return fallback
}

/**
 * The scopes of static tokens and verify functions: `getScopes` (its default reads the user's
 * `scopes` array or `scope` string), checked and frozen.
 */
export function userScopes (getScopes: (user: AuthUser) => readonly string[]): ScopeReader<AuthUser> {
  return (user) => checked(getScopes(user))
}
