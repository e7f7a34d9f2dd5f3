import t, { type Test } from 'tap'
import protectedRoutes, { MemoryTokenStore, type ProtectedRoutesOptions } from '../lib/index.js'
import { checkDpopOptions, DEFAULT_DPOP_ALGORITHMS } from '../lib/dpop/options.js'
import { fresh } from './helpers/app.js'
import { AUDIENCE, ISSUER, secret } from './helpers/jwt.js'
import { BEARER, DPOP, dpopApp } from './helpers/dpop.js'

// `schemes.<name>.dpop` at boot: what stops the app, with the exact message, and what the
// accepted forms become (defaults, a normalised origin, the challenge they give).

const PREFIX = 'Invalid fastify-protected-routes option: '
const PATH = 'schemes.bearerAuth.dpop'
const KNOWN = 'required, algorithms, proofMaxAge, clockTolerance, nonce, replayStore, origin'
const ALGORITHMS = `${PATH}.algorithms must list asymmetric JWS algorithms, each once (from RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519)`
const NONCE = `${PATH}.nonce must be false or { secret } with a secret of at least 32 characters`
const REPLAY_STORE = `${PATH}.replayStore must be a token store with useOnce (MemoryTokenStore, RedisTokenStore)`
const ORIGIN = `${PATH}.origin must be an origin such as 'https://api.example' (scheme, host and port; no path, query or fragment)`

function jwt (): Record<string, unknown> {
  return { secret: secret(), algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }
}

/** Registers the plugin with one bearer scheme `bearerAuth` (jwt unless `scheme` says otherwise) whose dpop is `dpop`, exactly as given. */
async function boot (t: Test, dpop: unknown, scheme: Record<string, unknown> = { type: 'bearer', jwt: jwt() }): Promise<void> {
  const app = fresh(t)
  await app.register(protectedRoutes, { schemes: { bearerAuth: { ...scheme, dpop } } } as unknown as ProtectedRoutesOptions)
  await app.ready()
}

async function refusesBoot (t: Test, dpop: unknown, message: string, scheme?: Record<string, unknown>): Promise<void> {
  await t.rejects(boot(t, dpop, scheme), { code: 'FST_PROTECTED_ROUTES_INVALID_OPTION', message: PREFIX + message })
}

t.test('the boot stops on a dpop option that is not one, saying what to fix', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['a string', 'yes', `${PATH} must be an object`],
    ['true', true, `${PATH} must be an object`],
    ['an array', [], `${PATH} must be an object`],
    ['null', null, `${PATH} must be an object`],
    ['an unknown key', { require: true }, `unknown option '${PATH}.require' (known: ${KNOWN})`],
    ['required as a string', { required: 'true' }, `${PATH}.required must be a boolean`],
    ['required as 1', { required: 1 }, `${PATH}.required must be a boolean`],
    ['proofMaxAge 0', { proofMaxAge: 0 }, `${PATH}.proofMaxAge must be an integer from 1 to 3600`],
    ['proofMaxAge 3601', { proofMaxAge: 3601 }, `${PATH}.proofMaxAge must be an integer from 1 to 3600`],
    ['proofMaxAge 1.5', { proofMaxAge: 1.5 }, `${PATH}.proofMaxAge must be an integer from 1 to 3600`],
    ['proofMaxAge as a string', { proofMaxAge: '60' }, `${PATH}.proofMaxAge must be an integer from 1 to 3600`],
    ['clockTolerance -1', { clockTolerance: -1 }, `${PATH}.clockTolerance must be an integer from 0 to 300`],
    ['clockTolerance 301', { clockTolerance: 301 }, `${PATH}.clockTolerance must be an integer from 0 to 300`],
    ['nonce: true', { nonce: true }, NONCE],
    ['nonce: null', { nonce: null }, NONCE],
    ['nonce as the secret itself', { nonce: 's'.repeat(32) }, NONCE],
    ['nonce with a key besides secret', { nonce: { secret: 's'.repeat(32), window: 60 } }, NONCE],
    ['nonce without a secret', { nonce: {} }, NONCE],
    ['a nonce secret that is not a string', { nonce: { secret: secret(32) } }, NONCE],
    ['a nonce secret of 31 characters', { nonce: { secret: 's'.repeat(31) } }, NONCE],
    ['a replayStore without useOnce', { replayStore: { lookup: async () => null } }, REPLAY_STORE],
    ['a replayStore whose useOnce is not a function', { replayStore: { useOnce: true } }, REPLAY_STORE],
    ['replayStore: null', { replayStore: null }, REPLAY_STORE],
    ['an origin with a path', { origin: 'https://api.example/v1' }, ORIGIN],
    ['an origin with a query', { origin: 'https://api.example/?a=1' }, ORIGIN],
    ['an origin with an empty query', { origin: 'https://api.example?' }, ORIGIN],
    ['an origin with a fragment', { origin: 'https://api.example#top' }, ORIGIN],
    ['an origin with an empty fragment', { origin: 'https://api.example#' }, ORIGIN],
    ['an origin with a user', { origin: 'https://user@api.example' }, ORIGIN],
    ['an origin with a password', { origin: 'https://:secret@api.example' }, ORIGIN],
    ['an origin with a dot segment', { origin: 'https://api.example/.' }, ORIGIN],
    ['an origin without //', { origin: 'https:api.example' }, ORIGIN],
    ['an ftp: origin', { origin: 'ftp://api.example' }, ORIGIN],
    ['a wss: origin', { origin: 'wss://api.example' }, ORIGIN],
    ['an origin that is not a URL', { origin: 'api.example' }, ORIGIN],
    ['an empty origin', { origin: '' }, ORIGIN],
    ['an origin that is not a string', { origin: new URL('https://api.example') }, ORIGIN],
    ['an origin that is a number', { origin: 443 }, ORIGIN]
  ]
  for (const [name, dpop, message] of cases) {
    await t.test(name, async (t) => refusesBoot(t, dpop, message))
  }
})

t.test('algorithms: asymmetric JWS algorithms only (RFC 9449 §4.2), each once, a non-empty array', async (t) => {
  const cases: Array<[string, unknown]> = [
    ['algorithms as a string', { algorithms: 'ES256' }],
    ['algorithms empty', { algorithms: [] }],
    ['an algorithm twice', { algorithms: ['ES256', 'EdDSA', 'ES256'] }],
    ['HS256 (symmetric: RFC 9449 §4.2)', { algorithms: ['ES256', 'HS256'] }],
    ["'none'", { algorithms: ['none'] }],
    ['an algorithm that is not a string', { algorithms: ['ES256', 256] }],
    ['an algorithm in the wrong case', { algorithms: ['es256'] }]
  ]
  for (const [name, dpop] of cases) {
    await t.test(name, async (t) => refusesBoot(t, dpop, ALGORITHMS))
  }
})

t.test('dpop is for bearer schemes only', async (t) => {
  await refusesBoot(t, {}, 'schemes.bearerAuth.dpop is for bearer schemes', { type: 'apiKey', in: 'header', name: 'x-api-key', tokens: { key: { sub: 'a' } } })
})

t.test('dpop needs a verifier whose tokens can be bound to a key: not verify, not tokens', async (t) => {
  const message = `${PATH} needs a jwt, opaque or introspection verifier: only tokens an authorization server or a token store issued can be bound to a key (cnf.jkt)`
  await refusesBoot(t, {}, message, { type: 'bearer', verify: () => ({ sub: 'a' }) })
  await refusesBoot(t, { required: true }, message, { type: 'bearer', tokens: { token: { sub: 'a' } } })
})

t.test('the accepted forms boot on every verifier that binds tokens', async (t) => {
  const store = new MemoryTokenStore()
  t.teardown(() => store.close())
  const accepted: unknown[] = [
    {},
    { required: false },
    { required: true, algorithms: ['EdDSA'], proofMaxAge: 1, clockTolerance: 0 },
    { proofMaxAge: 3600, clockTolerance: 300, nonce: false },
    { nonce: { secret: 's'.repeat(32) }, replayStore: store, origin: 'https://api.example' },
    { origin: 'http://localhost:3000/' }
  ]
  for (const dpop of accepted) await boot(t, dpop)
  await boot(t, {}, { type: 'bearer', opaque: { store } })
  await boot(t, { required: true }, { type: 'bearer', introspection: { url: 'https://issuer.example/introspect', clientId: 'api', clientSecret: 's'.repeat(32) } })
})

t.test('defaults, and an origin normalised as URL.origin spells it', async (t) => {
  const defaults = checkDpopOptions('bearerAuth', {})
  t.same({ ...defaults, replayStore: undefined }, {
    required: false,
    algorithms: ['ES256', 'PS256', 'EdDSA', 'RS256'],
    proofMaxAge: 60,
    clockTolerance: 5,
    nonceSecret: undefined,
    replayStore: undefined,
    origin: undefined
  })
  t.ok(defaults.replayStore instanceof MemoryTokenStore, 'a memory replay store of its own')
  t.not(checkDpopOptions('bearerAuth', {}).replayStore, defaults.replayStore, 'one per scheme')
  t.ok(Object.isFrozen(defaults) && Object.isFrozen(defaults.algorithms))
  t.not(defaults.algorithms, DEFAULT_DPOP_ALGORITHMS, 'a copy')

  const algorithms = ['EdDSA', 'ES384']
  const given = checkDpopOptions('bearerAuth', { algorithms, nonce: { secret: 'n'.repeat(40) } })
  algorithms.push('RS256')
  t.same(given.algorithms, ['EdDSA', 'ES384'], "a copy: the caller's array stays theirs")
  t.equal(given.nonceSecret, 'n'.repeat(40))

  const origins: Array<[string, string]> = [
    ['https://API.example:443', 'https://api.example'],
    ['HTTPS://API.EXAMPLE', 'https://api.example'],
    ['https://api.example/', 'https://api.example'],
    ['http://api.example:80', 'http://api.example'],
    ['https://api.example:8443', 'https://api.example:8443'],
    ['http://127.0.0.1:3000/', 'http://127.0.0.1:3000'],
    ['https://[::1]:443', 'https://[::1]']
  ]
  for (const [origin, normalised] of origins) t.equal(checkDpopOptions('bearerAuth', { origin }).origin, normalised, origin)
})

t.test('a configured origin, normalised, is what a proof names, whatever Host says', async (t) => {
  const h = await dpopApp(t, { dpop: { origin: 'https://API.example:443' } })
  const token = await h.token()
  t.equal((await h.call(token, { htu: 'https://api.example/me' })).statusCode, 200)
  t.equal((await h.call(token)).statusCode, 401, 'not the origin of the request as received')
})

t.test('the challenge lists the accepted algorithms: the defaults, or the configured list in its order', async (t) => {
  t.equal(DPOP, 'DPoP algs="ES256 PS256 EdDSA RS256"')
  const byDefault = await dpopApp(t)
  const none = await byDefault.app.inject({ url: '/me' })
  t.equal(none.statusCode, 401)
  t.same(none.headers['www-authenticate'], [BEARER, 'DPoP algs="ES256 PS256 EdDSA RS256"'])

  const configured = await dpopApp(t, { dpop: { algorithms: ['EdDSA', 'ES256'] } })
  const res = await configured.app.inject({ url: '/me' })
  t.equal(res.statusCode, 401)
  t.same(res.headers['www-authenticate'], [BEARER, 'DPoP algs="EdDSA ES256"'])
})

t.test('required: true offers only the DPoP challenge', async (t) => {
  const h = await dpopApp(t, { dpop: { required: true, algorithms: ['PS256'] } })
  const res = await h.app.inject({ url: '/me' })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'DPoP algs="PS256"')
})
