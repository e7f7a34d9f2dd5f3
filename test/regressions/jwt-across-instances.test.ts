import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { decodeProtectedHeader } from 'jose'
import { buildServer, type ServerOptions } from '../../examples/server.js'
import { retentionFor, SharedKeySet } from '../../examples/key-set.js'
import { redisClient, redisServer } from '../helpers/redis.js'
import { accessToken, errorBody, logCapture, postForm, server } from '../examples/fixtures/helpers.js'

// Found in review: with REDIS_URL set, each instance generated its own signing key, so a JWT
// verified only on the instance that signed it: behind a load balancer, half the requests failed.

const redis = await redisServer(t)
const redisUrl = `redis://127.0.0.1:${redis.port}`
const signingKeysSecret = 'kRxv3hJ0n1yq0d9p6m8Z2QmYF7w4cT5uLsA1bE9gNoI='

const alice = { username: 'alice', full_name: 'Alice Liddell', email: 'alice@example.com', scopes: ['me:read', 'items:read', 'items:write'] }
const me = (app: FastifyInstance, token: string) => app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
const kidOf = (token: string) => decodeProtectedHeader(token).kid

/** Empties the Redis between tests: each starts with no key set. */
async function flush (t: Parameters<typeof redisClient>[0]) {
  const client = await redisClient(t, redis)
  await client.flushall()
  return client
}

t.test('two instances on one Redis: a JWT signed by either verifies on the other', async (t) => {
  await flush(t)
  const options: ServerOptions = { redisUrl, signingKeysSecret }
  const [a, b] = await Promise.all([server(t, options), server(t, options)])
  const fromA = await accessToken(a, 'alice', 'wonderland')
  const fromB = await accessToken(b, 'alice', 'wonderland')
  t.equal(kidOf(fromA), kidOf(fromB), 'both sign with the one key of the set')
  for (const [app, token, what] of [[b, fromA, 'A -> B'], [a, fromB, 'B -> A'], [a, fromA, 'A -> A'], [b, fromB, 'B -> B']] as const) {
    const res = await me(app, token)
    t.equal(res.statusCode, 200, what)
    t.same(res.json(), alice, what)
  }
})

t.test('two instances on one Redis: an opaque token issued by either works on the other', async (t) => {
  await flush(t)
  const options: ServerOptions = { redisUrl, tokenFormat: 'opaque' }
  const [a, b] = await Promise.all([server(t, options), server(t, options)])
  for (const [issuer, verifier] of [[a, b], [b, a]] as const) {
    const res = await me(verifier, await accessToken(issuer, 'alice', 'wonderland'))
    t.equal(res.statusCode, 200)
    t.same(res.json(), alice)
  }
})

t.test('rotation: a new key is in the JWKS at once, signs from its time, and old tokens keep verifying, with no restart', async (t) => {
  const client = await flush(t)
  const options: ServerOptions = { redisUrl, signingKeysSecret }
  const [a, b] = await Promise.all([server(t, options), server(t, options)])
  const before = await accessToken(a, 'alice', 'wonderland')
  t.equal((await me(b, before)).statusCode, 200, 'B has fetched the JWKS with the first key')
  const first = kidOf(before)

  // The operator's rotation (examples/rotate-key.ts does this): the new key signs 1.5 s from now,
  // past the verifiers' 1 s JWKS cooldown.
  const keys = await SharedKeySet.open(client, { secret: signingKeysSecret, retention: retentionFor(900) })
  const rotation = await keys.rotate({ activateIn: 1500 })
  t.not(rotation.kid, first)
  t.same(rotation.removed, [])
  t.same((await keys.jwks()).keys.map((key) => key.kid).sort(), [first, rotation.kid].sort(), 'both keys verify')

  const stillFirst = await accessToken(b, 'alice', 'wonderland')
  t.equal(kidOf(stillFirst), first, 'until its time, the old key signs')
  t.equal((await me(a, stillFirst)).statusCode, 200)

  await sleep(Math.max(0, rotation.signFrom - Date.now()) + 50)
  const fromA = await accessToken(a, 'alice', 'wonderland')
  const fromB = await accessToken(b, 'alice', 'wonderland')
  t.equal(kidOf(fromA), rotation.kid, 'A signs with the new key, unrestarted')
  t.equal(kidOf(fromB), rotation.kid, 'so does B')
  for (const [app, token, what] of [[b, fromA, 'new key, A -> B'], [a, fromB, 'new key, B -> A'], [a, before, 'old key, on A'], [b, before, 'old key, on B'], [a, stillFirst, 'old key, B -> A']] as const) {
    const res = await me(app, token)
    t.equal(res.statusCode, 200, what)
    t.same(res.json(), alice, what)
  }

  // A third instance, started after the rotation, verifies tokens of both keys.
  const c = await server(t, options)
  t.equal((await me(c, before)).statusCode, 200, 'old key, on a new instance')
  t.equal((await me(c, fromA)).statusCode, 200, 'new key, on a new instance')
})

t.test('private keys: sealed in Redis, and in no log line, JWKS or response', async (t) => {
  const client = await flush(t)
  const capture = logCapture()
  const options: ServerOptions = { redisUrl, signingKeysSecret, logger: { level: 'trace', stream: capture } }
  const [a, b] = await Promise.all([server(t, options), server(t, options)])
  const keys = await SharedKeySet.open(client, { secret: signingKeysSecret, retention: retentionFor(900) })
  await keys.rotate({ activateIn: 0 })
  const tokens = [await accessToken(a, 'alice', 'wonderland'), await accessToken(b, 'bob', 'builder')]
  for (const token of tokens) t.equal((await me(b, token)).statusCode, 200)

  const jwks = await keys.jwks()
  t.equal(jwks.keys.length, 2)
  const stored = await client.hgetall('fpr:signing-keys')
  t.same(Object.keys(stored).sort(), jwks.keys.map((key) => key.kid).sort(), 'one field per key, by kid')
  const privateParts = []
  for (const key of jwks.keys) {
    t.same(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'], 'the JWKS holds public keys only')
    t.match(stored[key.kid!], /^v1\.[\w-]{16}\.[\w-]+$/, 'sealed')
  }
  const { privateKey } = await keys.current()
  privateParts.push((privateKey.export({ format: 'jwk' }) as { d: string }).d, privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'))
  const everything = [JSON.stringify(stored), capture.lines.join(''), JSON.stringify(jwks), ...tokens].join('\n')
  for (const part of privateParts) t.notOk(everything.includes(part), 'the private key is nowhere in the clear')
  t.notOk(capture.lines.join('').includes(signingKeysSecret), 'nor is the secret')

  await t.rejects(SharedKeySet.open(client, { secret: 'another secret, of 32 characters!', retention: 1000 }),
    new Error('No signing key in Redis decrypts with signingKeysSecret: every instance needs the same secret'),
    'the sealed keys are of no use without the secret')
})

t.test('an instance with another secret, or none, does not start', async (t) => {
  await flush(t)
  await server(t, { redisUrl, signingKeysSecret })
  await t.rejects(buildServer({ redisUrl, signingKeysSecret: 'not the secret the others were given' }),
    new Error('No signing key in Redis decrypts with signingKeysSecret: every instance needs the same secret'))
  await t.rejects(buildServer({ redisUrl }),
    new TypeError('With redisUrl, JWTs need signingKeysSecret (the signing keys are shared through Redis, encrypted with it), or the same signingKey on every instance'))
  await t.rejects(buildServer({ redisUrl, signingKeysSecret: 'short' }),
    new TypeError('signingKeysSecret must be a string of at least 32 characters, the same on every instance (e.g. openssl rand -base64 32)'))
})

t.test('without Redis nothing changes: one key per process, no kid, and a token of one process fails on another', async (t) => {
  const [a, b] = await Promise.all([server(t), server(t)])
  const token = await accessToken(a, 'alice', 'wonderland')
  t.same(decodeProtectedHeader(token), { alg: 'ES256', typ: 'at+jwt' })
  t.equal((await me(a, token)).statusCode, 200)
  const refused = await me(b, token)
  t.equal(refused.statusCode, 401)
  t.same(refused.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token signature is invalid'))
})

t.test('while Redis is down, POST /token answers 503; when Redis is back (empty), logins work again', async (t) => {
  await flush(t)
  const capture = logCapture()
  const app = await server(t, { redisUrl, signingKeysSecret, logger: { level: 'warn', stream: capture } })
  await redis.stop()
  let restarted = false
  t.teardown(async () => { if (!restarted) await redis.start() })
  const res = await postForm(app, [['grant_type', 'password'], ['username', 'alice'], ['password', 'wonderland']])
  t.equal(res.statusCode, 503)
  t.same(res.json(), errorBody(503, 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE', 'Authentication is temporarily unavailable'))

  await redis.start()
  restarted = true
  // The app's client reconnects by itself; the emptied Redis gets a new first key.
  const deadline = Date.now() + 5000
  let login = await postForm(app, [['grant_type', 'password'], ['username', 'alice'], ['password', 'wonderland']])
  while (login.statusCode !== 200 && Date.now() < deadline) {
    await sleep(50)
    login = await postForm(app, [['grant_type', 'password'], ['username', 'alice'], ['password', 'wonderland']])
  }
  t.equal(login.statusCode, 200)
  t.equal((await me(app, (login.json() as { access_token: string }).access_token)).statusCode, 200)
})
