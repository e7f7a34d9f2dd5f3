import * as crypto from 'node:crypto'
import { generateKeyPairSync } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildServer } from '../../examples/server.js'
import { demoAccounts, demoUsers, type UserDirectory } from '../../examples/users.js'
import { exampleCatalogue } from './fixtures/example-catalogue.js'
import { runCatalogue } from './fixtures/run.js'
import { watch } from './fixtures/watch.js'

// The example server under attack: POST /token (enumeration, repeated, missing and oversized
// parameters, JSON instead of a form, brute force) and its protected routes, through inject and
// as bytes on a socket.
const w = watch()
const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey

/** The demo users, counting password checks and user lookups (the example's "verifiers"). */
async function countingUsers (calls: string[]): Promise<UserDirectory> {
  const demo = await demoUsers()
  return {
    find: (username) => {
      calls.push('find')
      return demo.find(username)
    },
    authenticate: async (username, password) => {
      calls.push('password')
      return await demo.authenticate(username, password)
    }
  }
}

const calls: string[] = []
const app = await buildServer({
  logger: { level: 'trace', stream: w.stream },
  signingKey,
  users: await countingUsers(calls),
  // The catalogue is not a brute force: its own test below runs with the default limit.
  rateLimit: { max: 100_000, timeWindow: 60_000 }
})
t.teardown(() => app.close())
await app.listen({ port: 0, host: '127.0.0.1' })
const target = { app, port: (app.server.address() as AddressInfo).port, calls, reset: () => { calls.length = 0 } }
const cases = await exampleCatalogue(signingKey)

runCatalogue(t, w, target, cases, 'wonderland-never-sent')

t.test('a wrong password, an unknown user and a disabled account are told apart by nothing', async (t) => {
  const answers = []
  for (const [username, password] of [['alice', 'wrong-password'], ['mallory', 'wrong-password'], ['carol', 'disabled'], ['carol', 'wrong-password']]) {
    calls.length = 0
    const res = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `grant_type=password&username=${username!}&password=${password!}`
    })
    t.same(calls, ['password'], `${username!}: exactly one password check`)
    // Only what varies with time and with the count of requests so far is left out.
    const { date, 'x-ratelimit-remaining': _remaining, 'x-ratelimit-reset': _reset, ...headers } = res.headers
    answers.push({ status: res.statusCode, headers, body: res.body })
  }
  for (const answer of answers.slice(1)) t.same(answer, answers[0], 'the same status, headers and body')
})

t.test('every password check costs one scrypt, whoever the user is', async (t) => {
  let scrypts = 0
  const counted = {
    ...crypto,
    scrypt: (...args: Parameters<typeof crypto.scrypt>) => {
      scrypts++
      return (crypto.scrypt as (...a: unknown[]) => void)(...args)
    }
  }
  const users = await t.mockImport<typeof import('../../examples/users.js')>('../../examples/users.js', { 'node:crypto': counted })
  const directory = await users.createUserDirectory(demoAccounts)
  t.equal(scrypts, demoAccounts.length + 1, 'at start: one hash per account and one for unknown names')
  const perCheck: Record<string, number> = {}
  for (const [who, username, password] of [
    ['right password', 'alice', 'wonderland'],
    ['wrong password', 'alice', 'not-it'],
    ['unknown user', 'mallory', 'wonderland'],
    ['disabled account, right password', 'carol', 'disabled'],
    ['disabled account, wrong password', 'carol', 'not-it'],
    ['empty username', '', 'x'],
    ['username __proto__', '__proto__', 'x']
  ] as const) {
    const before = scrypts
    await directory.authenticate(username, password)
    perCheck[who] = scrypts - before
  }
  t.same(new Set(Object.values(perCheck)), new Set([1]), JSON.stringify(perCheck))
})

t.test('an unknown user is not answered faster than a known one (a generous statistical bound)', async (t) => {
  // The leak this guards against is skipping scrypt for unknown names: a refusal in well under
  // a millisecond instead of tens. Interleaved rounds and medians keep CI noise out.
  const directory = await demoUsers()
  const times: Record<'known' | 'unknown', number[]> = { known: [], unknown: [] }
  for (let i = 0; i < 9; i++) {
    for (const [kind, username] of [['known', 'alice'], ['unknown', `mallory${i}`]] as const) {
      const started = performance.now()
      await directory.authenticate(username, 'not-the-password')
      times[kind].push(performance.now() - started)
    }
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  t.ok(median(times.unknown) > median(times.known) / 2, `medians: known ${median(times.known).toFixed(1)} ms, unknown ${median(times.unknown).toFixed(1)} ms`)
})

t.test('brute force: after 10 attempts a minute, even the right password gets 429 and no check', async (t) => {
  const limited: string[] = []
  const server = await buildServer({ logger: { level: 'trace', stream: w.stream }, signingKey, users: await countingUsers(limited) })
  t.teardown(() => server.close())
  const attempt = async (password: string) => await server.inject({
    method: 'POST',
    url: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `grant_type=password&username=alice&password=${password}`
  })
  for (let i = 0; i < 10; i++) t.equal((await attempt(`guess-${i}`)).statusCode, 400)
  t.equal(limited.length, 10, 'ten password checks')
  const blocked = await attempt('wonderland')
  t.equal(blocked.statusCode, 429)
  t.ok(Number(blocked.headers['retry-after']) > 0, 'Retry-After')
  t.equal(blocked.headers['cache-control'], 'no-store')
  t.notMatch(blocked.body, /access_token/)
  t.equal(limited.length, 10, 'no password check once limited')
  const elsewhere = await server.inject({ url: '/users/me' })
  t.equal(elsewhere.statusCode, 401, 'other routes are not limited by it')
})

w.check(t, async () => await app.close())
