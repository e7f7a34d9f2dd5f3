// RFC 8707, RFC 9728 §2: with protectedResource, the resource is the audience a jwt or
// introspection scheme expects when it names none, so a token for another resource is refused.
import { test } from 'tap'
import { answering, introspectionApp, introspectionServer, NOW } from './helpers/introspection.js'
import { ISSUER, secret } from './helpers/jwt.js'
import { BEARER, RESOURCE, resourceApp } from './helpers/protected-resource.js'

const handler = async (request: { auth: unknown }): Promise<unknown> => request.auth

test('jwt: the resource by default, for one issuer and for several', async (t) => {
  const hs = secret()
  for (const jwt of [{}, { issuer: undefined, secret: undefined, issuers: [{ issuer: ISSUER, secret: hs }] }]) {
    const { app, get, token } = await resourceApp(t, { jwt, secret: hs })
    app.get('/me', { config: { auth: true } }, handler)
    t.equal((await get('/me', await token())).statusCode, 200, 'aud is the resource')
    t.equal((await get('/me', await token({ aud: ['https://other.example/', RESOURCE] }))).statusCode, 200, 'aud lists the resource')
    const other = await get('/me', await token({ aud: 'https://other.example/' }))
    t.equal(other.statusCode, 401, 'a token for another resource')
    t.equal(other.headers['www-authenticate'], `${BEARER}, error="invalid_token", error_description="The access token audience is not accepted"`)
  }
})

test('jwt: an audience the scheme names wins', async (t) => {
  const { app, get, token } = await resourceApp(t, { jwt: { audience: 'https://legacy.example/' } })
  app.get('/me', { config: { auth: true } }, handler)
  t.equal((await get('/me', await token({ aud: 'https://legacy.example/' }))).statusCode, 200)
  t.equal((await get('/me', await token())).statusCode, 401, 'the resource alone is not the scheme\'s audience')
})

test('introspection: the resource by default; an audience the scheme names wins', async (t) => {
  const active = { iss: ISSUER, exp: NOW + 600, scope: 'read', client_id: 'c' }
  const server = await introspectionServer(t, answering({
    mine: { ...active, aud: RESOURCE },
    other: { ...active, aud: 'https://other.example/' },
    none: active
  }))
  const plugin = { protectedResource: { resource: RESOURCE, authorizationServers: [ISSUER] } }
  const byDefault = await introspectionApp(t, { url: server.url }, { plugin })
  t.equal((await byDefault.get('mine')).statusCode, 200)
  for (const token of ['other', 'none']) {
    const res = await byDefault.get(token)
    t.equal(res.statusCode, 401, token)
    t.equal(res.headers['www-authenticate'], `${BEARER}, error="invalid_token", error_description="The access token audience is not accepted"`)
  }
  const named = await introspectionApp(t, { url: server.url, audience: 'https://other.example/' }, { plugin })
  t.equal((await named.get('other')).statusCode, 200)
  t.equal((await named.get('mine')).statusCode, 401)
})
