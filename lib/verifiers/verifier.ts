import { types } from 'node:util'
import type { FastifyRequest } from 'fastify'
import { InvalidTokenError, jwtDescriptions, VerifierFailedError, VerifierUnavailableError } from '../errors.js'
import type { AuthInfo, AuthUser } from '../types.js'
import { isThenable } from '../checks.js'
import { Authenticated } from '../auth-info.js'
import { deepFreeze } from './freeze.js'
import { userScopes } from './scopes.js'

/** A credential that verified: the user and what it was granted (deeply frozen, see {@link verified}). */
export interface Verified {
  readonly user: AuthUser
  readonly scopes: readonly string[]
  /** The verified JWT claims, for verifiers that have them. */
  readonly claims?: Readonly<Record<string, unknown>>
  /** What `request.auth` becomes: built with the answer, so a shared answer shares it too. */
  readonly auth: AuthInfo
  /** The DPoP key the token is bound to (`cnf.jkt`, RFC 9449 §6): accepted only with a proof made with it. */
  readonly jkt?: string
}

/**
 * A {@link Verified}, frozen with its `auth`. `user`, `scopes` and `claims` must be deeply
 * frozen already (by {@link deepFreeze}): the answer may be shared by many requests.
 */
export function verified (scheme: string, user: AuthUser, scopes: readonly string[], claims?: Readonly<Record<string, unknown>>, jkt?: string): Verified {
  const auth: AuthInfo = Object.freeze(new Authenticated(scheme, scopes, user, claims, jkt))
  const answer: { -readonly [K in keyof Verified]: Verified[K] } = { user, scopes, auth }
  if (claims !== undefined) answer.claims = claims
  if (jkt !== undefined) answer.jkt = jkt
  return Object.freeze(answer)
}

/**
 * Internal verifier contract: a credential in, a {@link Verified} or `null` (refused) out.
 * It may throw {@link InvalidTokenError} with a fixed description, or
 * {@link VerifierUnavailableError}; anything else it throws is a fault (500).
 */
export type Verifier = (token: string, request: FastifyRequest, dpop?: boolean) => Verified | null | Promise<Verified | null>

/**
 * RFC 9449 §7.2: a token bound to a DPoP key (`jkt`) presented as a bearer token (`dpop` not
 * true) is refused, before its user is mapped or its revocation looked up.
 */
export function refuseUnproven (jkt: string | undefined, dpop: boolean | undefined): void {
  if (jkt !== undefined && dpop !== true) throw new InvalidTokenError(jwtDescriptions.bound)
}

// Objects that are never a user: a boxed primitive, an array, an Error by its built-in tag
// (which holds across realms and for every subclass).
const NOT_USERS = new Set(['[object Array]', '[object Error]', '[object Boolean]', '[object Number]', '[object String]', '[object Symbol]', '[object BigInt]', '[object DOMException]'])

// Deeper than any class hierarchy a user object has; a longer chain is refused, not walked.
const MAX_PROTOTYPE_DEPTH = 32

/**
 * Is an Error somewhere in the prototype chain: this realm's Error.prototype (a DOMException,
 * an object made from Error.prototype), or another realm's, known by its constructor (node:vm)?
 */
function hasErrorPrototype (value: object): boolean {
  let proto = Object.getPrototypeOf(value) as object | null
  for (let depth = 0; proto !== null && proto !== Object.prototype; depth++) {
    if (depth === MAX_PROTOTYPE_DEPTH || proto === Error.prototype || proto === DOMException.prototype) return true
    const constructor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown
    if (typeof constructor === 'function' && constructor.name === 'Error') return true
    proto = Object.getPrototypeOf(proto) as object | null
  }
  return false
}

/**
 * Could this be a user? An object, but not an array, a boxed primitive, nor anything that is
 * an Error: by its tag, by `instanceof`, by its prototype chain in any realm, or a DOMException
 * (an aborted fetch, a fired timeout signal, a WebCrypto failure returned instead of thrown).
 */
export function isUserObject (value: unknown): value is AuthUser {
  return typeof value === 'object' && value !== null &&
    !NOT_USERS.has(Object.prototype.toString.call(value)) &&
    !types.isNativeError(value) &&
    !hasErrorPrototype(value)
}

/** `value instanceof Class`, false for a Proxy whose getPrototypeOf trap throws. */
export function isInstance<T> (value: unknown, Class: abstract new (...args: never[]) => T): value is T {
  try {
    return value instanceof Class
  } catch {
    return false
  }
}

/** Our own refusals pass through; anything else a verifier throws becomes a generic 500 with the cause kept for the log. */
export function classifyFault (err: unknown): Error {
  try {
    if (err instanceof InvalidTokenError || err instanceof VerifierUnavailableError || err instanceof VerifierFailedError) return err
  } catch {
    // A Proxy whose getPrototypeOf trap throws: not one of ours.
  }
  return new VerifierFailedError({ cause: err })
}

/** `work`, or {@link VerifierUnavailableError} once `ms` have passed; the timer never outlives the race. */
export function withTimeout<T> (work: PromiseLike<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new VerifierUnavailableError()), ms)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Wraps a verifier so that it answers within `timeoutMs` and throws only this plugin's
 * errors. A synchronous answer stays synchronous: no timer, no promise.
 */
export function guardVerifier (verifier: Verifier, timeoutMs: number): Verifier {
  return function guardedVerifier (token, request, dpop) {
    let result
    try {
      result = verifier(token, request, dpop)
    } catch (err) {
      throw classifyFault(err)
    }
    if (!isThenable(result)) return result
    return withTimeout(result, timeoutMs).catch((err: unknown) => { throw classifyFault(err) })
  }
}

/**
 * Turns what an app's `verify` returned into a {@link Verified}: falsy refuses, a non-object is
 * a fault. The user is deeply frozen in place (once: the same object again costs a lookup), then
 * `getScopes` reads it; a user that cannot be frozen, or scopes that are not an array of
 * strings, are a fault.
 */
export function fromVerifyFunction (
  schemeName: string,
  verify: (token: string, request: FastifyRequest) => unknown,
  getScopes: (user: AuthUser) => readonly string[]
): Verifier {
  const scopesOf = userScopes(getScopes)
  function toVerified (user: unknown): Verified | null {
    if (!user) return null
    if (!isUserObject(user)) throw new VerifierFailedError()
    deepFreeze(user)
    return verified(schemeName, user, scopesOf(user))
  }
  return function verifyFunction (token, request) {
    const result = verify(token, request)
    return isThenable(result) ? Promise.resolve(result).then(toVerified) : toVerified(result)
  }
}
