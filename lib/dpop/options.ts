import { InvalidOptionError } from '../errors.js'
import { integerOption, isPlainObject } from '../checks.js'
import { MemoryTokenStore } from '../stores/memory.js'
import type { TokenStore } from '../stores/token-store.js'
import { ASYMMETRIC_ALGORITHMS } from '../verifiers/jwt-config.js'

/**
 * DPoP (RFC 9449) on a bearer scheme whose verifier is `jwt`, `introspection` or `opaque`:
 * `Authorization: DPoP <token>` with a `DPoP` proof header, the token bound to the proof's key
 * by `cnf.jkt`. A bound token is never accepted as `Bearer`, with or without this option.
 *
 * @example
 * dpop: { required: true, replayStore: new RedisTokenStore(redis), origin: 'https://api.example' }
 */
export interface DpopOptions {
  /** Accept only DPoP-bound tokens: `Bearer` is then not offered nor accepted. @default false */
  required?: boolean
  /**
   * The proof algorithms accepted, asymmetric only (RFC 9449 §4.2), in the order the challenge
   * lists them. @default ['ES256', 'PS256', 'EdDSA', 'RS256']
   */
  algorithms?: readonly string[]
  /** Seconds a proof is accepted after its `iat`. @default 60 */
  proofMaxAge?: number
  /** Seconds of clock skew allowed on `iat`, either way. @default 5 */
  clockTolerance?: number
  /**
   * Server nonces (RFC 9449 §9): a proof must carry the current one, else 401 `use_dpop_nonce`
   * with a fresh one in `DPoP-Nonce`. Each is an HMAC of a five-minute window with `secret`
   * (at least 32 characters), so every instance with the same secret accepts every other's.
   * @default false
   */
  nonce?: { secret: string } | false
  /**
   * Where proof ids (`jti`) are recorded, each once within the proof window. A
   * `RedisTokenStore` shares them between instances, so a proof replayed to another instance is
   * refused. @default a MemoryTokenStore of this scheme's own (one process)
   */
  replayStore?: TokenStore
  /**
   * The public origin requests reach this app at (`https://api.example`), which a proof's `htu`
   * names. @default the request's, as Fastify reads it: `request.protocol` and `request.host`,
   * which follow `X-Forwarded-Proto` / `X-Forwarded-Host` only with Fastify's `trustProxy`
   */
  origin?: string
}

/** `dpop` after validation, with its defaults. */
export interface DpopConfig {
  readonly required: boolean
  readonly algorithms: readonly string[]
  readonly proofMaxAge: number
  readonly clockTolerance: number
  readonly nonceSecret: string | undefined
  readonly replayStore: TokenStore & { useOnce: NonNullable<TokenStore['useOnce']> }
  readonly origin: string | undefined
}

export const DEFAULT_DPOP_ALGORITHMS = Object.freeze(['ES256', 'PS256', 'EdDSA', 'RS256'])
const known = new Set(['required', 'algorithms', 'proofMaxAge', 'clockTolerance', 'nonce', 'replayStore', 'origin'])
const MAX_PROOF_AGE = 3600
const MAX_TOLERANCE = 300
const MIN_SECRET_LENGTH = 32

/** `origin`: scheme, host and port only (`https://api.example`), as URL.origin spells it. */
function publicOrigin (value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined
  let url: URL | undefined
  try {
    if (typeof value === 'string') url = new URL(value)
  } catch {}
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '' ||
    url.pathname !== '/' || url.search !== '' || url.hash !== '' || !/^https?:\/\/[^/?#]+\/?$/i.test(value as string)) {
    throw new InvalidOptionError(`${path} must be an origin such as 'https://api.example' (scheme, host and port; no path, query or fragment)`)
  }
  return url.origin
}

/** Checks `schemes.<name>.dpop`; throws {@link InvalidOptionError} with what to fix. */
export function checkDpopOptions (schemeName: string, options: unknown): DpopConfig {
  const path = `schemes.${schemeName}.dpop`
  if (!isPlainObject(options)) throw new InvalidOptionError(`${path} must be an object`)
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new InvalidOptionError(`unknown option '${path}.${key}' (known: ${[...known].join(', ')})`)
  }
  const { required = false, algorithms = DEFAULT_DPOP_ALGORITHMS, nonce = false, replayStore } = options
  if (typeof required !== 'boolean') throw new InvalidOptionError(`${path}.required must be a boolean`)
  if (!Array.isArray(algorithms) || algorithms.length === 0 || new Set(algorithms).size !== algorithms.length ||
    !algorithms.every((alg) => typeof alg === 'string' && ASYMMETRIC_ALGORITHMS.has(alg))) {
    throw new InvalidOptionError(`${path}.algorithms must list asymmetric JWS algorithms, each once (from ${[...ASYMMETRIC_ALGORITHMS.keys()].join(', ')})`)
  }
  let nonceSecret: string | undefined
  if (nonce !== false) {
    if (!isPlainObject(nonce) || Object.keys(nonce).some((key) => key !== 'secret') || typeof nonce.secret !== 'string' || nonce.secret.length < MIN_SECRET_LENGTH) {
      throw new InvalidOptionError(`${path}.nonce must be false or { secret } with a secret of at least ${MIN_SECRET_LENGTH} characters`)
    }
    nonceSecret = nonce.secret
  }
  if (replayStore !== undefined && typeof (replayStore as TokenStore | null)?.useOnce !== 'function') {
    throw new InvalidOptionError(`${path}.replayStore must be a token store with useOnce (MemoryTokenStore, RedisTokenStore)`)
  }
  return Object.freeze({
    required,
    algorithms: Object.freeze([...algorithms as string[]]),
    proofMaxAge: integerOption(path, options, 'proofMaxAge', 1, MAX_PROOF_AGE, 60),
    clockTolerance: integerOption(path, options, 'clockTolerance', 0, MAX_TOLERANCE, 5),
    nonceSecret,
    replayStore: (replayStore ?? new MemoryTokenStore()) as DpopConfig['replayStore'],
    origin: publicOrigin(options.origin, `${path}.origin`)
  })
}
