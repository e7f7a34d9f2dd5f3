import type { FastifyReply, FastifyRequest } from 'fastify'
import { errorChallenge } from './challenge.js'
import { DpopCredential, Malformed, rawHeader, tokenOf, type Credential } from './credential.js'
import {
  AccessDeniedError,
  descriptions,
  InsufficientScopeError,
  InvalidDpopProofError,
  InsufficientUserAuthenticationError,
  InvalidRequestError,
  InvalidTokenError,
  MissingCredentialsError,
  refusalDescriptions,
  UseDpopNonceError,
  VerifierFailedError,
  VerifierUnavailableError
} from './errors.js'
import { forbiddenChallenge, oneOrMany, type Group, type ResolvedRoute } from './route-config.js'
import type { Scheme } from './schemes/index.js'
import type { LogLevel } from './types.js'
import { isThenable } from './checks.js'
import { safeLog } from './log.js'
import { authenticatedEnough } from './step-up.js'
import { mcpAuthInfo, type WithMcpAuth } from './mcp.js'
import { classifyFault, isInstance, withTimeout, type Verified } from './verifiers/verifier.js'

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
  // Fastify's null logger (no logger configured) and custom loggers need not have `silent`.
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

/** The challenge a credential was presented under: its scheme's, or the scheme's DPoP one. */
function presentedUnder (scheme: Scheme, credential: Credential): string {
  return typeof credential === 'string' ? scheme.challenge : scheme.dpop!.challenge
}

/** A 401's challenges: `failed` carries the error, the route's others are offered plain, each once. */
function withError (route: ResolvedRoute, failed: string, error: 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce', description: string): string | readonly string[] {
  return oneOrMany(route.bases.map((base) => base === failed ? errorChallenge(base, error, description) : base))
}

/**
 * What answers a credential whose verifier threw or rejected: its refusal (401), or a fault
 * (500/503). A DPoP proof refusal (RFC 9449 §7.1) is on the DPoP challenge; a nonce demand
 * (§9) carries a fresh nonce.
 */
function verifyFailed (thrown: unknown, scheme: Scheme, credential: Credential, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, route: ResolvedRoute): Error {
  // Only the DPoP path's own checks throw these (a verifier's are faults: guardVerifier made them so).
  const { dpop } = scheme
  if (dpop !== undefined && typeof credential !== 'string') {
    if (isInstance(thrown, InvalidDpopProofError)) {
      return refuse(request, reply, logLevel, thrown, scheme.name, withError(route, dpop.challenge, 'invalid_dpop_proof', thrown.message))
    }
    if (isInstance(thrown, UseDpopNonceError)) {
      reply.header('dpop-nonce', dpop.nonce())
      return refuse(request, reply, logLevel, thrown, scheme.name, withError(route, dpop.challenge, 'use_dpop_nonce', thrown.message))
    }
  }
  const err = classifyFault(thrown) as Error & { statusCode: number }
  if (err instanceof InvalidTokenError) {
    const refusal = refusalDescriptions.has(err.message) ? err : new InvalidTokenError(scheme.refused)
    return refuse(request, reply, logLevel, refusal, scheme.name, withError(route, presentedUnder(scheme, credential), 'invalid_token', refusal.message))
  }
  return fault(request, reply, err, scheme.name, 'authentication fault')
}

function accepted (verified: Verified | null, scheme: Scheme, credential: Credential, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, route: ResolvedRoute): Verified {
  if (verified === null) {
    throw refuse(request, reply, logLevel, new InvalidTokenError(scheme.refused), scheme.name, withError(route, presentedUnder(scheme, credential), 'invalid_token', scheme.refused))
  }
  return verified
}

/** One of several credentials through its scheme's verifier. */
function verifyOne (scheme: Scheme, credential: Credential, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, route: ResolvedRoute): Promise<Verified> {
  return new Promise((resolve, reject) => {
    scheme.verify(credential, request, reply, (failed, verified) => {
      try {
        if (failed !== undefined) throw verifyFailed(failed, scheme, credential, request, reply, logLevel, route)
        resolve(accepted(verified, scheme, credential, request, reply, logLevel, route))
      } catch (err) {
        reject(err)
      }
    })
  })
}

/**
 * A credential read by several schemes (one place, e.g. two bearer schemes): offered to them in
 * order, skipping those that do not take it (by its presentation, `Bearer` or `DPoP`; a JWT
 * scheme takes JWTs from an issuer it trusts, a token store the rest), and accepted by the first
 * that verifies it. A refusal of the token moves on to the next; a fault, or a refusal of the
 * DPoP proof, ends the request. Refused by all: the last refusal is the answer.
 */
function verifyShared (group: Group, credential: Credential, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, route: ResolvedRoute): Promise<[Scheme, Verified]> {
  if (group.schemes.length === 1) return verifyOne(group.first, credential, request, reply, logLevel, route).then((verified) => [group.first, verified])
  return new Promise((resolve, reject) => {
    let refusedBy: Scheme | undefined
    let description = group.first.refused
    const offer = (from: number): void => {
      let at = from
      while (at < group.schemes.length && !group.schemes[at]!.takes(credential)) at++
      const scheme = group.schemes[at]
      if (scheme === undefined) {
        // None took it: refused on the first scheme that accepts its presentation (the group's
        // extractor found it, so one does).
        refusedBy ??= group.schemes.find((candidate) => typeof credential === 'string' ? candidate.presentations.bearer : candidate.presentations.dpop)!
        reject(refuse(request, reply, logLevel, new InvalidTokenError(description), refusedBy.name, withError(route, presentedUnder(refusedBy, credential), 'invalid_token', description)))
        return
      }
      scheme.verify(credential, request, reply, (failed, verified) => {
        if (verified !== null) {
          resolve([scheme, verified])
          return
        }
        if (failed !== undefined) {
          const err = classifyFault(failed)
          if (!(err instanceof InvalidTokenError)) {
            reject(verifyFailed(failed, scheme, credential, request, reply, logLevel, route))
            return
          }
          description = refusalDescriptions.has(err.message) ? err.message : scheme.refused
        } else {
          description = scheme.refused
        }
        refusedBy = scheme
        offer(at + 1)
      })
    }
    offer(0)
  })
}

function authorizeFailed (thrown: unknown, scheme: Scheme, request: FastifyRequest, reply: FastifyReply): Error {
  const err = thrown instanceof VerifierUnavailableError ? thrown : new VerifierFailedError({ cause: thrown })
  return fault(request, reply, err, scheme.name, 'authorization fault')
}

/**
 * The user is in: `request.auth`, which the `userProperty` getter (`request.user`) reads, and
 * with `mcpAuthInfo` `request.raw.auth`.
 */
function admit (route: ResolvedRoute, request: FastifyRequest, verified: Verified, credential: Credential): void {
  // Built (and frozen) by the verifier with its answer: nothing to allocate here.
  request.auth = verified.auth
  if (route.mcp !== undefined) (request.raw as WithMcpAuth).auth = mcpAuthInfo(route.mcp, tokenOf(credential), verified)
}

/**
 * Authorization, then {@link admit}: the authentication strength (RFC 9470 §3
 * insufficient_user_authentication, 401), then all scopes (RFC 6750 §3.1 insufficient_scope,
 * 403), then the route's predicate, held to verifyTimeout like a verifier. Synchronous unless
 * `authorize` answers with a promise.
 *
 * Strength before scopes: a weak or stale authentication is a 401 the client resolves by
 * re-authenticating, and the token it gets then may grant other scopes; a 403 first would send
 * it for a token with more scopes that the route would still refuse for its authentication.
 * Authentication comes before authorization, as 401 before 403 (RFC 9110 §15.5.2, §15.5.4).
 */
function authorize (route: ResolvedRoute, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, verifyTimeout: number, scheme: Scheme, credential: Credential, verified: Verified): Promise<void> | undefined {
  const { stepUp } = route
  if (stepUp !== undefined && !authenticatedEnough(stepUp, verified.claims, scheme.clockTolerance)) {
    throw refuse(request, reply, logLevel, new InsufficientUserAuthenticationError(), scheme.name, stepUp.challenges.get(presentedUnder(scheme, credential)))
  }
  for (const scope of route.scopes) {
    if (!verified.scopes.includes(scope)) {
      const err = new InsufficientScopeError()
      throw refuse(request, reply, logLevel, err, scheme.name, forbiddenChallenge(presentedUnder(scheme, credential), route, err.message))
    }
  }
  if (route.authorize === undefined) {
    admit(route, request, verified, credential)
    return
  }
  const decide = (allowed: unknown): void => {
    if (allowed !== true) {
      const err = new AccessDeniedError()
      throw refuse(request, reply, logLevel, err, scheme.name, forbiddenChallenge(presentedUnder(scheme, credential), route, err.message))
    }
    admit(route, request, verified, credential)
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

/**
 * Two or more credentials, in different places: every one must verify, so a bad one is never
 * masked by a good one. The user is the first one's.
 */
async function authenticateAll (route: ResolvedRoute, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, verifyTimeout: number, credentials: Array<[Group, Credential]>): Promise<void> {
  const [firstGroup, firstCredential] = credentials[0]!
  const [scheme, verified] = await verifyShared(firstGroup, firstCredential, request, reply, logLevel, route)
  for (const [group, credential] of credentials.slice(1)) await verifyShared(group, credential, request, reply, logLevel, route)
  await authorize(route, request, reply, logLevel, verifyTimeout, scheme, firstCredential, verified)
}

/** One credential that several schemes read: see {@link verifyShared}. */
async function authenticateShared (route: ResolvedRoute, request: FastifyRequest, reply: FastifyReply, logLevel: LogLevel, verifyTimeout: number, group: Group, credential: Credential): Promise<void> {
  const [scheme, verified] = await verifyShared(group, credential, request, reply, logLevel, route)
  await authorize(route, request, reply, logLevel, verifyTimeout, scheme, credential, verified)
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

  // 1. Find every accepted place's credential; any malformed one ends the request (RFC 6750 §3.1).
  let first: Group | undefined
  let firstCredential: Credential = ''
  let credentials: Array<[Group, Credential]> | undefined
  let missing: string[] | undefined
  try {
    for (const group of route.groups) {
      const found = group.extract(request)
      if (found === undefined) {
        if (route.all) (missing ??= []).push(...group.schemes.flatMap((scheme) => scheme.bases))
        continue
      }
      if (found instanceof Malformed) {
        const challenge = found.dpop ? group.dpopChallenge! : group.first.challenge
        throw refuse(request, reply, logLevel, new InvalidRequestError(found.description), group.first.name,
          errorChallenge(challenge, 'invalid_request', found.description))
      }
      if (first === undefined) {
        first = group
        firstCredential = found
      } else {
        credentials ??= [[first, firstCredential]]
        if (credentials.some(([, credential]) => tokenOf(credential) === tokenOf(found))) {
          throw refuse(request, reply, logLevel, new InvalidRequestError(descriptions.sameCredentialTwice), group.first.name,
            errorChallenge(group.first.challenge, 'invalid_request', descriptions.sameCredentialTwice))
        }
        credentials.push([group, found])
      }
    }
    if (first === undefined && !route.optional) throw refuse(request, reply, logLevel, new MissingCredentialsError(), undefined, route.challenges)
    // all: true and some present: the 401 names the schemes whose credential is missing.
    if (missing !== undefined) throw refuse(request, reply, logLevel, new MissingCredentialsError(), undefined, oneOrMany([...new Set(missing)]))
    // A DPoP request identifies its client by its key alone: another credential beside it, on a
    // route that asks for one, is a request no single identity answers (with all, each is required).
    const dpop = credentials?.find(([, credential]) => credential instanceof DpopCredential)
    if (dpop !== undefined && !route.all) {
      throw refuse(request, reply, logLevel, new InvalidRequestError(descriptions.dpopWithOtherCredential), dpop[0].first.name,
        errorChallenge(dpop[0].dpopChallenge!, 'invalid_request', descriptions.dpopWithOtherCredential))
    }
  } catch (err) {
    return done(err as Error)
  }
  if (first === undefined) {
    // Anonymous on an optional route: whatever set raw.auth before, the MCP transport sees no one.
    if (route.mcp !== undefined) (request.raw as WithMcpAuth).auth = undefined
    return done()
  }

  // 2. Verify, then 3. authorize.
  if (credentials !== undefined) return settle(authenticateAll(route, request, reply, logLevel, verifyTimeout, credentials), done)
  if (first.schemes.length > 1) return settle(authenticateShared(route, request, reply, logLevel, verifyTimeout, first, firstCredential), done)
  // One credential for one scheme (the usual case): the verifier's answer goes straight on to authorization.
  const scheme = first.first
  const credential = firstCredential
  scheme.verify(credential, request, reply, (failed, verified) => {
    let pending
    try {
      if (failed !== undefined) throw verifyFailed(failed, scheme, credential, request, reply, logLevel, route)
      pending = authorize(route, request, reply, logLevel, verifyTimeout, scheme, credential, accepted(verified, scheme, credential, request, reply, logLevel, route))
    } catch (err) {
      return done(err as Error)
    }
    settle(pending, done)
  })
}
