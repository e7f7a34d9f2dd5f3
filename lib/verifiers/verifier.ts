import type { FastifyRequest } from 'fastify'
import { InvalidTokenError, VerifierFailedError, VerifierUnavailableError } from '../errors.js'
import type { AuthUser } from '../types.js'

/** A credential that verified: the user and what it was granted. */
export interface Verified {
  readonly user: AuthUser
  readonly scopes: readonly string[]
  /** The verified JWT claims, for verifiers that have them. */
  readonly claims?: Readonly<Record<string, unknown>>
}

/**
 * Internal verifier contract: a credential in, a {@link Verified} or `null` (refused) out.
 * It may throw {@link InvalidTokenError} with a fixed description, or
 * {@link VerifierUnavailableError}; anything else it throws is a fault (500).
 */
export type Verifier = (token: string, request: FastifyRequest) => Verified | null | Promise<Verified | null>

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/** Our own refusals pass through; anything else a verifier throws becomes a generic 500 with the cause kept for the log. */
export function classifyFault (err: unknown): Error {
  if (err instanceof InvalidTokenError || err instanceof VerifierUnavailableError || err instanceof VerifierFailedError) return err
  return new VerifierFailedError({ cause: err })
}

function withTimeout<T> (work: PromiseLike<T>, ms: number): Promise<T> {
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
  return function guardedVerifier (token, request) {
    let result
    try {
      result = verifier(token, request)
    } catch (err) {
      throw classifyFault(err)
    }
    if (!isThenable(result)) return result
    return withTimeout(result, timeoutMs).catch((err: unknown) => { throw classifyFault(err) })
  }
}

/** Turns what an app's `verify` returned into a {@link Verified}: falsy refuses, a non-object is a fault. */
export function fromVerifyFunction (
  verify: (token: string, request: FastifyRequest) => unknown,
  getScopes: (user: AuthUser) => readonly string[]
): Verifier {
  function toVerified (user: unknown): Verified | null {
    if (!user) return null
    if (typeof user !== 'object' || Array.isArray(user)) throw new VerifierFailedError()
    const scopes = getScopes(user as AuthUser)
    // A string would make the scope check match substrings ('read' in 'readonly').
    if (!Array.isArray(scopes)) throw new VerifierFailedError()
    return { user: user as AuthUser, scopes }
  }
  return function verifyFunction (token, request) {
    const result = verify(token, request)
    return isThenable(result) ? Promise.resolve(result).then(toVerified) : toVerified(result)
  }
}
