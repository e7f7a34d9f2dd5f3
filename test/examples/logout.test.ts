import t, { type Test } from 'tap'
import { setImmediate } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { buildServer, type ServerOptions } from '../../examples/server.js'
import { readStoreConfig, storeBanner } from '../../examples/store.js'
import { redisServer } from '../helpers/redis.js'
import { accessToken, errorBody, p256, postForm, server } from './fixtures/helpers.js'
import { startScript } from './fixtures/scripts.js'

const redis = await redisServer(t)
const redisUrl = `redis://127.0.0.1:${redis.port}`

// The bearer scheme also takes DPoP-bound tokens: a 401 offers DPoP on a line of its own (RFC 9449 §7.1).
const dpop = 'DPoP algs="ES256 PS256 EdDSA RS256"'
const revoked = ['Bearer realm="example", error="invalid_token", error_description="The access token has been revoked"', dpop]
const invalid = ['Bearer realm="example", error="invalid_token", error_description="The access token is invalid"', dpop]

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const me = (app: FastifyInstance, token: string) => app.inject({ url: '/users/me', headers: bearer(token) })
const logout = (app: FastifyInstance, token: string, query = '') => app.inject({ method: 'POST', url: `/logout${query}`, headers: bearer(token) })

/** POST /logout answers 204 with no body. */
async function loggedOut (t: Test, app: FastifyInstance, token: string, query = ''): Promise<void> {
  const res = await logout(app, token, query)
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
}

/** Polls until `app` refuses the token; returns the ms it took. */
async function timeToRefusal (app: FastifyInstance, token: string): Promise<number> {
  const start = process.hrtime.bigint()
  while ((await me(app, token)).statusCode === 200) {
    if (process.hrtime.bigint() - start > 1_000_000_000n) throw new Error('still accepted after 1 s')
    await setImmediate() // let the pub/sub socket be read between two requests
  }
  return Number(process.hrtime.bigint() - start) / 1e6
}

t.test('JWTs, memory store: POST /logout revokes the presented token, and only it', async (t) => {
  const app = await server(t)
  const first = await accessToken(app, 'alice', 'wonderland')
  const second = await accessToken(app, 'alice', 'wonderland')
  t.equal((await me(app, first)).statusCode, 200)
  await loggedOut(t, app, first)
  const refused = await me(app, first)
  t.equal(refused.statusCode, 401)
  t.same(refused.headers['www-authenticate'], revoked)
  t.same(refused.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', 'The access token has been revoked'))
  t.equal((await logout(app, first)).statusCode, 401, 'a revoked token cannot log out again')
  t.equal((await me(app, second)).statusCode, 200, 'the user\'s other token still works')
})

t.test('JWTs, memory store: POST /logout?all=true revokes every token of the user, and no one else\'s', async (t) => {
  const app = await server(t)
  const alice = await Promise.all([1, 2].map(() => accessToken(app, 'alice', 'wonderland')))
  const bob = await accessToken(app, 'bob', 'builder')
  await loggedOut(t, app, alice[0]!, '?all=true')
  for (const token of alice) t.same((await me(app, token)).headers['www-authenticate'], revoked)
  t.equal((await me(app, bob)).statusCode, 200)
  await loggedOut(t, app, bob, '?all=false')
  t.same((await me(app, bob)).headers['www-authenticate'], revoked, 'all=false: this token only')
})

t.test('POST /logout needs a valid token, and all is true or false', async (t) => {
  const app = await server(t)
  const anonymous = await app.inject({ method: 'POST', url: '/logout' })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.headers['www-authenticate'], ['Bearer realm="example"', dpop])
  t.same(anonymous.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))
  const token = await accessToken(app, 'alice', 'wonderland')
  const bad = await logout(app, token, '?all=yes')
  t.equal(bad.statusCode, 400)
  t.same(bad.json(), { statusCode: 400, code: 'FST_ERR_VALIDATION', error: 'Bad Request', message: 'querystring/all must be equal to one of the allowed values' })
  t.equal((await me(app, token)).statusCode, 200, 'nothing was revoked')
})

t.test('TOKEN_FORMAT=opaque: /token issues opaque tokens that the store looks up, and /logout revokes them', async (t) => {
  const app = await server(t, { tokenFormat: 'opaque', tokenLifetime: 60 })
  const res = await postForm(app, [['grant_type', 'password'], ['username', 'bob'], ['password', 'builder']])
  t.equal(res.statusCode, 200)
  const { access_token: token, ...rest } = res.json() as Record<string, unknown>
  t.match(token, /^[A-Za-z0-9_-]{43}$/)
  t.same(rest, { token_type: 'Bearer', expires_in: 60, scope: 'me:read items:read' })

  const profile = await me(app, token as string)
  t.equal(profile.statusCode, 200)
  t.same(profile.json(), { username: 'bob', full_name: 'Bob Builder', email: 'bob@example.com', scopes: ['me:read', 'items:read'] })
  const write = await app.inject({ method: 'POST', url: '/items', headers: bearer(token as string), payload: { name: 'x' } })
  t.equal(write.statusCode, 403, 'the granted scope is enforced')

  const other = await accessToken(app, 'bob', 'builder')
  await loggedOut(t, app, token as string)
  t.same((await me(app, token as string)).headers['www-authenticate'], invalid)
  t.equal((await me(app, other)).statusCode, 200)
  const third = await accessToken(app, 'bob', 'builder')
  await loggedOut(t, app, other, '?all=true')
  for (const gone of [other, third]) t.same((await me(app, gone)).headers['www-authenticate'], invalid)
})

t.test('REDIS_URL, JWTs: two instances with one signing key; a logout on A is refused on B within 100 ms', async (t) => {
  const options: ServerOptions = { redisUrl, signingKey: p256() }
  const [a, b] = [await server(t, options), await server(t, options)]
  const token = await accessToken(a, 'alice', 'wonderland')
  const other = await accessToken(b, 'alice', 'wonderland')
  t.equal((await me(b, token)).statusCode, 200)
  await loggedOut(t, a, token)
  const ms = await timeToRefusal(b, token)
  t.comment(`example, JWT logout on A -> refused on B: ${ms.toFixed(2)} ms`)
  t.ok(ms < 100)
  t.same((await me(b, token)).headers['www-authenticate'], revoked)
  t.equal((await me(a, other)).statusCode, 200)
  await loggedOut(t, b, other, '?all=true')
  t.ok(await timeToRefusal(a, other) < 100)
  t.same((await me(a, other)).headers['www-authenticate'], revoked)
})

t.test('REDIS_URL, opaque tokens: a token from A works on B; logout?all=true on B is refused on A', async (t) => {
  const options: ServerOptions = { redisUrl, tokenFormat: 'opaque' }
  const [a, b] = [await server(t, options), await server(t, options)]
  const token = await accessToken(a, 'alice', 'wonderland')
  t.same((await me(b, token)).json(), { username: 'alice', full_name: 'Alice Liddell', email: 'alice@example.com', scopes: ['me:read', 'items:read', 'items:write'] })
  await loggedOut(t, b, token, '?all=true')
  const ms = await timeToRefusal(a, token)
  t.comment(`example, opaque logout on B -> refused on A: ${ms.toFixed(2)} ms`)
  t.ok(ms < 100)
})

t.test('a REDIS_URL that does not answer stops the boot', async (t) => {
  const closed = `redis://127.0.0.1:${redis.port === 65535 ? 65534 : redis.port + 1}`
  await t.rejects(buildServer({ redisUrl: closed }), new Error('Redis at REDIS_URL is not reachable'))
  await t.rejects(buildServer({ tokenFormat: 'paseto' as never }), new TypeError("tokenFormat must be 'jwt' or 'opaque'"))
})

t.test('the start script reads REDIS_URL and TOKEN_FORMAT, and never prints the URL', async (t) => {
  t.same(readStoreConfig({}), { redisUrl: undefined, tokenFormat: 'jwt' })
  t.same(readStoreConfig({ REDIS_URL: '', TOKEN_FORMAT: '' }), { redisUrl: undefined, tokenFormat: 'jwt' })
  t.same(readStoreConfig({ REDIS_URL: 'redis://:secret@cache:6379', TOKEN_FORMAT: 'opaque' }), { redisUrl: 'redis://:secret@cache:6379', tokenFormat: 'opaque' })
  t.throws(() => readStoreConfig({ TOKEN_FORMAT: 'JWT' }), new RangeError("TOKEN_FORMAT must be 'jwt' or 'opaque'"))
  t.equal(storeBanner(readStoreConfig({})), 'Access tokens: JWT; token store: memory (this process only)\n')
  t.equal(storeBanner(readStoreConfig({ REDIS_URL: 'redis://:secret@cache:6379', TOKEN_FORMAT: 'opaque' })), 'Access tokens: opaque; token store: Redis (REDIS_URL)\n')
})

t.test('the README walkthrough: two start scripts on two ports share one Redis', async (t) => {
  const env = { REDIS_URL: redisUrl, TOKEN_FORMAT: 'opaque' }
  const [a, b] = await Promise.all([startScript(t, env), startScript(t, env)])
  t.not(a.base, b.base)

  const login = await fetch(`${a.base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password&username=alice&password=wonderland'
  })
  const { access_token: token } = await login.json() as { access_token: string }
  const headers = { authorization: `Bearer ${token}` }
  t.equal((await fetch(`${b.base}/users/me`, { headers })).status, 200, 'a token from :A works on :B')
  t.equal((await fetch(`${b.base}/logout`, { method: 'POST', headers })).status, 204, 'logout on :B')
  const start = Date.now()
  let refused = await fetch(`${a.base}/users/me`, { headers })
  while (refused.status === 200 && Date.now() - start < 1000) refused = await fetch(`${a.base}/users/me`, { headers })
  t.equal(refused.status, 401, 'and :A refuses it')
  // fetch joins the two lines with a comma.
  t.equal(refused.headers.get('www-authenticate'), invalid.join(', '))
  t.ok(Date.now() - start < 100)

  for (const instance of [a, b]) {
    const { code, stdout, stderr } = await instance.stop()
    t.equal(code, 0, 'closes its Redis connections and exits by itself')
    t.equal(stderr, '')
    t.match(stdout, 'Access tokens: opaque; token store: Redis (REDIS_URL)\n')
    t.notOk(stdout.includes(redisUrl), 'the Redis URL is never printed')
    t.notOk(stdout.includes(token), 'nor the token')
  }
})
