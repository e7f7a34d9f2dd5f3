import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Validator } from '@seriousme/openapi-schema-validator'
import protectedRoutes from '../../lib/index.js'
import { errorBody, fresh, spyVerify, type VerifySpy } from '../helpers/app.js'

// @fastify/swagger and @fastify/swagger-ui under protectByDefault, in the README's order: the
// plugin at the root, first, with publicRoutes: ['/documentation'] for swagger-ui's routes.

const missing = errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required')

async function build (t: Test): Promise<{ app: FastifyInstance, verify: VerifySpy }> {
  const app = fresh(t)
  const verify = spyVerify({ good: { id: 1 } })
  await app.register(protectedRoutes, {
    protectByDefault: true,
    publicRoutes: ['/documentation'],
    schemes: { bearerAuth: { type: 'bearer', verify } }
  })
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 'API', version: '1.0.0' } } })
  await app.register(swaggerUi, { routePrefix: '/documentation' })
  app.get('/items', async () => [{ id: 1 }])
  app.get('/documentationx', async () => 'not the docs')
  app.get('/health', { config: { auth: false } }, async () => ({ ok: true }))
  await app.ready()
  return { app, verify }
}

t.test('the UI, its assets and its JSON and YAML are public', async (t) => {
  const { app, verify } = await build(t)
  const page = await app.inject('/documentation')
  t.equal(page.statusCode, 200)
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8')
  t.match(page.body, /swagger-initializer\.js/)
  const redirect = await app.inject('/documentation/static/index.html')
  t.equal(redirect.statusCode, 302)
  t.equal(redirect.headers.location, '/documentation/')
  const asset = await app.inject('/documentation/static/swagger-ui.css')
  t.equal(asset.statusCode, 200, 'an asset, served by the wildcard route')
  t.equal(asset.headers['content-type'], 'text/css; charset=utf-8')
  const json = await app.inject('/documentation/json')
  t.equal(json.statusCode, 200)
  const yaml = await app.inject('/documentation/yaml')
  t.equal(yaml.statusCode, 200)
  t.equal(yaml.headers['content-type'], 'application/x-yaml')
  for (const res of [page, redirect, asset, json, yaml]) t.equal(res.headers['www-authenticate'], undefined)
  t.same(verify.calls, [], 'no verifier ran for the docs')

  const validator = new Validator()
  t.same(await validator.validate(json.json()), { valid: true })
  const fromYaml = new Validator()
  t.same(await fromYaml.validate(yaml.body), { valid: true })
  t.same(fromYaml.specification, json.json(), 'the YAML says what the JSON says')
  t.same(json.json().paths['/items'].get.security, [{ bearerAuth: [] }])
  t.same(json.json().paths['/health'].get.security, [])
  t.same(json.json().components.securitySchemes, { bearerAuth: { type: 'http', scheme: 'bearer' } })
})

t.test('the API and a path that merely starts like the docs stay protected', async (t) => {
  const { app, verify } = await build(t)
  for (const url of ['/items', '/documentationx']) {
    const res = await app.inject(url)
    t.equal(res.statusCode, 401, url)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="api"', url)
    t.same(res.json(), missing, url)
  }
  const ok = await app.inject({ url: '/items', headers: { authorization: 'Bearer good' } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), [{ id: 1 }])
  t.same(verify.calls, ['good'])
})
