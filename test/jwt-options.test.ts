import t, { type Test } from 'tap'
import Fastify from 'fastify'
import protectedRoutes from '../lib/index.js'
import type { JwtOptions } from '../lib/verifiers/jwt-options.js'
import { AUDIENCE, ISSUER, jwtApp, keyPair, secret } from './helpers/jwt.js'

const PREFIX = 'Invalid fastify-protected-routes option: '
const PATH = 'schemes.bearerAuth.jwt'

/** Every letter case of a word: none, None, nOne, ... NONE. */
function letterCases (word: string): string[] {
  return Array.from({ length: 2 ** word.length }, (_, mask) =>
    [...word].map((letter, i) => (mask & (1 << i)) !== 0 ? letter.toUpperCase() : letter).join(''))
}

async function refusesBoot (t: Test, jwt: Record<string, unknown>, message: string): Promise<void> {
  await t.rejects(jwtApp(t, jwt as Partial<JwtOptions>), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message: PREFIX + message })
}

t.test("'none' is refused in every letter case, alone or among others", async (t) => {
  const cases = letterCases('none')
  t.equal(cases.length, 16)
  for (const none of cases) {
    await refusesBoot(t, { secret: secret(), algorithms: [none] }, `${PATH}.algorithms must never list 'none'`)
    await refusesBoot(t, { secret: secret(), algorithms: ['HS256', none] }, `${PATH}.algorithms must never list 'none'`)
  }
})

t.test('the boot stops on an unsafe or meaningless JWT option, saying what to fix', async (t) => {
  const rsa = await keyPair('RS256')
  const pem = rsa.publicPem
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['no algorithms', { secret: secret() }, `${PATH}.algorithms must list the accepted algorithms, e.g. ['RS256']`],
    ['an empty algorithm list', { secret: secret(), algorithms: [] }, `${PATH}.algorithms must list the accepted algorithms, e.g. ['RS256']`],
    ['an algorithm that is not a string', { secret: secret(), algorithms: ['HS256', 256] }, `${PATH}.algorithms must list the accepted algorithms, e.g. ['RS256']`],
    ['an unknown algorithm', { secret: secret(), algorithms: ['HS1'] }, `${PATH}.algorithms lists 'HS1', which is not one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519`],
    ['HS and asymmetric algorithms mixed', { secret: secret(), algorithms: ['HS256', 'RS256'] }, `${PATH}.algorithms mixes HS* with asymmetric algorithms; configure one kind per scheme`],
    ['no key source', { algorithms: ['RS256'] }, `${PATH} needs exactly one of secret, publicKey, jwksUrl or discovery: true`],
    ['two key sources', { publicKey: pem, jwksUrl: 'https://issuer.example/jwks', algorithms: ['RS256'] }, `${PATH} needs exactly one of secret, publicKey, jwksUrl or discovery: true`],
    ['three key sources', { secret: secret(), publicKey: pem, jwksUrl: 'https://issuer.example/jwks', algorithms: ['HS256'] }, `${PATH} needs exactly one of secret, publicKey, jwksUrl or discovery: true`],
    ['a secret that is neither a string nor bytes', { secret: 42, algorithms: ['HS256'] }, `${PATH}.secret must be a string or a Uint8Array`],
    ['an HS256 secret of 31 bytes', { secret: secret(31), algorithms: ['HS256'] }, `${PATH}.secret is 31 bytes; HS256 needs at least 32 random bytes`],
    ['an HS256 string secret of 31 characters', { secret: 's'.repeat(31), algorithms: ['HS256'] }, `${PATH}.secret is 31 bytes; HS256 needs at least 32 random bytes`],
    ['an HS384 secret of 47 bytes', { secret: secret(47), algorithms: ['HS384'] }, `${PATH}.secret is 47 bytes; HS384 needs at least 48 random bytes`],
    ['an HS512 secret of 63 bytes beside HS256', { secret: secret(63), algorithms: ['HS256', 'HS512'] }, `${PATH}.secret is 63 bytes; HS256, HS512 needs at least 64 random bytes`],
    ['a PEM public key as the secret', { secret: pem, algorithms: ['HS256'] }, `${PATH}.secret is a PEM key; put a public key in publicKey and list asymmetric algorithms`],
    ['a JWKS option without jwksUrl', { publicKey: pem, algorithms: ['RS256'], jwksCooldown: 1000 }, `${PATH}.jwksCooldown applies to jwksUrl and discovery only`],
    ['a jwksUrl that is not a URL', { jwksUrl: 'jwks.json', algorithms: ['RS256'] }, `${PATH}.jwksUrl must be an absolute URL`],
    ['a plain-http jwksUrl off loopback', { jwksUrl: 'http://issuer.example/jwks', algorithms: ['RS256'] }, `${PATH}.jwksUrl must use https: (http: is allowed on a loopback host only)`],
    ['a jwksUrl of another protocol', { jwksUrl: 'file:///etc/jwks.json', algorithms: ['RS256'] }, `${PATH}.jwksUrl must use https: (http: is allowed on a loopback host only)`],
    ['a zero jwksTimeout', { jwksUrl: 'https://issuer.example/jwks', algorithms: ['RS256'], jwksTimeout: 0 }, `${PATH}.jwksTimeout must be an integer from 1 to 60000`],
    ['a negative jwksCooldown', { jwksUrl: 'https://issuer.example/jwks', algorithms: ['RS256'], jwksCooldown: -1 }, `${PATH}.jwksCooldown must be an integer from 0 to 86400000`],
    ['a fractional jwksCacheMaxAge', { jwksUrl: 'https://issuer.example/jwks', algorithms: ['RS256'], jwksCacheMaxAge: 1.5 }, `${PATH}.jwksCacheMaxAge must be an integer from 0 to 86400000`],
    ['no issuer', { secret: secret(), algorithms: ['HS256'], issuer: undefined }, `${PATH}.issuer must be the expected iss, a non-empty string`],
    ['an empty issuer', { secret: secret(), algorithms: ['HS256'], issuer: '' }, `${PATH}.issuer must be the expected iss, a non-empty string`],
    ['no audience', { secret: secret(), algorithms: ['HS256'], audience: undefined }, `${PATH}.audience must be this API's audience, a non-empty string or a list of them (or set the plugin's protectedResource: its resource is then the default audience)`],
    ['an empty audience list', { secret: secret(), algorithms: ['HS256'], audience: [] }, `${PATH}.audience must be this API's audience, a non-empty string or a list of them`],
    ['a negative clockTolerance', { secret: secret(), algorithms: ['HS256'], clockTolerance: -1 }, `${PATH}.clockTolerance must be an integer from 0 to 300`],
    ['a clockTolerance over five minutes', { secret: secret(), algorithms: ['HS256'], clockTolerance: 301 }, `${PATH}.clockTolerance must be an integer from 0 to 300`],
    ['a clockTolerance as a string', { secret: secret(), algorithms: ['HS256'], clockTolerance: '30s' }, `${PATH}.clockTolerance must be an integer from 0 to 300`],
    ['an empty typ', { secret: secret(), algorithms: ['HS256'], typ: '' }, `${PATH}.typ must be a non-empty string such as 'at+jwt'`],
    ['requiredClaims as a string', { secret: secret(), algorithms: ['HS256'], requiredClaims: 'sub' }, `${PATH}.requiredClaims must be an array of claim names`],
    ['requiredClaims with an empty name', { secret: secret(), algorithms: ['HS256'], requiredClaims: ['sub', ''] }, `${PATH}.requiredClaims must be an array of claim names`],
    ['a zero maxTokenAge', { secret: secret(), algorithms: ['HS256'], maxTokenAge: 0 }, `${PATH}.maxTokenAge must be an integer from 1 to 31536000`],
    ['a scopeClaim that is neither a path nor a function', { secret: secret(), algorithms: ['HS256'], scopeClaim: ['roles'] }, `${PATH}.scopeClaim must be a claim name, a dotted path such as 'realm_access.roles', or a function of the claims`],
    ['an empty scopeClaim', { secret: secret(), algorithms: ['HS256'], scopeClaim: '' }, `${PATH}.scopeClaim must be a claim name or a dotted path without empty segments`],
    ['a scopeClaim path with an empty segment', { secret: secret(), algorithms: ['HS256'], scopeClaim: 'realm_access..roles' }, `${PATH}.scopeClaim must be a claim name or a dotted path without empty segments`],
    ['a scopeClaim path ending in a dot', { secret: secret(), algorithms: ['HS256'], scopeClaim: 'realm_access.' }, `${PATH}.scopeClaim must be a claim name or a dotted path without empty segments`],
    ['a scopeClaim path through __proto__', { secret: secret(), algorithms: ['HS256'], scopeClaim: '__proto__.roles' }, `${PATH}.scopeClaim must not go through '__proto__'`],
    ['a scopeClaim path through constructor', { secret: secret(), algorithms: ['HS256'], scopeClaim: 'resource_access.constructor' }, `${PATH}.scopeClaim must not go through 'constructor'`],
    ['a scopeClaim path through prototype', { secret: secret(), algorithms: ['HS256'], scopeClaim: 'prototype' }, `${PATH}.scopeClaim must not go through 'prototype'`],
    ['a scopeClaim that is a namespaced claim name', { secret: secret(), algorithms: ['HS256'], scopeClaim: 'https://api.example/roles' }, `${PATH}.scopeClaim is split on '.': a claim whose name is a URL (a namespaced claim) needs the function form, (claims) => claims['https://…']`],
    ['a user that is not a function', { secret: secret(), algorithms: ['HS256'], user: 'sub' }, `${PATH}.user must be a function`],
    ['an isRevoked that is not a function', { secret: secret(), algorithms: ['HS256'], isRevoked: true }, `${PATH}.isRevoked must be a function`],
    ['cache: true', { secret: secret(), algorithms: ['HS256'], cache: true }, `${PATH}.cache must be false or { max }`],
    ['a cache option other than max', { secret: secret(), algorithms: ['HS256'], cache: { ttl: 60 } }, `${PATH}.cache must be false or { max }`],
    ['a cache of zero entries', { secret: secret(), algorithms: ['HS256'], cache: { max: 0 } }, `${PATH}.cache.max must be an integer from 1 to 10000000`],
    ['an unknown option', { secret: secret(), algorithms: ['HS256'], audiences: [AUDIENCE] }, `${PATH} has an unknown option 'audiences'`]
  ]
  for (const [name, jwt, message] of cases) {
    await t.test(name, async (t) => refusesBoot(t, jwt, message))
  }
})

t.test('jwt options that are not an object stop the boot', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => {
    await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', jwt: null as unknown as JwtOptions } } })
  }, {
    message: `${PREFIX}${PATH} must be an object`
  })
})

t.test('the boundaries of the bounded options are accepted', async (t) => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['a 32-byte HS256 secret', { secret: secret(32), algorithms: ['HS256'] }],
    ['a 64-byte HS512 secret', { secret: secret(64), algorithms: ['HS512', 'HS256'] }],
    ['clockTolerance 0', { secret: secret(), algorithms: ['HS256'], clockTolerance: 0 }],
    ['clockTolerance 300', { secret: secret(), algorithms: ['HS256'], clockTolerance: 300 }],
    ['http on 127.0.0.1', { jwksUrl: 'http://127.0.0.1:1/jwks.json', algorithms: ['RS256'] }],
    ['http on localhost', { jwksUrl: 'http://localhost:1/jwks.json', algorithms: ['ES256'] }],
    ['http on [::1]', { jwksUrl: 'http://[::1]:1/jwks.json', algorithms: ['EdDSA'] }],
    ['a URL object with every JWKS option', { jwksUrl: new URL('https://issuer.example/jwks'), algorithms: ['RS256', 'ES256'], jwksTimeout: 1, jwksCooldown: 0, jwksCacheMaxAge: 0 }],
    ['every other option', { secret: secret(), algorithms: ['HS256', 'HS256'], typ: 'at+jwt', requiredClaims: ['sub'], maxTokenAge: 60, scopeClaim: 'scp', user: () => null, isRevoked: () => false, cache: { max: 1 } }],
    ['cache: false', { secret: secret(), algorithms: ['HS256'], cache: false }],
    ['an empty cache object', { secret: secret(), algorithms: ['HS256'], cache: {} }]
  ]
  for (const [name, jwt] of cases) {
    await t.test(name, async (t) => {
      const { app } = await jwtApp(t, { issuer: ISSUER, audience: AUDIENCE, ...jwt })
      await app.ready()
      t.pass('booted')
    })
  }
})
