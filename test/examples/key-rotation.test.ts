import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { decodeProtectedHeader } from 'jose'
import { retentionFor, SharedKeySet } from '../../examples/key-set.js'
import { redisClient, redisServer } from '../helpers/redis.js'
import { runScript, startScript } from './fixtures/scripts.js'

const redis = await redisServer(t)
const redisUrl = `redis://127.0.0.1:${redis.port}`
const SIGNING_KEYS_SECRET = 'rotation-walkthrough-secret-0123456789'

async function login (base: string): Promise<string> {
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password&username=alice&password=wonderland'
  })
  return (await res.json() as { access_token: string }).access_token
}

const me = async (base: string, token: string) => (await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${token}` } })).status

t.test('the README walkthrough, JWTs: two start scripts share the signing keys, and a rotation reaches both unrestarted', async (t) => {
  const env = { REDIS_URL: redisUrl, SIGNING_KEYS_SECRET }
  const [a, b] = await Promise.all([startScript(t, env), startScript(t, env)])
  const before = await login(a.base)
  t.equal(await me(b.base, before), 200, 'a JWT from :A works on :B')
  t.equal(await me(a.base, await login(b.base)), 200, 'and one from :B on :A')

  const rotated = await runScript(t, 'examples/rotate-key.ts', { ...env, ACTIVATE_IN: '0' })
  t.equal(rotated.code, 0)
  t.equal(rotated.stderr, '')
  const [, kid] = /^New signing key ([\w-]{43}): in the JWKS now, signing from \S+Z\nRetired keys removed: none\n$/.exec(rotated.stdout) ?? []
  t.ok(kid, rotated.stdout)
  // ACTIVATE_IN=0 skips the publish-ahead: wait out the verifiers' JWKS cooldown (1 s) instead.
  await sleep(1100)
  const after = await login(a.base)
  t.equal(decodeProtectedHeader(after).kid, kid, ':A signs with the new key')
  t.equal(await me(b.base, after), 200, ':B accepts it')
  t.equal(await me(b.base, before), 200, 'and still the token of the old key')

  for (const instance of [a, b]) {
    const { code, stderr, stdout } = await instance.stop()
    t.equal(code, 0)
    t.equal(stderr, '')
    t.notOk(stdout.includes(SIGNING_KEYS_SECRET), 'the secret is never printed')
    t.notOk(stdout.includes(before) || stdout.includes(after), 'nor a token')
  }
  const client = await redisClient(t, redis)
  t.equal(Object.keys(await client.hgetall('fpr:signing-keys')).length, 2)
})

t.test('the rotation script says why it did nothing, and exits 1', async (t) => {
  const missing = await runScript(t, 'examples/rotate-key.ts', { SIGNING_KEYS_SECRET })
  t.same(missing, { code: 1, stdout: '', stderr: 'Key rotation failed: REDIS_URL must name the Redis the instances share\n' })
  const closed = `redis://127.0.0.1:${redis.port === 65535 ? 65534 : redis.port + 1}`
  const unreachable = await runScript(t, 'examples/rotate-key.ts', { REDIS_URL: closed, SIGNING_KEYS_SECRET })
  t.same(unreachable, { code: 1, stdout: '', stderr: 'Key rotation failed: Redis at REDIS_URL is not reachable\n' })
  // The walkthrough above left its keys in this Redis, sealed with its secret.
  const wrong = await runScript(t, 'examples/rotate-key.ts', { REDIS_URL: redisUrl, SIGNING_KEYS_SECRET: 'another secret, 32 characters long' })
  t.same(wrong, { code: 1, stdout: '', stderr: 'Key rotation failed: No signing key in Redis decrypts with signingKeysSecret: every instance needs the same secret\n' })
})

t.test('the rotation script removes the keys replaced longer ago than the retention', async (t) => {
  const client = await redisClient(t, redis)
  await client.flushall()
  // Two keys made two hours ago: the first was replaced then, and its tokens have long expired.
  const past = await SharedKeySet.open(client, { secret: SIGNING_KEYS_SECRET, retention: retentionFor(900), now: () => Date.now() - 7_200_000 })
  const retired = (await past.current()).kid
  const replacing = await past.rotate({ activateIn: 0 })
  const rotated = await runScript(t, 'examples/rotate-key.ts', { REDIS_URL: redisUrl, SIGNING_KEYS_SECRET })
  t.equal(rotated.code, 0)
  t.match(rotated.stdout, `\nRetired keys removed: ${retired}\n`)
  const [, kid] = /^New signing key ([\w-]{43})/.exec(rotated.stdout) ?? []
  t.same(Object.keys(await client.hgetall('fpr:signing-keys')).sort(), [replacing.kid, kid].sort())
})
