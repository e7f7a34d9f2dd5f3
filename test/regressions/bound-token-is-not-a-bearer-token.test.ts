import { createHash } from 'node:crypto'
import t from 'tap'
import { base64url, calculateJwkThumbprint } from 'jose'
import { jwtDescriptions } from '../../lib/verifiers/jwt-refusals.js'
import { assertRefused, claims, jwksServer, jwtApp, keyPair, sign } from '../helpers/jwt.js'

// Regression: a sender-constrained access token, one whose claims carry `cnf` (RFC 7800), sent
// as a plain bearer token with no proof of possession, was accepted (200). The plugin checks no
// DPoP proof (RFC 9449) nor client certificate (RFC 8705), so such a token is refused once its
// signature and claims verify: RFC 9449 §7.2, a bound token must not be downgraded to a bearer one.
// Since DPoP support, a token bound by `cnf.jkt` is cached as a DPoP-bound token (a DPoP
// presentation may use it) and still refused as a bearer token on every request.

const BOUND = 'The access token is bound to a key and cannot be used as a bearer token'

t.test('the refusal has its own fixed description', async (t) => {
  t.equal((jwtDescriptions as Record<string, string>).bound, BOUND)
})

t.test('a token with a cnf claim is refused as a bearer token, and never cached as valid', async (t) => {
  const issuer = await keyPair('ES256', 'issuer')
  const holder = await keyPair('ES256')
  const jwks = await jwksServer(t, [issuer.publicJwk])
  const certificate = Buffer.from('a DER certificate would be here')
  const confirmations: Record<string, unknown> = {
    'a DPoP key thumbprint (RFC 9449 jkt)': { jkt: await calculateJwkThumbprint(holder.publicJwk) },
    'a certificate thumbprint (RFC 8705 x5t#S256)': { 'x5t#S256': base64url.encode(createHash('sha256').update(certificate).digest()) },
    'a proof-of-possession key (RFC 7800 jwk)': { jwk: holder.publicJwk },
    'a key id (RFC 7800 kid)': { kid: 'holder-key' },
    'a confirmation method this plugin has never heard of': { 'urn:example:method': 'x' },
    'an empty confirmation': {},
    'a confirmation that is not an object': 'bound'
  }
  for (const [what, cnf] of Object.entries(confirmations)) {
    await t.test(what, async (t) => {
      let mapped = 0
      let revocationChecks = 0
      const { get, verifications } = await jwtApp(t, {
        jwksUrl: jwks.url,
        algorithms: ['ES256'],
        user: (verified) => { mapped++; return { id: verified.sub } },
        isRevoked: () => { revocationChecks++; return false }
      })
      const token = await sign(issuer.privateKey, 'ES256', claims({ cnf }), { kid: 'issuer' })
      assertRefused(t, await get(token), BOUND)
      t.equal(verifications(), 1, 'the token was verified')
      assertRefused(t, await get(token), BOUND)
      if (what.includes('jkt')) t.equal(verifications(), 1, 'kept as a DPoP-bound token, and refused again as a bearer one')
      else t.equal(verifications(), 2, 'verified again: the refusal was not cached, nor the token as valid')
      t.equal(mapped, 0, 'the user mapping never ran')
      t.equal(revocationChecks, 0, 'isRevoked never ran')
    })
  }
})

t.test('a bound token is refused even with a DPoP proof header beside it', async (t) => {
  const issuer = await keyPair('ES256', 'issuer')
  const holder = await keyPair('ES256')
  const jwks = await jwksServer(t, [issuer.publicJwk])
  const { app } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['ES256'] })
  const token = await sign(issuer.privateKey, 'ES256', claims({ cnf: { jkt: await calculateJwkThumbprint(holder.publicJwk) } }), { kid: 'issuer' })
  const proof = await sign(holder.privateKey, 'ES256', { htm: 'GET', htu: 'http://localhost/me', iat: 1, jti: 'p' }, { typ: 'dpop+jwt', jwk: holder.publicJwk })
  assertRefused(t, await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}`, dpop: proof } }), BOUND)
})

t.test('the token is checked before its binding: an expired bound token is refused as expired', async (t) => {
  const issuer = await keyPair('ES256', 'issuer')
  const jwks = await jwksServer(t, [issuer.publicJwk])
  const { get, clock } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['ES256'] })
  const token = await sign(issuer.privateKey, 'ES256', claims({ cnf: { jkt: 'x' } }), { kid: 'issuer' })
  clock.at(Number(claims().exp) + 3600)
  assertRefused(t, await get(token), jwtDescriptions.expired)
})

t.test('the same token without cnf is still a bearer token, and cached', async (t) => {
  const issuer = await keyPair('ES256', 'issuer')
  const jwks = await jwksServer(t, [issuer.publicJwk])
  const { get, verifications } = await jwtApp(t, { jwksUrl: jwks.url, algorithms: ['ES256'] })
  const token = await sign(issuer.privateKey, 'ES256', claims(), { kid: 'issuer' })
  for (const attempt of ['first', 'second']) {
    const res = await get(token)
    t.equal(res.statusCode, 200, attempt)
    t.equal(res.headers['www-authenticate'], undefined)
    t.same(res.json().user, claims())
  }
  t.equal(verifications(), 1, 'the second request was a cache hit')
})
