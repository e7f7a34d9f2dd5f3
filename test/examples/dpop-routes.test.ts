import t from 'tap'
import * as oauth from 'oauth4webapi'
import { boundToken, dpopKey, dpopRequest, listening, passwordGrant, resourceProof } from './fixtures/dpop.js'
import { errorBody } from './fixtures/helpers.js'
import { redisServer } from '../helpers/redis.js'

// The example's routes with the DPoP-bound tokens of its POST /token (RFC 9449 §7): oauth4webapi
// gets the token and makes the proofs; exact challenges are read through app.inject, where each
// WWW-Authenticate line stays a line.

const redis = await redisServer(t)
const redisUrl = `redis://127.0.0.1:${redis.port}`

const alice = { username: 'alice', full_name: 'Alice Liddell', email: 'alice@example.com', scopes: ['me:read', 'items:read', 'items:write'] }
const bearer = 'Bearer realm="example"'
const dpop = 'DPoP algs="ES256 PS256 EdDSA RS256"'
const refused = (description: string): Record<string, unknown> => errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN', description)

for (const tokenFormat of ['jwt', 'opaque'] as const) {
  t.test(`${tokenFormat}: a DPoP-bound token with a proof of its key opens the bearer routes`, async (t) => {
    const { base, as } = await listening(t, { tokenFormat })
    const { token, handle } = await boundToken(as)
    const me = await dpopRequest(handle, token, 'GET', `${base}/users/me`)
    t.equal(me.status, 200)
    t.same(await me.json(), alice)
    const created = await dpopRequest(handle, token, 'POST', `${base}/items`, JSON.stringify({ name: 'Pocket watch' }))
    t.equal(created.status, 201)
    t.same(await created.json(), { id: 3, name: 'Pocket watch', owner: 'alice' })
    const items = await dpopRequest(handle, token, 'GET', `${base}/items`)
    t.equal(items.status, 200)
    t.equal((await items.json() as unknown[]).length, 3)
  })

  t.test(`${tokenFormat}: the same token as a Bearer token is 401 invalid_token`, async (t) => {
    const { app, as } = await listening(t, { tokenFormat })
    const { token } = await boundToken(as)
    const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], [`${bearer}, error="invalid_token", error_description="The access token is bound to a key and cannot be used as a bearer token"`, dpop])
    t.same(res.json(), refused('The access token is bound to a key and cannot be used as a bearer token'))
  })

  t.test(`${tokenFormat}: a proof made with another key is 401 invalid_token under DPoP`, async (t) => {
    const { app, base, as } = await listening(t, { tokenFormat })
    const { token } = await boundToken(as)
    const other = await dpopKey()
    const proof = await resourceProof(other.handle, 'GET', `${base}/users/me`, token)
    const res = await app.inject({ url: '/users/me', headers: { host: new URL(base).host, authorization: `DPoP ${token}`, dpop: proof } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], [bearer, `${dpop}, error="invalid_token", error_description="The access token is bound to another key than the DPoP proof"`])
    t.same(res.json(), refused('The access token is bound to another key than the DPoP proof'))
  })

  t.test(`${tokenFormat}: POST /logout with a DPoP-bound token revokes it`, async (t) => {
    const { app, base, as } = await listening(t, { tokenFormat })
    const { token, handle } = await boundToken(as)
    const other = await boundToken(as)
    const out = await dpopRequest(handle, token, 'POST', `${base}/logout`)
    t.equal(out.status, 204)
    // An opaque token is gone from the store; a JWT's jti is on the denylist.
    const description = tokenFormat === 'jwt' ? 'The access token has been revoked' : 'The access token is invalid'
    const proof = await resourceProof(handle, 'GET', `${base}/users/me`, token)
    const res = await app.inject({ url: '/users/me', headers: { host: new URL(base).host, authorization: `DPoP ${token}`, dpop: proof } })
    t.equal(res.statusCode, 401)
    t.same(res.headers['www-authenticate'], [bearer, `${dpop}, error="invalid_token", error_description="${description}"`])
    t.same(res.json(), refused(description))
    t.equal((await dpopRequest(other.handle, other.token, 'GET', `${base}/users/me`)).status, 200, 'alice\'s other token still works')
  })
}

t.test('a resource proof is used once: the same proof again is 401 invalid_dpop_proof', async (t) => {
  const { app, base, as } = await listening(t)
  const { token, handle } = await boundToken(as)
  const proof = await resourceProof(handle, 'GET', `${base}/users/me`, token)
  const headers = { host: new URL(base).host, authorization: `DPoP ${token}`, dpop: proof }
  t.equal((await app.inject({ url: '/users/me', headers })).statusCode, 200)
  const again = await app.inject({ url: '/users/me', headers })
  t.equal(again.statusCode, 401)
  t.same(again.headers['www-authenticate'], [bearer, `${dpop}, error="invalid_dpop_proof", error_description="The DPoP proof has been used before"`])
  t.same(again.json(), errorBody(401, 'FST_PROTECTED_ROUTES_INVALID_DPOP_PROOF', 'The DPoP proof has been used before'))
})

t.test('with Redis, every instance refuses a proof another has seen, at POST /token and on the routes', async (t) => {
  const a = await listening(t, { tokenFormat: 'opaque', redisUrl })
  const b = await listening(t, { tokenFormat: 'opaque', redisUrl })

  // A token request proof, for the same URL as both see it (the public origin).
  const atPublic = await dpopKey({ modify: (_header, payload) => { payload.jti = 'token-request-once'; payload.htu = 'http://api.example/token' } })
  const onA = await listening(t, { tokenFormat: 'opaque', redisUrl, publicOrigin: 'http://api.example' })
  const onB = await listening(t, { tokenFormat: 'opaque', redisUrl, publicOrigin: 'http://api.example' })
  t.equal((await passwordGrant(onA.as, atPublic.handle)).status, 200)
  const replayed = await passwordGrant(onB.as, atPublic.handle)
  t.equal(replayed.status, 400)
  t.same(await replayed.json(), { error: 'invalid_dpop_proof', error_description: 'The DPoP proof has been used before' })

  // A resource proof: a token from :A works on :B, and a proof used on :A is refused on :B.
  const { token, handle } = await boundToken(a.as)
  const proof = await resourceProof(handle, 'GET', 'http://shared.example/users/me', token)
  const headers = { host: 'shared.example', authorization: `DPoP ${token}`, dpop: proof }
  t.equal((await a.app.inject({ url: '/users/me', headers })).statusCode, 200)
  const onOther = await b.app.inject({ url: '/users/me', headers })
  t.equal(onOther.statusCode, 401)
  t.same(onOther.headers['www-authenticate'], [bearer, `${dpop}, error="invalid_dpop_proof", error_description="The DPoP proof has been used before"`])
})

t.test('with publicOrigin, a resource proof names that origin, not the one the request came to', async (t) => {
  const { base, as } = await listening(t, { publicOrigin: 'https://api.example' })
  const atPublic = await dpopKey({ modify: (_header, payload) => { if (typeof payload.htu === 'string') payload.htu = payload.htu.replace(base, 'https://api.example') } })
  const { access_token: token } = await oauth.processGenericTokenEndpointResponse(as, { client_id: 'dpop-test' }, await passwordGrant(as, atPublic.handle))
  const me = await dpopRequest(atPublic.handle, token, 'GET', `${base}/users/me`)
  t.equal(me.status, 200)
  t.same(await me.json(), alice)

  const local = await dpopKey()
  const proof = await resourceProof(local.handle, 'GET', `${base}/users/me`, token)
  const res = await fetch(`${base}/users/me`, { headers: { authorization: `DPoP ${token}`, dpop: proof } })
  t.equal(res.status, 401)
  t.equal(res.headers.get('www-authenticate'), `${bearer}, ${dpop}, error="invalid_dpop_proof", error_description="The DPoP proof is for another URI"`)
})

t.test('a 403 on a DPoP request carries the DPoP challenge with the scope', async (t) => {
  const { app, base, as } = await listening(t)
  const { token, handle } = await boundToken(as, 'bob', 'builder')
  const proof = await resourceProof(handle, 'POST', `${base}/items`, token)
  const res = await app.inject({ method: 'POST', url: '/items', headers: { host: new URL(base).host, authorization: `DPoP ${token}`, dpop: proof }, payload: { name: 'Hard hat' } })
  t.equal(res.statusCode, 403)
  t.equal(res.headers['www-authenticate'], `${dpop}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="items:write"`)
  t.same(res.json(), errorBody(403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE', 'The access token does not grant the required scope'))
})
