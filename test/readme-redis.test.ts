// The README's Redis block (test/fixtures/readme-redis.ts, the same code) runs as written: booted
// on a real redis-server, its first requests answered while the client still connects.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { signAccessToken } from '../lib/index.js'
import { errorBody } from './helpers/app.js'
import { packageNameToSources } from './helpers/package-name.js'
import { redisServer } from './helpers/redis.js'

// The block imports 'fastify-protected-routes', as an app does: here that name is the sources.
packageNameToSources()
const { build } = await import('./fixtures/readme-redis.js')

const server = await redisServer(t)
const JWT_SECRET = 'a-secret-of-at-least-thirty-two-characters'
const challenge = (error?: string, description?: string): string =>
  error === undefined ? 'Bearer realm="api"' : `Bearer realm="api", error="${error}", error_description="${description}"`

t.test('the README Redis block: opaque tokens and JWTs in Redis, each route on its scheme', async (t) => {
  const { app, store } = await build(`redis://127.0.0.1:${server.port}`, JWT_SECRET)
  t.teardown(() => app.close())
  // Right after the boot, as a login would: the client has not connected yet.
  const { token } = await store.issue({ subject: 'alice', scopes: ['items:read'], expiresIn: 900 })
  const get = (url: string, bearer?: string) => app.inject({ url, headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } })
  const post = (url: string, bearer: string) => app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${bearer}` } })

  const items = await get('/items', token)
  t.equal(items.statusCode, 200)
  t.same(items.json(), [{ id: 1 }])
  const anonymous = await get('/items')
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.headers['www-authenticate'], challenge(), 'one challenge: /items takes session only')
  t.same(anonymous.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))

  const jwt = await signAccessToken({ key: JWT_SECRET, algorithm: 'HS256', issuer: 'https://issuer.example/', audience: 'https://api.example/', subject: 'alice' })
  const reports = await get('/reports', jwt)
  t.equal(reports.statusCode, 200)
  t.same(reports.json(), [{ id: 2 }])
  t.equal((await get('/reports', token)).headers['www-authenticate'], challenge('invalid_token', 'The access token is malformed'), 'an opaque token is no JWT')
  t.equal((await get('/items', jwt)).headers['www-authenticate'], challenge('invalid_token', 'The access token is invalid'), 'nor a JWT an opaque token')

  t.equal((await post('/reports/logout', jwt)).statusCode, 204)
  const revokedJwt = await get('/reports', jwt)
  t.equal(revokedJwt.statusCode, 401)
  t.equal(revokedJwt.headers['www-authenticate'], challenge('invalid_token', 'The access token has been revoked'))

  t.equal((await post('/logout', token)).statusCode, 204)
  const loggedOut = await get('/items', token)
  t.equal(loggedOut.statusCode, 401)
  t.equal(loggedOut.headers['www-authenticate'], challenge('invalid_token', 'The access token is invalid'))

  const [one, two] = await Promise.all([1, 2].map(() => store.issue({ subject: 'bob', scopes: ['items:read'], expiresIn: 900 })))
  const bobsJwt = await signAccessToken({ key: JWT_SECRET, algorithm: 'HS256', issuer: 'https://issuer.example/', audience: 'https://api.example/', subject: 'bob' })
  t.equal((await post('/logout/all', one!.token)).statusCode, 204)
  t.equal((await get('/items', two!.token)).statusCode, 401, 'every opaque token of bob')
  t.equal((await get('/reports', bobsJwt)).statusCode, 401, 'and his JWTs issued until then')
})

t.test('the README shows exactly this block', async (t) => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  const block = /<!-- redis-store -->\s*```ts\n([\s\S]*?)```/.exec(readme)
  t.ok(block, 'README.md has the block after <!-- redis-store -->')
  t.equal(block?.[1], await readFile(new URL('./fixtures/readme-redis.ts', import.meta.url), 'utf8'))
})
