import t from 'tap'
import * as crypto from 'node:crypto'
import { createUserDirectory, demoAccounts, demoUsers, hashPassword, publicUser, verifyPassword } from '../../examples/users.js'

t.test('a password verifies against its own hash only', async (t) => {
  const hash = await hashPassword('wonderland')
  t.equal(hash.salt.length, 16)
  t.equal(hash.key.length, 32)
  t.equal(await verifyPassword('wonderland', hash), true)
  t.equal(await verifyPassword('Wonderland', hash), false)
  t.equal(await verifyPassword('', hash), false)
  const again = await hashPassword('wonderland')
  t.notSame(again.salt, hash.salt, 'a fresh salt each time')
  t.notSame(again.key, hash.key)
})

t.test('passwords are compared after NFC normalisation', async (t) => {
  const hash = await hashPassword('caf\u00e9')
  t.equal(await verifyPassword('cafe\u0301', hash), true)
})

t.test('the directory keeps hashes, never passwords', async (t) => {
  const users = await createUserDirectory(demoAccounts)
  const alice = users.find('alice')
  t.ok(alice)
  for (const account of demoAccounts) {
    const user = users.find(account.username)!
    t.same(Object.keys(user).sort(), ['disabled', 'email', 'full_name', 'passwordHash', 'scopes', 'username'], account.username)
    t.same(Object.keys(user.passwordHash).sort(), ['key', 'salt'])
    t.notOk(Object.values(user).includes(account.password), account.username)
  }
  t.same(publicUser(alice!), { username: 'alice', full_name: 'Alice Liddell', email: 'alice@example.com', scopes: ['me:read', 'items:read', 'items:write'] })
  t.equal(users.find('mallory'), undefined)
  t.equal(users.find(42), undefined, 'a claim that is not a string finds no one')
  t.equal(users.find(undefined), undefined)
  t.equal(users.find('carol')?.disabled, true)
})

t.test('authenticate answers the enabled user whose password it is, and null otherwise', async (t) => {
  const users = await demoUsers()
  t.equal((await users.authenticate('alice', 'wonderland'))?.username, 'alice')
  t.equal((await users.authenticate('bob', 'builder'))?.username, 'bob')
  t.equal(await users.authenticate('alice', 'builder'), null)
  t.equal(await users.authenticate('mallory', 'wonderland'), null)
  t.equal(await users.authenticate('carol', 'disabled'), null)
})

t.test('the demo users are hashed once per process', async (t) => {
  t.equal(demoUsers(), demoUsers())
  t.equal(await demoUsers(), await demoUsers())
})

t.test('every refusal costs exactly one scrypt, like a success: an unknown name is checked against a dummy hash', async (t) => {
  const calls: string[] = []
  const counting = ((...args: Parameters<typeof crypto.scrypt>) => {
    calls.push(String(args[0]))
    return (crypto.scrypt as (...a: unknown[]) => void)(...args)
  }) as typeof crypto.scrypt
  const mocked = await t.mockImport<typeof import('../../examples/users.js')>('../../examples/users.js', {
    'node:crypto': { ...crypto, scrypt: counting }
  })
  const users = await mocked.createUserDirectory(demoAccounts)
  t.equal(calls.length, demoAccounts.length + 1, 'one hash per account and one dummy hash')

  for (const [username, password] of [['alice', 'wonderland'], ['alice', 'wrong'], ['mallory', 'wonderland'], ['carol', 'disabled']] as const) {
    calls.length = 0
    await users.authenticate(username, password)
    t.same(calls, [password], `${username} / ${password}`)
  }
})
