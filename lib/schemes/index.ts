import type { FastifyReply, FastifyRequest } from 'fastify'
import type { verifyBearerAuthFactory as BearerAuthFactory } from '@fastify/bearer-auth'
import { baseChallenge } from '../challenge.js'
import { descriptions } from '../errors.js'
import type { Extractor } from '../credential.js'
import type { NormalizedOptions } from '../options.js'
import type { SchemeOptions } from '../types.js'
import { isThenable } from '../checks.js'
import { fromVerifyFunction, guardVerifier, type Verified, type Verifier } from '../verifiers/verifier.js'
import { staticTokensVerifier } from '../verifiers/static-tokens.js'
import { jwtVerifier } from '../verifiers/jwt.js'
import { opaqueVerifier } from '../verifiers/opaque.js'
import { apiKeyExtractor, isApiKey } from './api-key.js'
import { bearerExtractor, isBearerToken } from './bearer.js'

/**
 * How a scheme answers a credential: what its verifier threw (already one of this plugin's
 * errors), or `undefined` and the verified credential (`null`: refused). It must not throw.
 */
export type Answer = (failed: unknown, verified: Verified | null) => void

/** A scheme ready for requests: everything per-request work needs, computed once. */
export interface Scheme {
  readonly name: string
  /** Its challenge with no error attribute. */
  readonly challenge: string
  /** The fixed description sent when its verifier refuses a credential. */
  readonly refused: string
  readonly extract: Extractor
  /**
   * Verifies a credential and calls `answer` once: at once when the verifier answered
   * synchronously, else when it settles. No promise of its own: a callback costs less.
   */
  readonly verify: (token: string, request: FastifyRequest, answer: Answer) => void
}

/** A verifier (sync or async) behind the {@link Answer} callback. */
function answering (verifier: Verifier): Scheme['verify'] {
  return function verify (token, request, answer) {
    let result
    try {
      result = verifier(token, request)
    } catch (err) {
      answer(err, null)
      return
    }
    if (!isThenable(result)) answer(undefined, result)
    else result.then((value) => { answer(undefined, value) }, (err: unknown) => { answer(err, null) })
  }
}

async function baseVerifier (name: string, options: SchemeOptions, normalized: NormalizedOptions): Promise<Verifier> {
  if (options.verify !== undefined) return fromVerifyFunction(options.verify, normalized.getScopes)
  if (options.type === 'bearer' && options.jwt !== undefined) return await jwtVerifier(name, options.jwt)
  if (options.type === 'bearer' && options.opaque !== undefined) return opaqueVerifier(name, options.opaque)
  const isWellFormed = options.type === 'bearer' ? isBearerToken : isApiKey
  return staticTokensVerifier(name, options.tokens!, (token) => token.length <= normalized.maxTokenLength && isWellFormed(token), normalized.getScopes, normalized.maxTokenLength)
}

/**
 * What bearer-auth gets instead of the reply: it answers through its callback, and the
 * reply.code(401 or 500) it calls before would otherwise stay on the real reply, so an
 * app's error handler would see a verifier fault as a 401 without a challenge.
 */
const detachedReply = { code: () => detachedReply } as unknown as FastifyReply

/**
 * Runs a bearer verifier through @fastify/bearer-auth's verifyBearerAuth. bearer-auth reads
 * the Authorization header of the request it is given and calls its `auth` option with the
 * token; it is given a request that holds only the credential this plugin parsed from what
 * the client sent, so it checks exactly that, and its `auth` refuses any other value. Our
 * verifier is handed to that option per call: bearer-auth calls `auth` synchronously, before
 * its first await. Its callback is the scheme's answer; bearer-auth would call it again if
 * it threw, which an {@link Answer} never does.
 */
function throughBearerAuth (factory: BearerAuthFactory, verifier: Verifier): Scheme['verify'] {
  const verify = answering(verifier)
  let current: ((key: string) => boolean | Promise<boolean>) | undefined
  const verifyBearerAuth = factory({
    keys: [],
    auth: (key: string) => current!(key),
    addHook: false,
    specCompliance: 'rfc6749', // the auth-scheme is case-insensitive (RFC 9110 §11.1)
    // No log line of its own: refusals are logged once, by this plugin, with the reason.
    verifyErrorLogLevel: null as unknown as string
  })

  return function verifyBearer (token, request, answer) {
    // What the verifier said, kept for the answer: bearer-auth only learns accepted or not
    // (it would turn a fault that is not an Error into a string, which can throw).
    let failed: unknown
    let verified: Verified | null = null
    current = (key) => {
      if (key !== token) return false
      let accepted: boolean | undefined
      let settle: ((value: boolean) => void) | undefined
      verify(key, request, (thrown, value) => {
        failed = thrown
        verified = value
        accepted = thrown === undefined && value !== null
        settle?.(accepted)
      })
      // A synchronous verifier (static tokens, a JWT cache hit) answers bearer-auth synchronously.
      return accepted ?? new Promise<boolean>((resolve) => { settle = resolve })
    }
    const parsed = { raw: { headers: { authorization: `Bearer ${token}` } }, log: request.log } as unknown as FastifyRequest
    verifyBearerAuth(parsed, detachedReply, (err?: Error) => {
      if (failed !== undefined) answer(failed, null)
      else answer(undefined, err === undefined ? verified : null)
    })
    current = undefined
  }
}

/** Builds every configured scheme. `bearerAuthFactory` comes from @fastify/bearer-auth. */
export async function buildSchemes (options: NormalizedOptions, bearerAuthFactory: BearerAuthFactory): Promise<ReadonlyMap<string, Scheme>> {
  const schemes = new Map<string, Scheme>()
  for (const [name, scheme] of options.schemes) {
    const verifier = guardVerifier(await baseVerifier(name, scheme, options), options.verifyTimeout)
    schemes.set(name, Object.freeze({
      name,
      challenge: baseChallenge(scheme, options.realm),
      refused: scheme.type === 'bearer' ? descriptions.invalidToken : descriptions.invalidApiKey,
      extract: scheme.type === 'bearer'
        ? bearerExtractor(options.maxTokenLength)
        : apiKeyExtractor(scheme.in, scheme.name, options.maxTokenLength),
      verify: scheme.type === 'bearer'
        ? throughBearerAuth(bearerAuthFactory, verifier)
        : answering(verifier)
    }))
  }
  return schemes
}
