import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, scrypt, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { calculateJwkThumbprint, type JWK } from 'jose'
import type { Redis } from 'ioredis'
import { VerifierUnavailableError } from '../lib/index.js'

/** A key POST /token signs with: its `kid` (RFC 7638 thumbprint), or none when there is one key only. */
export interface SigningKey {
  readonly kid?: string | undefined
  readonly privateKey: KeyObject
}

/** Where POST /token gets the key it signs with, at the moment it signs. */
export interface SigningKeys {
  current (): Promise<SigningKey>
}

/** Options of {@link SharedKeySet.open}. */
export interface KeySetOptions {
  /** Encrypts the private keys kept in Redis: at least 32 characters, the same on every instance. */
  readonly secret: string
  /**
   * Ms a key that a newer one has replaced keeps verifying: the longest access-token lifetime
   * plus the verifier's clock tolerance, so that every token it signed expires first.
   */
  readonly retention: number
  /** Prefix of the Redis key (the token store's). @default 'fpr:' */
  readonly prefix?: string | undefined
  /** Ms a Redis command may take before the answer is 503. @default 1000 */
  readonly timeout?: number | undefined
  /** The clock, epoch ms (tests move it). @default Date.now */
  readonly now?: (() => number) | undefined
}

/** What {@link SharedKeySet.rotate} did. */
export interface Rotation {
  /** The new key's kid: in the JWKS from now, signing from `signFrom`. */
  readonly kid: string
  /** Epoch ms from which POST /token signs with the new key. */
  readonly signFrom: number
  /** Kids of the keys removed: replaced longer ago than the retention, so no live token is theirs. */
  readonly removed: readonly string[]
}

/** A key of the set, decrypted. */
interface StoredKey {
  readonly kid: string
  /** Epoch ms from which it signs (until a newer key's time comes). */
  readonly signFrom: number
  readonly privateKey: KeyObject
  readonly publicJwk: JWK
}

const scryptAsync = promisify(scrypt) as (secret: string, salt: string, length: number) => Promise<Buffer>
const generateKeyPairAsync = promisify(generateKeyPair)

/** The JWT signing algorithm of every key in the set (RFC 7518 §3.4). */
const ALGORITHM = 'ES256'
// A sealed key: version, 96-bit IV, AES-256-GCM ciphertext with its 128-bit tag (base64url).
const SEALED = /^v1\.([\w-]{16})\.([\w-]{24,})$/
const TAG_BYTES = 16
// Takes the first key only into an empty set: instances booting together agree on one.
const ADD_IF_EMPTY = "if redis.call('HLEN', KEYS[1]) == 0 then return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end return 0"

/** The JWT verifier's largest clockTolerance, in seconds (the example uses its default, 30). */
const MAX_CLOCK_TOLERANCE = 300

/** Ms a replaced key keeps verifying when tokens live `tokenLifetime` seconds: until every one it signed has expired. */
export function retentionFor (tokenLifetime: number): number {
  return (tokenLifetime + MAX_CLOCK_TOLERANCE) * 1000
}

/** Checks `signingKeysSecret`; throws a TypeError saying what it must be. */
export function checkSecret (secret: unknown): string {
  if (typeof secret !== 'string' || secret.length < 32) {
    throw new TypeError('signingKeysSecret must be a string of at least 32 characters, the same on every instance (e.g. openssl rand -base64 32)')
  }
  return secret
}

/**
 * Orders the keys by `signFrom` (then kid, so every instance picks alike) and says which one
 * signs now, and which verify: the current key, the keys published ahead of their time, and
 * each older key until `retention` ms after the key that replaced it began to sign.
 */
function arrange (keys: readonly StoredKey[], now: number, retention: number): { current: StoredKey, verifying: StoredKey[], retired: StoredKey[] } {
  const sorted = [...keys].sort((a, b) => a.signFrom - b.signFrom || Number(a.kid > b.kid) - Number(a.kid < b.kid))
  // The newest key whose time has come; while none has (a clock behind the one that made the first), the oldest.
  const index = Math.max(0, sorted.filter((key) => key.signFrom <= now).length - 1)
  const verifying = sorted.filter((_key, i) => i >= index || sorted[i + 1]!.signFrom + retention > now)
  return { current: sorted[index]!, verifying, retired: sorted.filter((key) => !verifying.includes(key)) }
}

/**
 * The JWT signing keys every instance shares, in one Redis hash (`<prefix>signing-keys`, kid ->
 * sealed key). Each private key is sealed with AES-256-GCM under a key derived (scrypt) from
 * `secret`, with the Redis key and its kid as associated data: Redis, its dumps and replicas
 * never hold a private key in the clear, and whoever can write to Redis but lacks the secret
 * cannot add a key of theirs (the public keys served are derived from the sealed private ones).
 *
 * Rotation without a restart: {@link rotate} publishes a new key at once and has it sign from
 * `activateIn` ms later, by which time every instance has fetched it into its JWKS; the old
 * key keeps verifying for `retention` ms more, then leaves the JWKS and, at the next rotation,
 * Redis. POST /token reads the set at every login (one HGETALL; the keys are decrypted once).
 */
export class SharedKeySet implements SigningKeys {
  readonly #client: Redis
  readonly #key: string
  readonly #kek: Buffer
  readonly #retention: number
  readonly #timeout: number
  readonly #now: () => number
  /** kid -> the sealed value last seen and what it decrypted to (null: it does not decrypt). */
  readonly #opened = new Map<string, { readonly sealed: string, readonly key: StoredKey | null }>()

  private constructor (client: Redis, options: KeySetOptions, kek: Buffer) {
    this.#client = client
    this.#key = `${options.prefix ?? 'fpr:'}signing-keys`
    this.#kek = kek
    this.#retention = options.retention
    this.#timeout = options.timeout ?? 1000
    this.#now = options.now ?? Date.now
  }

  /**
   * The key set in the Redis of `client` (connected), with a first key if it has none. Fails
   * when no key in it decrypts with `secret`: an instance that could not sign tokens its
   * peers accept does not start.
   */
  static async open (client: Redis, options: KeySetOptions): Promise<SharedKeySet> {
    const kek = await scryptAsync(checkSecret(options.secret), 'fastify-protected-routes example: signing keys', 32)
    const set = new SharedKeySet(client, options, kek)
    await set.#load()
    return set
  }

  async current (): Promise<SigningKey> {
    const { kid, privateKey } = arrange(await this.#load(), this.#now(), this.#retention).current
    return { kid, privateKey }
  }

  /** The JWK Set (RFC 7517 §5) of every key that verifies now: public keys only. */
  async jwks (): Promise<{ keys: JWK[] }> {
    return { keys: arrange(await this.#load(), this.#now(), this.#retention).verifying.map((key) => key.publicJwk) }
  }

  /**
   * Adds a new key, in the JWKS at once and signing `activateIn` ms from now (give the
   * instances' JWKS refresh time: {@link KEY_PUBLISH_AHEAD}), and removes the retired keys.
   */
  async rotate ({ activateIn }: { activateIn: number }): Promise<Rotation> {
    if (!Number.isInteger(activateIn) || activateIn < 0) throw new TypeError('activateIn must be a whole number of ms, 0 or more')
    const keys = await this.#load()
    const now = this.#now()
    const { stored, sealed } = await this.#create(now + activateIn)
    await this.#redis(() => this.#client.hset(this.#key, stored.kid, sealed))
    const removed = arrange([...keys, stored], now, this.#retention).retired.map((key) => key.kid)
    if (removed.length > 0) await this.#redis(() => this.#client.hdel(this.#key, ...removed))
    return { kid: stored.kid, signFrom: stored.signFrom, removed }
  }

  /** Every key of the set that decrypts; a first one if the set is empty (a new or emptied Redis). */
  async #load (): Promise<StoredKey[]> {
    let sealed = await this.#redis(() => this.#client.hgetall(this.#key))
    if (Object.keys(sealed).length === 0) {
      const first = await this.#create(this.#now())
      await this.#redis(() => this.#client.eval(ADD_IF_EMPTY, 1, this.#key, first.stored.kid, first.sealed))
      sealed = await this.#redis(() => this.#client.hgetall(this.#key))
    }
    for (const kid of this.#opened.keys()) if (sealed[kid] === undefined) this.#opened.delete(kid)
    const keys = Object.entries(sealed).map(([kid, value]) => this.#open(kid, value)).filter((key) => key !== null)
    if (keys.length === 0) throw new Error('No signing key in Redis decrypts with signingKeysSecret: every instance needs the same secret')
    return keys
  }

  async #create (signFrom: number): Promise<{ stored: StoredKey, sealed: string }> {
    const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' })
    const jwk = publicKey.export({ format: 'jwk' }) as JWK
    const kid = await calculateJwkThumbprint(jwk)
    const stored: StoredKey = { kid, signFrom, privateKey, publicJwk: { ...jwk, kid, alg: ALGORITHM, use: 'sig' } }
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#kek, iv).setAAD(this.#aad(kid))
    const plain = JSON.stringify({ d: privateKey.export({ format: 'jwk' }), signFrom })
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()])
    const sealed = `v1.${iv.toString('base64url')}.${data.toString('base64url')}`
    this.#opened.set(kid, { sealed, key: stored })
    return { stored, sealed }
  }

  /** A sealed key, decrypted (once per sealed value); null if it does not decrypt with our secret. */
  #open (kid: string, sealed: string): StoredKey | null {
    const known = this.#opened.get(kid)
    if (known?.sealed === sealed) return known.key
    let key: StoredKey | null = null
    try {
      const [, iv, data] = SEALED.exec(sealed)!
      const bytes = Buffer.from(data!, 'base64url')
      const decipher = createDecipheriv('aes-256-gcm', this.#kek, Buffer.from(iv!, 'base64url')).setAAD(this.#aad(kid))
      decipher.setAuthTag(bytes.subarray(-TAG_BYTES))
      const { d, signFrom } = JSON.parse(Buffer.concat([decipher.update(bytes.subarray(0, -TAG_BYTES)), decipher.final()]).toString('utf8')) as { d: JWK, signFrom: number }
      const privateKey = createPrivateKey({ key: d, format: 'jwk' })
      const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK
      key = { kid, signFrom, privateKey, publicJwk: { ...publicJwk, kid, alg: ALGORITHM, use: 'sig' } }
    } catch {
      // Not of this format, sealed under another secret, or altered: not a key of ours.
    }
    this.#opened.set(kid, { sealed, key })
    return key
  }

  /** Associated data: the sealed key belongs to this Redis key and this kid, and nowhere else. */
  #aad (kid: string): Buffer {
    return Buffer.from(`${this.#key}\n${kid}`)
  }

  /** Redis work: 503 at once while the client is not connected, and after `timeout` ms. */
  async #redis<T> (work: () => Promise<T>): Promise<T> {
    if (this.#client.status !== 'ready') throw new VerifierUnavailableError()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.#timeout} ms`)), this.#timeout)
    })
    return await Promise.race([work(), timeout]).then((value) => {
      clearTimeout(timer)
      return value
    }, (err: unknown) => {
      clearTimeout(timer)
      throw new VerifierUnavailableError({ cause: err })
    })
  }
}

/**
 * How long before it signs a rotated key is published by default: past the JWKS refetch
 * interval and cooldown of every instance ({@link JWKS_CACHE_MAX_AGE}, {@link JWKS_COOLDOWN}),
 * so that no instance sees a token signed with a key it has not fetched.
 */
export const JWKS_COOLDOWN = 1000
export const JWKS_CACHE_MAX_AGE = 60_000
export const KEY_PUBLISH_AHEAD = 2 * (JWKS_CACHE_MAX_AGE + JWKS_COOLDOWN)
