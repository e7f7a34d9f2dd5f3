import { createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { serveJwks } from './jwks-server.js'
import { JWKS_CACHE_MAX_AGE, JWKS_COOLDOWN, SharedKeySet, type SigningKeys } from './key-set.js'

const generateKeyPairAsync = promisify(generateKeyPair)

/** How the bearer scheme's JWT verifier finds the keys: the one public key, or the shared JWKS. */
export type KeyVerification =
  | { readonly publicKey: KeyObject }
  | { readonly jwksUrl: string | URL, readonly jwksCooldown: number, readonly jwksCacheMaxAge: number }

/** Options of {@link signingKeys}. */
export interface SigningOptions {
  /** One key for every instance, given by the operator (checked by the caller). */
  readonly signingKey: KeyObject | undefined
  /** The app's Redis client, when JWTs are issued and the state is shared. */
  readonly redis: Redis | undefined
  /** Seals the shared keys in Redis (checked by the caller). */
  readonly secret: string | undefined
  /** Ms a replaced key keeps verifying: the token lifetime plus clock tolerance. */
  readonly retention: number
}

/** The keys POST /token signs with, and how the verifier gets their public halves. */
export interface Signing {
  readonly keys: SigningKeys
  readonly verification: KeyVerification
}

/**
 * Where the signing keys come from:
 * - `signingKey`, or without Redis: one key (the given one, or one generated at boot), and
 *   the verifier holds its public key. Without Redis this is the only instance; with a given
 *   key, the operator gives every instance the same one (and rotates by restarting them).
 * - Redis without `signingKey`: the key set shared in Redis ({@link SharedKeySet}), and the
 *   verifier reads the set's JWKS, served to it on a loopback port ({@link serveJwks}). A token
 *   signed on one instance verifies on every other, and a rotated key needs no restart.
 */
export async function signingKeys (app: FastifyInstance, options: SigningOptions): Promise<Signing> {
  const { signingKey, redis, secret, retention } = options
  if (redis === undefined || signingKey !== undefined) {
    const privateKey = signingKey ?? (await generateKeyPairAsync('ec', { namedCurve: 'P-256' })).privateKey
    return { keys: { current: async () => ({ privateKey }) }, verification: { publicKey: createPublicKey(privateKey) } }
  }
  if (secret === undefined) {
    throw new TypeError('With redisUrl, JWTs need signingKeysSecret (the signing keys are shared through Redis, encrypted with it), or the same signingKey on every instance')
  }
  const keys = await SharedKeySet.open(redis, { secret, retention })
  const jwksUrl = await serveJwks(app, keys)
  return { keys, verification: { jwksUrl, jwksCooldown: JWKS_COOLDOWN, jwksCacheMaxAge: JWKS_CACHE_MAX_AGE } }
}
