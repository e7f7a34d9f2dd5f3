import type { FastifyReply, FastifyRequest } from 'fastify'
import { errorChallenge } from './challenge.js'
import { Malformed } from './credential.js'
import {
  AccessDeniedError,
  descriptions,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  MissingCredentialsError,
  refusalDescriptions,
  VerifierFailedError,
  VerifierUnavailableError
} from './errors.js'
import { forbiddenChallenge, oneOrMany, type ResolvedRoute } from './route-config.js'
import type { Scheme } from './schemes/index.js'
import type { LogLevel } from './types.js'
import { isThenable } from './checks.js'
import { classifyFault, withTimeout, type Verified } from './verifiers/verifier.js'

/** The refusal, after its challenge is on the reply; Fastify's error handler answers it. */
function refuse (request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, error: Error & { code: string }, scheme: string | undefined, challenge?: string | readonly string[]): Error {
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  // The reason and the scheme, never the credential. Fastify's null logger (no logger
  // configured) and custom loggers need not have a `silent` method.
  if (logLevel !== 'silent') request.log[logLevel]({ reason: error.code, scheme }, 'authentication refused')
  return error
}

/** A fault (500, or 503 with Retry-After): logged with its cause, answered without a challenge. */
function fault (request: FastifyRequest, reply: FastifyReply, err: Error, scheme: string, what: string): Error {
  // RFC 9110 §10.2.3: a backend that is down or slow is usually back within seconds.
  if (err instanceof VerifierUnavailableError) reply.header('retry-after', '5')
  request.log.error({ err, scheme }, what)
  return err
}

/** 401 invalid_token: the failing scheme's challenge carries the error, the others are offered plain. */
function invalidToken (route: ResolvedRoute, failed: Scheme, description: string): string | readonly string[] {
  return oneOrMany(route.schemes.map((scheme) => scheme === failed ? errorChallenge(scheme.challenge, 'invalid_token', description) : scheme.challenge))
}

async function verifyOne (scheme: Scheme, token: string, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, route: ResolvedRoute): Promise<Verified> {
  let verified: Verified | null
  try {
    verified = await scheme.verify(token, request)
  } catch (thrown) {
    const err = classifyFault(thrown)
    if (err instanceof InvalidTokenError) {
      const refusal = refusalDescriptions.has(err.message) ? err : new InvalidTokenError(scheme.refused)
      throw refuse(request, reply, logLevel, refusal, scheme.name, invalidToken(route, scheme, refusal.message))
    }
    throw fault(request, reply, err, scheme.name, 'authentication fault')
  }
  if (verified === null) {
    throw refuse(request, reply, logLevel, new InvalidTokenError(scheme.refused), scheme.name, invalidToken(route, scheme, scheme.refused))
  }
  return verified
}

/**
 * Authenticates and authorizes one request for one route. Resolves when the request may
 * go on (with `request.user` and `request.auth` set); rejects with the refusal otherwise.
 */
export async function authenticate (route: ResolvedRoute, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, verifyTimeout: number): Promise<void> {
  // CORS preflights carry no credentials (Fetch §4.8): an OPTIONS-only handler gets them
  // unchallenged. A handler that also answers GET or POST would run with no user for anyone
  // who adds the header, so there a preflight is authenticated like any request.
  if (route.optionsOnly && request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) return

  // 1. Find every accepted scheme's credential; any malformed one ends the request (RFC 6750 §3.1).
  let first: Scheme | undefined
  let firstToken = ''
  let others: Array<[Scheme, string]> | undefined
  for (const scheme of route.schemes) {
    const found = scheme.extract(request)
    if (found === undefined) continue
    if (found instanceof Malformed) {
      throw refuse(request, reply, logLevel, new InvalidRequestError(found.description), scheme.name,
        errorChallenge(scheme.challenge, 'invalid_request', found.description))
    }
    if (first === undefined) {
      first = scheme
      firstToken = found
    } else {
      if (found === firstToken || others?.some(([, token]) => token === found) === true) {
        throw refuse(request, reply, logLevel, new InvalidRequestError(descriptions.sameCredentialTwice), scheme.name,
          errorChallenge(scheme.challenge, 'invalid_request', descriptions.sameCredentialTwice))
      }
      (others ??= []).push([scheme, found])
    }
  }
  if (first === undefined) {
    if (route.optional) return
    throw refuse(request, reply, logLevel, new MissingCredentialsError(), undefined, route.challenges)
  }

  // 2. Every presented credential must verify: a bad one is never masked by a good one.
  const verified = await verifyOne(first, firstToken, request, reply, logLevel, route)
  if (others !== undefined) {
    for (const [scheme, token] of others) await verifyOne(scheme, token, request, reply, logLevel, route)
  }

  // 3. Authorization: all scopes (RFC 6750 §3.1 insufficient_scope), then the route's predicate.
  for (const scope of route.scopes) {
    if (!verified.scopes.includes(scope)) {
      const err = new InsufficientScopeError()
      throw refuse(request, reply, logLevel, err, first.name, forbiddenChallenge(first, route, err.message))
    }
  }
  if (route.authorize !== undefined) {
    let allowed: unknown
    try {
      const answer = route.authorize(request, verified.user)
      // Held to verifyTimeout like a verifier: a predicate that never settles must not hold the request.
      allowed = isThenable(answer) ? await withTimeout(answer, verifyTimeout) : answer
    } catch (thrown) {
      const err = thrown instanceof VerifierUnavailableError ? thrown : new VerifierFailedError({ cause: thrown })
      throw fault(request, reply, err, first.name, 'authorization fault')
    }
    if (allowed !== true) {
      const err = new AccessDeniedError()
      throw refuse(request, reply, logLevel, err, first.name, forbiddenChallenge(first, route, err.message))
    }
  }

  request.user = verified.user
  request.auth = verified.claims === undefined
    ? { scheme: first.name, scopes: verified.scopes }
    : { scheme: first.name, scopes: verified.scopes, claims: verified.claims }
}
