import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { signAccessToken } from '../../lib/index.js'
import { packageNameToSources } from '../helpers/package-name.js'
import { ensureBuilt, root, tsc } from './helpers.js'

// A migration from @fastify/jwt: both plugins in one app, each verifying its own tokens on its
// own routes. The app (fixtures/jwt-app) declares userProperty: 'identity' and is loaded by a
// computed URL, so its declarations stay out of this project's type check; it has its own.
const fixture = join(root, 'test', 'ecosystem', 'fixtures', 'jwt-app')
interface JwtApp {
  build: (secrets: { legacy: string, current: Uint8Array }) => Promise<FastifyInstance>
  ISSUER: string
  AUDIENCE: string
}

await ensureBuilt()
// The fixture is type-checked against dist (below), and runs on the sources.
packageNameToSources()
const { build, ISSUER, AUDIENCE } = await import(pathToFileURL(join(fixture, 'app.ts')).href) as JwtApp
const secrets = { legacy: randomBytes(32).toString('hex'), current: randomBytes(32) }

async function app (t: Test): Promise<FastifyInstance> {
  const built = await build(secrets)
  t.teardown(() => built.close())
  return built
}

t.test('registered together, @fastify/jwt and this plugin both boot', async (t) => {
  const built = await app(t)
  t.equal(built.hasRequestDecorator('user'), true, "@fastify/jwt's request.user")
  t.equal(built.hasRequestDecorator('identity'), true, "this plugin's request.identity")
})

t.test('each plugin verifies its own tokens on its own routes, and each user lands where it should', async (t) => {
  const built = await app(t)
  const legacyToken = built.jwt.sign({ sub: 'old-alice', legacy: true })
  const currentToken = await signAccessToken({ key: secrets.current, algorithm: 'HS256', issuer: ISSUER, audience: AUDIENCE, subject: 'alice', scope: 'me:read' })

  const legacy = await built.inject({ url: '/legacy/me', headers: { authorization: `Bearer ${legacyToken}` } })
  t.equal(legacy.statusCode, 200)
  t.same(legacy.json(), { sub: 'old-alice', legacy: true, identity: null })

  const current = await built.inject({ url: '/me', headers: { authorization: `Bearer ${currentToken}` } })
  t.equal(current.statusCode, 200)
  t.same(current.json(), { sub: 'alice', scopes: ['me:read'], identity: { sub: 'alice', scopes: ['me:read'] }, user: null })
})

t.test("neither accepts the other's token", async (t) => {
  const built = await app(t)
  const legacyToken = built.jwt.sign({ sub: 'old-alice', legacy: true })
  const currentToken = await signAccessToken({ key: secrets.current, algorithm: 'HS256', issuer: ISSUER, audience: AUDIENCE, subject: 'alice', scope: 'me:read' })

  const onNew = await built.inject({ url: '/me', headers: { authorization: `Bearer ${legacyToken}` } })
  t.equal(onNew.statusCode, 401)
  t.equal(onNew.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The access token signature is invalid"')
  const onOld = await built.inject({ url: '/legacy/me', headers: { authorization: `Bearer ${currentToken}` } })
  t.equal(onOld.statusCode, 401)
  t.equal(onOld.json().code, 'FST_JWT_AUTHORIZATION_TOKEN_INVALID')
  t.equal((await built.inject('/me')).statusCode, 401)
})

t.test('the app type-checks, strict and without skipLibCheck', async (t) => {
  const { code, output } = await tsc(join(fixture, 'tsconfig.json'))
  t.equal(output, '')
  t.equal(code, 0)
})
