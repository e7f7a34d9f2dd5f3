import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { buildServer } from '../../examples/server.js'
import { createUserDirectory } from '../../examples/users.js'
import { accessToken, logCapture, p256, postForm, server } from './fixtures/helpers.js'

t.test('buildServer refuses a token lifetime that is not a positive whole number of seconds', async (t) => {
  for (const tokenLifetime of [0, -1, 1.5, Number.NaN]) {
    await t.rejects(buildServer({ tokenLifetime }), new TypeError('tokenLifetime must be a positive integer (seconds)'), String(tokenLifetime))
  }
})

t.test('buildServer refuses a signing key that cannot sign ES256', async (t) => {
  const ed25519 = generateKeyPairSync('ed25519')
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
  const p256pair = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  for (const [what, signingKey] of [['Ed25519', ed25519.privateKey], ['P-384', p384.privateKey], ['a public key', p256pair.publicKey]] as const) {
    await t.rejects(buildServer({ signingKey }), new TypeError('signingKey must be a P-256 private key (ES256)'), what)
  }
})

t.test('buildServer refuses a signing key and a signing-keys secret together, and a short secret', async (t) => {
  await t.rejects(buildServer({ signingKey: p256(), signingKeysSecret: 'x'.repeat(32) }),
    new TypeError('signingKey and signingKeysSecret exclude each other: one key given to every instance, or the keys shared through Redis'))
  await t.rejects(buildServer({ signingKeysSecret: 'x'.repeat(31) }),
    new TypeError('signingKeysSecret must be a string of at least 32 characters, the same on every instance (e.g. openssl rand -base64 32)'), 'checked even where it is not used')
  const app = await server(t, { signingKeysSecret: 'x'.repeat(32) })
  t.equal((await postForm(app, [['grant_type', 'password'], ['username', 'alice'], ['password', 'wonderland']])).statusCode, 200, 'without Redis it is not needed')
})

t.test('buildServer refuses a publicOrigin that is not an http(s) origin spelled as URL parsing spells it', async (t) => {
  const refusal = new TypeError("publicOrigin must be an http(s) origin such as 'https://api.example' (lower case, no path, no trailing slash)")
  for (const publicOrigin of ['', 'api.example', 'https://api.example/', 'https://api.example/v1', 'https://API.example', 'https://api.example:443', 'ftp://api.example', 'https://user@api.example', 'https://api.example?x']) {
    await t.rejects(buildServer({ publicOrigin }), refusal, publicOrigin)
  }
  for (const publicOrigin of ['https://api.example', 'http://localhost:3000', 'https://[::1]:8443']) {
    const app = await server(t, { publicOrigin })
    t.ok(app.hasRoute({ method: 'POST', url: '/token' }), publicOrigin)
  }
})

t.test('buildServer refuses an X-Token no request could send (the plugin stops the boot)', async (t) => {
  await t.rejects(buildServer({ secretToken: '' }), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION' })
  await t.rejects(buildServer({ secretToken: 'has space' }), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION' })
})

t.test('a user directory of its own replaces the demo users', async (t) => {
  const users = await createUserDirectory([
    { username: 'dave', password: 'correct horse', full_name: 'Dave', email: 'dave@example.com', scopes: ['me:read'], disabled: false }
  ])
  const app = await server(t, { users })
  const token = await accessToken(app, 'dave', 'correct horse')
  const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
  t.same(me.json(), { username: 'dave', full_name: 'Dave', email: 'dave@example.com', scopes: ['me:read'] })
  const alice = await postForm(app, [['grant_type', 'password'], ['username', 'alice'], ['password', 'wonderland']])
  t.same(alice.json(), { error: 'invalid_grant', error_description: 'The username or password is incorrect' })
})

t.test('logger: true logs at info', async (t) => {
  const app = await server(t, { logger: true })
  t.equal(app.log.level, 'info')
})

t.test('logger: false and no logger are silent', async (t) => {
  for (const logger of [false, undefined]) {
    const app = await server(t, { logger })
    t.equal(app.log.level, undefined, 'Fastify\'s no-op logger has no level')
  }
})

t.test('no credential, password or token reaches a log line', async (t) => {
  const capture = logCapture()
  const app = await server(t, { logger: { level: 'trace', stream: capture }, signingKey: p256() })
  const token = await accessToken(app, 'alice', 'wonderland')
  await postForm(app, [['grant_type', 'password'], ['username', 'bob'], ['password', 'wrong-builder']])
  await postForm(app, [['grant_type', 'password'], ['username', 'mallory'], ['password', 'not-bobs-password']])
  // A client that puts the password in the URL: the query string is not logged.
  await app.inject({ method: 'POST', url: '/token?password=query-password', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=password' })
  await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}`, cookie: 'session=cookie-secret' } })
  await app.inject({ url: '/users/me', headers: { authorization: 'Bearer wrong-bearer-token' } })
  await app.inject({ url: '/users/me?access_token=query-token' })
  await app.inject({ url: '/protected', headers: { 'x-token': 'mysecrettoken' } })
  await app.inject({ url: '/protected', headers: { 'x-token': 'wrong-x-token', 'proxy-authorization': 'Basic cHJveHk6c2VjcmV0' } })

  const log = capture.lines.join('')
  for (const secret of ['wonderland', 'wrong-builder', 'not-bobs-password', 'query-password', token, 'cookie-secret', 'wrong-bearer-token', 'query-token', 'mysecrettoken', 'wrong-x-token', 'cHJveHk6c2VjcmV0']) {
    t.notOk(log.includes(secret), `${secret.slice(0, 20)} is not logged`)
  }

  const requests = capture.lines.map((line) => JSON.parse(line) as { msg: string, req?: Record<string, unknown> })
    .filter((entry) => entry.msg === 'incoming request')
  t.equal(requests.length, 9)
  t.same(requests.map((entry) => entry.req?.url), ['/token', '/token', '/token', '/token', '/users/me', '/users/me', '/users/me', '/protected', '/protected'])
  // No header is logged, so none needs redacting (test/regressions/request-log-headers.test.ts).
  t.same(requests[4]?.req, { method: 'GET', url: '/users/me', host: 'localhost:80', remoteAddress: '127.0.0.1' })
  t.ok(capture.lines.some((line) => line.includes('"msg":"access token issued"') && line.includes('"username":"alice"')), 'issuing is logged, by user name')
  t.ok(capture.lines.some((line) => line.includes('"error":"invalid_grant"') && line.includes('"msg":"token request refused"')), 'a refusal is logged, by error code')
})
