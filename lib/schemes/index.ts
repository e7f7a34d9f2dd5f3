import type { FastifyReply, FastifyRequest } from 'fastify'
import type { verifyBearerAuthFactory as BearerAuthFactory } from '@fastify/bearer-auth'
import { baseChallenge } from '../challenge.js'
import { descriptions, dpopDescriptions, InvalidDpopProofError, InvalidOptionError, InvalidTokenError, jwtDescriptions } from '../errors.js'
import type { Credential, DpopCredential, Extractor } from '../credential.js'
import { defaultGetScopes, type NormalizedOptions } from '../options.js'
import type { SchemeOptions } from '../types.js'
import { isThenable } from '../checks.js'
import { fromVerifyFunction, guardVerifier, withTimeout, type Verified, type Verifier } from '../verifiers/verifier.js'
import { staticTokensVerifier } from '../verifiers/static-tokens.js'
import { jwtVerifier } from '../verifiers/jwt.js'
import { configuredIssuers } from '../verifiers/jwt-config.js'
import { opaqueVerifier } from '../verifiers/opaque.js'
import { introspectionVerifier } from '../verifiers/introspection.js'
import { jwtTakes, takesOpaque, type Takes } from '../verifiers/takes.js'
import { DEFAULT_CLOCK_TOLERANCE } from '../step-up.js'
import { apiKeyExtractor, isApiKey } from './api-key.js'
import { bearerExtractor, isBearerToken, type Presentations } from './bearer.js'
import { checkDpopOptions } from '../dpop/options.js'
import { DpopChecker, kDpopInternals, type DpopInternals } from '../dpop/proof.js'

/**
 * How a scheme answers a credential: what its verifier threw (already one of this plugin's
 * errors), or `undefined` and the verified credential (`null`: refused). It must not throw.
 */
export type Answer = (failed: unknown, verified: Verified | null) => void

/** A scheme ready for requests: everything per-request work needs, computed once. */
export interface Scheme {
  readonly name: string
  readonly type: SchemeOptions['type']
  /** Its challenge with no error attribute (for a bearer scheme, the `Bearer` one). */
  readonly challenge: string
  /** Every challenge it offers in a 401: `Bearer` and/or `DPoP` for a bearer scheme with DPoP. */
  readonly bases: readonly string[]
  /** The fixed description sent when its verifier refuses a credential. */
  readonly refused: string
  readonly extract: Extractor
  /**
   * For a bearer scheme: its extractor for the presentations a group of schemes accepts
   * together (see {@link Group}); `undefined` for an API key.
   */
  readonly extractFor: ((accepts: Presentations) => Extractor) | undefined
  /** The presentations it accepts (`Bearer`, `DPoP`): API keys count as `bearer`. */
  readonly presentations: Presentations
  /** Its DPoP checks (RFC 9449), when it accepts DPoP. */
  readonly dpop: DpopChecker | undefined
  /**
   * Where its credential is: schemes with the same place read the same credential (every bearer
   * scheme reads `Authorization`), which is offered to them in the route's order.
   */
  readonly place: string
  /**
   * When its place is shared: whether it takes a credential, by its presentation and (see
   * verifiers/takes.ts) whether its verifier takes the token.
   */
  readonly takes: (credential: Credential) => boolean
  /**
   * Whether its verifier's answers carry the token's claims (`Verified.claims`), which a route's
   * `acr` / `maxAge` read (lib/step-up.ts).
   */
  readonly hasClaims: boolean
  /** The leeway for time claims, in seconds: the JWT scheme's `clockTolerance`, else the JWT default. */
  readonly clockTolerance: number
  /**
   * Verifies a credential and calls `answer` once: at once when the verifier answered
   * synchronously, else when it settles. No promise of its own: a callback costs less. `reply`
   * gets the headers a DPoP answer carries (`DPoP-Nonce`).
   */
  readonly verify: (credential: Credential, request: FastifyRequest, reply: FastifyReply, answer: Answer) => void
}

/** A verifier (sync or async) behind the {@link Answer} callback. */
function answering (verifier: Verifier): Scheme['verify'] {
  return function verify (token, request, _reply, answer) {
    let result
    try {
      // An API key is always a string.
      result = verifier(token as string, request)
    } catch (err) {
      answer(err, null)
      return
    }
    if (!isThenable(result)) answer(undefined, result)
    else result.then((value) => { answer(undefined, value) }, (err: unknown) => { answer(err, null) })
  }
}

async function baseVerifier (name: string, options: SchemeOptions, normalized: NormalizedOptions): Promise<Verifier> {
  if (options.verify !== undefined) return fromVerifyFunction(name, options.verify, normalized.getScopes)
  // A JWT has scopes of its own; the plugin's getScopes reads its claims only when the app set it.
  if (options.type === 'bearer' && options.jwt !== undefined) {
    return await jwtVerifier(name, options.jwt, normalized.getScopes === defaultGetScopes ? undefined : normalized.getScopes)
  }
  if (options.type === 'bearer' && options.opaque !== undefined) return opaqueVerifier(name, options.opaque)
  if (options.type === 'bearer' && options.introspection !== undefined) {
    return introspectionVerifier(name, options.introspection, normalized.verifyTimeout, normalized.getScopes === defaultGetScopes ? undefined : normalized.getScopes)
  }
  const isWellFormed = options.type === 'bearer' ? isBearerToken : isApiKey
  return staticTokensVerifier(name, options.tokens!, (token) => token.length <= normalized.maxTokenLength && isWellFormed(token), normalized.getScopes, normalized.maxTokenLength)
}

/**
 * What bearer-auth gets instead of the reply: it answers through its callback, and the
 * reply.code(401 or 500) it calls before would otherwise stay on the real reply, so an
 * app's error handler would see a verifier fault as a 401 without a challenge.
 */
const detachedReply = { code: () => detachedReply } as unknown as FastifyReply

/** What the verifier said about one credential: bearer-auth itself only learns accepted or not. */
interface Outcome {
  failed: unknown
  verified: Verified | null
}

/**
 * Runs a bearer verifier through @fastify/bearer-auth's verifyBearerAuth. bearer-auth reads
 * the Authorization header of the request it is given and calls its `auth` option with the
 * token; it is given a request that holds only the credential this plugin parsed from what
 * the client sent, so it checks exactly that, and its `auth` refuses any other value.
 *
 * bearer-auth reads that header and calls `auth` synchronously, before its first await, and
 * reads nothing of the request after: so one such request object per scheme serves every
 * call, and the call in progress is handed to `auth` through this closure's variables rather
 * than through closures made per request. Only an asynchronous verifier gets an
 * {@link Outcome} object of its own. bearer-auth's callback is the scheme's answer; it would
 * call it again if it threw, which an {@link Answer} never does.
 */
function throughBearerAuth (factory: BearerAuthFactory, verifier: Verifier): Scheme['verify'] {
  // The call in progress, for `auth`: set just before verifyBearerAuth, read during it.
  let token: string | undefined
  let request: FastifyRequest | undefined
  // What `auth` found, read back just after verifyBearerAuth returns.
  let failed: unknown
  let verified: Verified | null = null
  let later: Outcome | undefined

  const settled = (outcome: Outcome, value: Verified | null): boolean => {
    outcome.verified = value
    return value !== null
  }
  function auth (key: string): boolean | Promise<boolean> {
    if (key !== token) return false
    token = undefined
    let result
    try {
      result = verifier(key, request!)
    } catch (err) {
      failed = err
      return false
    }
    // A synchronous verifier (static tokens, a JWT cache hit) answers bearer-auth synchronously.
    if (!isThenable(result)) {
      verified = result
      return result !== null
    }
    const outcome: Outcome = { failed: undefined, verified: null }
    later = outcome
    return result.then((value) => settled(outcome, value), (err: unknown) => {
      outcome.failed = err
      return false
    })
  }
  const verifyBearerAuth = factory({
    keys: [],
    auth,
    addHook: false,
    // The header it reads is the one built below, always spelled `Bearer`: the client's own
    // spelling (the auth-scheme is case-insensitive, RFC 9110 §11.1) was read by bearerExtractor.
    specCompliance: 'rfc6750',
    // No log line of its own: refusals are logged once, by this plugin, with the reason.
    verifyErrorLogLevel: null as unknown as string
  })
  const headers = { authorization: '' }
  const parsed = { raw: { headers } } as unknown as FastifyRequest

  return function verifyBearer (presented, from, _reply, answer) {
    // A DPoP credential is never offered to this path; were it, `auth` would refuse it (key !== token).
    token = presented as string
    request = from
    failed = undefined
    verified = null
    later = undefined
    headers.authorization = `Bearer ${presented}`
    // Set from what `auth` found, once bearer-auth has called it, which it does before this
    // call returns; should it ever answer before calling `auth`, nothing was verified and the
    // answer is a refusal.
    // eslint-disable-next-line prefer-const -- the callback below captures it before it is set
    let outcome: Outcome | undefined
    verifyBearerAuth(parsed, detachedReply, (err?: Error) => {
      if (outcome === undefined) answer(undefined, null)
      else if (outcome.failed !== undefined) answer(outcome.failed, null)
      else answer(undefined, err === undefined ? outcome.verified : null)
    })
    outcome = later ?? { failed, verified }
    token = undefined
    request = undefined
    headers.authorization = ''
  }
}

/** Where a scheme's credential is: see {@link Scheme.place}. */
function placeOf (options: SchemeOptions): string {
  if (options.type === 'bearer') return 'the Authorization header'
  // Header names are case-insensitive (RFC 9110 §5.1); query parameter and cookie names are not.
  return options.in === 'header' ? `the ${options.name.toLowerCase()} header` : `the ${options.name} ${options.in === 'query' ? 'query parameter' : 'cookie'}`
}

/** Whether a scheme's verifier takes a token (see verifiers/takes.ts): JWTs go to JWT schemes that trust their issuer, the rest to stores; any to the others. */
function tokenTakesOf (options: SchemeOptions): Takes | undefined {
  if (options.type !== 'bearer' || options.verify !== undefined) return undefined
  if (options.jwt !== undefined) return jwtTakes(configuredIssuers(options.jwt))
  if (options.opaque !== undefined || options.introspection !== undefined) return takesOpaque
  return undefined
}

/** See {@link Scheme.takes}. */
function takesOf (options: SchemeOptions, accepts: Presentations): Scheme['takes'] {
  const takesToken = tokenTakesOf(options)
  return function takes (credential) {
    if (typeof credential === 'string') return accepts.bearer && (takesToken === undefined || takesToken(credential))
    return accepts.dpop && (takesToken === undefined || takesToken(credential.token))
  }
}

/**
 * See {@link Scheme.hasClaims}: every bearer verifier that reads tokens from an authorization
 * server (a JWT, introspection); not a verify function, static tokens or a token store, whose
 * answers are users, nor an API key.
 */
function hasClaims (options: SchemeOptions): boolean {
  return options.type === 'bearer' && options.verify === undefined && options.tokens === undefined && options.opaque === undefined
}

/**
 * The DPoP presentation (RFC 9449 §7.1): the proof is checked (§4.3), then the token by the
 * scheme's verifier, then that the token is bound to the proof's key, and last the proof's
 * `jti` is recorded, so that a proof refused for its token can be retried and is not used up.
 */
function throughDpop (checker: DpopChecker, verifier: Verifier, verifyTimeout: number): (credential: DpopCredential, request: FastifyRequest, reply: FastifyReply) => Promise<Verified | null> {
  return async function verifyDpop (credential, request, reply) {
    if (credential.proof === undefined) throw new InvalidDpopProofError(dpopDescriptions.missing)
    const proof = await checker.check(credential.proof, credential.token, request)
    const verified = await verifier(credential.token, request, true)
    if (verified === null) return null
    if (verified.jkt === undefined) throw new InvalidTokenError(jwtDescriptions.notBound)
    if (verified.jkt !== proof.jkt) throw new InvalidTokenError(jwtDescriptions.wrongKey)
    await withTimeout(checker.record(proof), verifyTimeout)
    if (proof.nextNonce !== undefined) reply.header('dpop-nonce', proof.nextNonce)
    return verified
  }
}

/** The DPoP checks of a scheme with `dpop`; `undefined` without. */
function dpopOf (name: string, options: SchemeOptions, metadataUrl: string | undefined): DpopChecker | undefined {
  if (options.type !== 'bearer' || options.dpop === undefined) return undefined
  if (options.jwt === undefined && options.opaque === undefined && options.introspection === undefined) {
    throw new InvalidOptionError(`schemes.${name}.dpop needs a jwt, opaque or introspection verifier: only tokens an authorization server or a token store issued can be bound to a key (cnf.jkt)`)
  }
  const config = checkDpopOptions(name, options.dpop)
  return new DpopChecker(config, metadataUrl, (options.dpop as { [kDpopInternals]?: DpopInternals })[kDpopInternals])
}

/**
 * RFC 8707, RFC 9728 §2: with `protectedResource`, a `jwt` or `introspection` scheme that names
 * no audience expects the resource, so a token issued for another resource is refused.
 */
function withDefaultAudience (options: SchemeOptions, resource: string | undefined): SchemeOptions {
  if (resource === undefined || options.type !== 'bearer') return options
  if (options.jwt !== undefined && options.jwt.audience === undefined) return { ...options, jwt: { ...options.jwt, audience: resource } }
  if (options.introspection !== undefined && options.introspection.audience === undefined) return { ...options, introspection: { ...options.introspection, audience: resource } }
  return options
}

/** Builds every configured scheme. `bearerAuthFactory` comes from @fastify/bearer-auth. */
export async function buildSchemes (options: NormalizedOptions, bearerAuthFactory: BearerAuthFactory): Promise<ReadonlyMap<string, Scheme>> {
  const schemes = new Map<string, Scheme>()
  const { metadataUrl, resource } = options.protectedResource ?? {}
  for (const [name, given] of options.schemes) {
    const scheme = withDefaultAudience(given, resource)
    const dpop = dpopOf(name, scheme, metadataUrl)
    const verifier = guardVerifier(await baseVerifier(name, scheme, options), options.verifyTimeout)
    const challenge = baseChallenge(scheme, options.realm, metadataUrl)
    const presentations: Presentations = Object.freeze({ bearer: dpop?.config.required !== true, dpop: dpop !== undefined })
    let verify: Scheme['verify']
    let extract: Extractor
    let extractFor: Scheme['extractFor']
    if (scheme.type === 'bearer') {
      const { maxTokenLength } = options
      extractFor = (accepts) => bearerExtractor(maxTokenLength, accepts)
      extract = extractFor(presentations)
      // Its verifier refuses a DPoP-bound token here (RFC 9449 §7.2): no proof comes this way.
      const bearer = throughBearerAuth(bearerAuthFactory, verifier)
      if (dpop === undefined) {
        verify = bearer
      } else {
        const viaDpop = throughDpop(dpop, verifier, options.verifyTimeout)
        verify = function verifyBearerOrDpop (credential, request, reply, answer) {
          if (typeof credential === 'string') return bearer(credential, request, reply, answer)
          viaDpop(credential, request, reply).then((verified) => { answer(undefined, verified) }, (err: unknown) => { answer(err, null) })
        }
      }
    } else {
      extract = apiKeyExtractor(scheme.in, scheme.name, options.maxTokenLength)
      verify = answering(verifier)
    }
    schemes.set(name, Object.freeze({
      name,
      type: scheme.type,
      challenge,
      bases: Object.freeze(dpop === undefined ? [challenge] : presentations.bearer ? [challenge, dpop.challenge] : [dpop.challenge]),
      refused: scheme.type === 'bearer' ? descriptions.invalidToken : descriptions.invalidApiKey,
      extract,
      extractFor,
      presentations,
      dpop,
      place: placeOf(scheme),
      takes: takesOf(scheme, presentations),
      hasClaims: hasClaims(scheme),
      clockTolerance: scheme.type === 'bearer' ? scheme.jwt?.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE : DEFAULT_CLOCK_TOLERANCE,
      verify
    }))
  }
  return schemes
}
