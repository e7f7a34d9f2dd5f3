import { randomBytes, scrypt, timingSafeEqual, type BinaryLike, type ScryptOptions } from 'node:crypto'
import { promisify } from 'node:util'

/**
 * scrypt at N = 2^14, r = 8, p = 1: 16 MiB and a few tens of milliseconds per hash, the
 * interactive-login setting of the scrypt paper and Node's own default. Modest on purpose:
 * the demo boots and its tests run quickly. A production service would go higher (OWASP
 * suggests N = 2^17).
 */
const SCRYPT: ScryptOptions = Object.freeze({ N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })
const KEY_LENGTH = 32
const SALT_LENGTH = 16

const scryptAsync = promisify(scrypt) as (password: BinaryLike, salt: BinaryLike, keylen: number, options: ScryptOptions) => Promise<Buffer>

/** A salted scrypt hash. The password itself is never kept. */
export interface PasswordHash {
  readonly salt: Buffer
  readonly key: Buffer
}

/** An account as the server stores it. */
export interface User {
  readonly username: string
  readonly full_name: string
  readonly email: string
  /** Every scope the user may be granted (RFC 6749 §3.3). */
  readonly scopes: readonly string[]
  readonly disabled: boolean
  readonly passwordHash: PasswordHash
}

/**
 * What the API shows of a user: never the hash, never the disabled flag. (A type alias rather
 * than an interface, so that it is assignable to the plugin's `Record<string, unknown>` user.)
 */
export type PublicUser = {
  readonly username: string
  readonly full_name: string
  readonly email: string
  readonly scopes: readonly string[]
}

/** An account to create, with its password in clear (demo seed data only). */
export interface Account extends Omit<User, 'passwordHash'> {
  readonly password: string
}

/** The accounts the demo knows. Their passwords are printed by the start script and exist nowhere else in clear. */
export const demoAccounts: readonly Account[] = Object.freeze([
  { username: 'alice', password: 'wonderland', full_name: 'Alice Liddell', email: 'alice@example.com', scopes: ['me:read', 'items:read', 'items:write'], disabled: false },
  { username: 'bob', password: 'builder', full_name: 'Bob Builder', email: 'bob@example.com', scopes: ['me:read', 'items:read'], disabled: false },
  { username: 'carol', password: 'disabled', full_name: 'Carol Disabled', email: 'carol@example.com', scopes: ['me:read'], disabled: true }
])

/** Hashes a password with a fresh salt. Passwords are compared after NFC normalisation (RFC 8265 §4.2). */
export async function hashPassword (password: string): Promise<PasswordHash> {
  const salt = randomBytes(SALT_LENGTH)
  return Object.freeze({ salt, key: await scryptAsync(password.normalize('NFC'), salt, KEY_LENGTH, SCRYPT) })
}

/** Does the password match the hash? Always one scrypt, compared in constant time. */
export async function verifyPassword (password: string, hash: PasswordHash): Promise<boolean> {
  const key = await scryptAsync(password.normalize('NFC'), hash.salt, KEY_LENGTH, SCRYPT)
  return timingSafeEqual(key, hash.key)
}

/** The user store. */
export interface UserDirectory {
  /** The user with this name, enabled or not; `undefined` for anything else (including a non-string). */
  find (username: unknown): User | undefined
  /**
   * The enabled user whose password this is, or `null`. An unknown name, a wrong password and a
   * disabled account cost the same one scrypt, so the time of a refusal tells nothing about which.
   */
  authenticate (username: string, password: string): Promise<User | null>
}

/** The API's view of a user. */
export function publicUser (user: User): PublicUser {
  return { username: user.username, full_name: user.full_name, email: user.email, scopes: user.scopes }
}

/** An in-memory directory: every password is hashed here, and only the hashes are kept. */
export async function createUserDirectory (accounts: readonly Account[]): Promise<UserDirectory> {
  const [dummy, users] = await Promise.all([
    // Unknown names are checked against this: the hash of a random secret that no one knows.
    hashPassword(randomBytes(32).toString('base64')),
    Promise.all(accounts.map(async ({ password, ...account }): Promise<User> => Object.freeze({
      ...account,
      scopes: Object.freeze([...account.scopes]),
      passwordHash: await hashPassword(password)
    })))
  ])
  const byName = new Map(users.map((user) => [user.username, user]))

  return Object.freeze({
    find (username: unknown) {
      return typeof username === 'string' ? byName.get(username) : undefined
    },
    async authenticate (username: string, password: string) {
      const user = byName.get(username)
      const matches = await verifyPassword(password, user === undefined ? dummy : user.passwordHash)
      return matches && user !== undefined && !user.disabled ? user : null
    }
  })
}

let demo: Promise<UserDirectory> | undefined

/** The demo accounts, hashed once per process (each server built in the same process shares them). */
export function demoUsers (): Promise<UserDirectory> {
  demo ??= createUserDirectory(demoAccounts)
  return demo
}
