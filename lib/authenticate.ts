import type { FastifyReply, FastifyRequest } from 'fastify'
import { errorChallenge } from './challenge.js'
import { Malformed, rawHeader } from './credential.js'
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
import { safeLog } from './log.js'
import { classifyFault, withTimeout, type Verified } from './verifiers/verifier.js'

/**
 * The refusal, with its status and challenge already on the reply; Fastify's error handler
 * answers it. The status is set here so that an app's error handler that only reshapes the
 * body (`reply.send({ … })` without `reply.code`) cannot turn a refusal into a 200.
 *
 * It is logged once: by Fastify's error log line (at info, with the code as the reason and the
 * `scheme` set here), or by the app's error handler, which takes that over. The plugin's own
 * line comes only with a `logLevel` other than `'silent'`, for apps whose handler logs nothing.
 */
function refuse (request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, error: Error & { code: string, statusCode: number }, scheme: string | undefined, challenge?: string | readonly string[]): Error {
  reply.code(error.statusCode)
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  // The scheme whose credential was refused, for the log line; never the credential.
  if (scheme !== undefined) (error as { scheme?: string }).scheme = scheme
  if (logLevel !== 'silent') {
    const fields = { reason: error.code, scheme }
    safeLog(request.log, logLevel, fields, 'authentication refused', fields)
  }
  return error
}

/** A fault (500, or 503 with Retry-After): logged with its cause, answered without a challenge. */
function fault (request: FastifyRequest, reply: FastifyReply, err: Error & { statusCode: number }, scheme: string, what: string): Error {
  reply.code(err.statusCode)
  // RFC 9110 §10.2.3: a backend that is down or slow is usually back within seconds.
  if (err instanceof VerifierUnavailableError) reply.header('retry-after', '5')
  if (safeLog(request.log, 'error', { err, scheme }, what, { scheme })) return err
  // Its cause cannot be serialized (a getter or a Proxy that throws): Fastify's own error log
  // would throw on it too and answer with that exception's message. The same error, without it.
  return err instanceof VerifierUnavailableError ? new VerifierUnavailableError() : new VerifierFailedError()
}

/** 401 invalid_token: the failing scheme's challenge carries the error, the others are offered plain. */
function invalidToken (route: ResolvedRoute, failed: Scheme, description: string): string | readonly string[] {
  return oneOrMany(route.schemes.map((scheme) => scheme === failed ? errorChallenge(scheme.challenge, 'invalid_token', description) : scheme.challenge))
}

/** What answers a credential whose verifier threw or rejected: its refusal (401), or a fault (500/503). */
function verifyFailed (thrown: unknown, scheme: Scheme, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, route: ResolvedRoute): Error {
  const err = classifyFault(thrown) as Error & { statusCode: number }
  if (err instanceof InvalidTokenError) {
    const refusal = refusalDescriptions.has(err.message) ? err : new InvalidTokenError(scheme.refused)
    return refuse(request, reply, logLevel, refusal, scheme.name, invalidToken(route, scheme, refusal.message))
  }
  return fault(request, reply, err, scheme.name, 'authentication fault')
}

function accepted (verified: Verified | null, scheme: Scheme, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, route: ResolvedRoute): Verified {
  if (verified === null) {
    throw refuse(request, reply, logLevel, new InvalidTokenError(scheme.refused), scheme.name, invalidToken(route, scheme, scheme.refused))
  }
  return verified
}

/** One of several credentials through its scheme's verifier. */
function verifyOne (scheme: Scheme, token: string, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, route: ResolvedRoute): Promise<Verified> {
  return new Promise((resolve, reject) => {
    scheme.verify(token, request, (failed, verified) => {
      try {
        if (failed !== undefined) throw verifyFailed(failed, scheme, request, reply, logLevel, route)
        resolve(accepted(verified, scheme, request, reply, logLevel, route))
      } catch (err) {
        reject(err)
      }
    })
  })
}

function authorizeFailed (thrown: unknown, scheme: Scheme, request: FastifyRequest, reply: FastifyReply): Error {
  const err = thrown instanceof VerifierUnavailableError ? thrown : new VerifierFailedError({ cause: thrown })
  return fault(request, reply, err, scheme.name, 'authorization fault')
}

/** The user is in: `request.user` and `request.auth`. */
function admit (request: FastifyRequest, scheme: Scheme, verified: Verified): void {
  request.user = verified.user
  request.auth = verified.claims === undefined
    ? { scheme: scheme.name, scopes: verified.scopes }
    : { scheme: scheme.name, scopes: verified.scopes, claims: verified.claims }
}

/**
 * Authorization, then {@link admit}: all scopes (RFC 6750 §3.1 insufficient_scope), then the
 * route's predicate, held to verifyTimeout like a verifier. Synchronous unless `authorize`
 * answers with a promise.
 */
function authorize (route: ResolvedRoute, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, verifyTimeout: number, scheme: Scheme, verified: Verified): Promise<void> | undefined {
  for (const scope of route.scopes) {
    if (!verified.scopes.includes(scope)) {
      const err = new InsufficientScopeError()
      throw refuse(request, reply, logLevel, err, scheme.name, forbiddenChallenge(scheme, route, err.message))
    }
  }
  if (route.authorize === undefined) {
    admit(request, scheme, verified)
    return
  }
  const decide = (allowed: unknown): void => {
    if (allowed !== true) {
      const err = new AccessDeniedError()
      throw refuse(request, reply, logLevel, err, scheme.name, forbiddenChallenge(scheme, route, err.message))
    }
    admit(request, scheme, verified)
  }
  let answer: unknown
  try {
    answer = route.authorize(request, verified.user)
  } catch (thrown) {
    throw authorizeFailed(thrown, scheme, request, reply)
  }
  if (!isThenable(answer)) {
    decide(answer)
    return
  }
  // A predicate that never settles must not hold the request.
  return withTimeout(answer, verifyTimeout).then(decide, (thrown: unknown) => { throw authorizeFailed(thrown, scheme, request, reply) })
}

/** Two or more credentials: every one must verify, so a bad one is never masked by a good one. */
async function authenticateAll (route: ResolvedRoute, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, verifyTimeout: number, credentials: Array<[Scheme, string]>): Promise<void> {
  const [first, firstToken] = credentials[0]!
  const verified = await verifyOne(first, firstToken, request, reply, logLevel, route)
  for (const [scheme, token] of credentials.slice(1)) await verifyOne(scheme, token, request, reply, logLevel, route)
  await authorize(route, request, reply, logLevel, verifyTimeout, first, verified)
}

type Done = (err?: Error) => void

function settle (pending: Promise<void> | undefined, done: Done): void {
  // It resolves with nothing, so done() gets no error.
  if (pending === undefined) done()
  else pending.then(done as () => void, done)
}

/**
 * Authenticates and authorizes one request for one route, setting `request.user` and
 * `request.auth`, then calls `done` once: with nothing when the request may go on, with the
 * refusal otherwise. When every step answers synchronously (static tokens in a header, a JWT
 * cache hit) `done` is called before this returns and no promise is made.
 */
export function authenticate (route: ResolvedRoute, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, verifyTimeout: number, done: Done): void {
  // CORS preflights carry no credentials (Fetch §4.8): an OPTIONS-only handler that only
  // protectByDefault protects gets them unchallenged. A handler that also answers GET or POST
  // would run with no user for anyone who adds the header, and an explicit config.auth is
  // honoured as written, so there a preflight is authenticated like any request.
  if (route.preflightExempt && request.raw.method === 'OPTIONS' && rawHeader(request, 'access-control-request-method') !== undefined) return done()

  // 1. Find every accepted scheme's credential; any malformed one ends the request (RFC 6750 §3.1).
  let first: Scheme | undefined
  let firstToken = ''
  let credentials: Array<[Scheme, string]> | undefined
  try {
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
        credentials ??= [[first, firstToken]]
        if (credentials.some(([, token]) => token === found)) {
          throw refuse(request, reply, logLevel, new InvalidRequestError(descriptions.sameCredentialTwice), scheme.name,
            errorChallenge(scheme.challenge, 'invalid_request', descriptions.sameCredentialTwice))
        }
        credentials.push([scheme, found])
      }
    }
    if (first === undefined && !route.optional) throw refuse(request, reply, logLevel, new MissingCredentialsError(), undefined, route.challenges)
  } catch (err) {
    return done(err as Error)
  }
  if (first === undefined) return done()

  // 2. Verify, then 3. authorize.
  if (credentials !== undefined) return settle(authenticateAll(route, request, reply, logLevel, verifyTimeout, credentials), done)
  // One credential (the usual case): the verifier's answer goes straight on to authorization.
  const scheme = first
  scheme.verify(firstToken, request, (failed, verified) => {
    let pending
    try {
      if (failed !== undefined) throw verifyFailed(failed, scheme, request, reply, logLevel, route)
      pending = authorize(route, request, reply, logLevel, verifyTimeout, scheme, accepted(verified, scheme, request, reply, logLevel, route))
    } catch (err) {
      return done(err as Error)
    }
    settle(pending, done)
  })
}
