import t from 'tap'
import swagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import protectedRoutes, {
  InsufficientUserAuthenticationError,
  MemoryTokenStore,
  type JwtOptions,
  type ProtectedRoutesErrorCode,
  type ProtectedRoutesOptions,
  type RouteAuthConfig
} from '../lib/index.js'
import { authenticatedEnough, type StepUp } from '../lib/step-up.js'
import { kJwtInternals } from '../lib/verifiers/jwt.js'
import { errorBody, fresh } from './helpers/app.js'
import { AUDIENCE, claims, ISSUER, secret, sign } from './helpers/jwt.js'

// Step-up (RFC 9470): config.auth.acr and config.auth.maxAge, read from the verified token's
// acr and auth_time claims; a token that falls short gets 401 insufficient_user_authentication
// with the route's requirements. Real JWTs, signed with jose, verified on the real clock.

const BEARER = 'Bearer realm="api"'
const CLIENT_KEY = 'ApiKey realm="api", in="header", name="X-Client-Key"'
const CODE = 'FST_PROTECTED_ROUTES_INSUFFICIENT_USER_AUTHENTICATION' satisfies ProtectedRoutesErrorCode
const DESCRIPTION = 'The authentication behind the access token is not strong or recent enough'
const stepUp = (requirements: string, base = BEARER): string =>
  `${base}, error="insufficient_user_authentication", error_description="${DESCRIPTION}", ${requirements}`
const refusedBody = errorBody(401, CODE, DESCRIPTION)

const PARTNER = 'https://partner.example/'
const idpKey = secret()
const partnerKey = secret()

/** Seconds now, on the clock the plugin reads. */
const now = (): number => Math.floor(Date.now() / 1000)

/** A token from the main issuer, valid now, with these claims on top (undefined: left out). */
async function token (overrides: Record<string, unknown> = {}, key = idpKey, iss = ISSUER): Promise<string> {
  return await sign(key, 'HS256', claims({ iss, iat: now(), exp: now() + 600, ...overrides }))
}

const bearer = (value: string): { authorization: string } => ({ authorization: `Bearer ${value}` })

interface Harness {
  app: FastifyInstance
  /** Full JWT verifications by the main issuer's scheme. */
  verifications: () => number
  /** Calls of the /predicate route's authorize. */
  authorized: () => number
}

function jwt (key: Uint8Array, issuer: string, extra: Partial<JwtOptions> = {}, onVerify?: () => void): JwtOptions {
  return { secret: key, algorithms: ['HS256'], issuer, audience: AUDIENCE, ...extra, [kJwtInternals]: { onVerify } } as unknown as JwtOptions
}

async function harness (t: Parameters<typeof fresh>[0], extra: Partial<JwtOptions> = {}): Promise<Harness> {
  let verifications = 0
  let authorized = 0
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: {
      idp: { type: 'bearer', jwt: jwt(idpKey, ISSUER, extra, () => { verifications++ }) },
      partner: { type: 'bearer', jwt: jwt(partnerKey, PARTNER) },
      clientKey: { type: 'apiKey', in: 'header', name: 'X-Client-Key', tokens: { 'client-1': { client: 'ci' } } }
    },
    defaultSchemes: ['idp']
  })
  const handler = async (request: { user: unknown, auth: { scheme: string } | null }): Promise<unknown> => ({ user: request.user, scheme: request.auth?.scheme ?? null })
  app.get('/mfa', { config: { auth: { acr: ['mfa'] } } }, handler)
  app.get('/preferred', { config: { auth: { acr: ['phr', 'mfa'] } } }, handler)
  app.get('/recent', { config: { auth: { maxAge: 300 } } }, handler)
  app.get('/now', { config: { auth: { maxAge: 0 } } }, handler)
  app.get('/both', { config: { auth: { acr: ['mfa'], maxAge: 300 } } }, handler)
  app.get('/admin', { config: { auth: { acr: ['mfa'], scopes: ['admin'] } } }, handler)
  app.get('/predicate', { config: { auth: { acr: ['mfa'], authorize: () => { authorized++; return true } } } }, handler)
  app.get('/optional', { config: { auth: { acr: ['mfa'], optional: true } } }, handler)
  app.get('/plain', { config: { auth: true } }, handler)
  app.get('/two-issuers', { config: { auth: { schemes: ['idp', 'partner'], acr: ['mfa'] } } }, handler)
  app.get('/with-client', { config: { auth: { schemes: ['idp', 'clientKey'], all: true, acr: ['mfa'] } } }, handler)
  return { app, verifications: () => verifications, authorized: () => authorized }
}

t.test('acr: a token whose acr is listed passes; another acr, none, or one that is not a string gets the step-up 401', async (t) => {
  const { app, verifications } = await harness(t)
  const good = await app.inject({ url: '/mfa', headers: bearer(await token({ acr: 'mfa' })) })
  t.equal(good.statusCode, 200)
  t.match(good.json(), { user: { iss: ISSUER, sub: 'user-1', acr: 'mfa' }, scheme: 'idp' })

  for (const [what, acr] of [['another acr', 'pwd'], ['no acr', undefined], ['an acr that differs in case', 'MFA'], ['an acr as a list', ['mfa']], ['an acr as a number', 2]] as const) {
    const res = await app.inject({ url: '/mfa', headers: bearer(await token({ acr })) })
    t.equal(res.statusCode, 401, what)
    t.equal(res.headers['www-authenticate'], stepUp('acr_values="mfa"'), `${what}: the challenge`)
    t.same(res.json(), refusedBody, `${what}: the body`)
  }
  t.equal(verifications(), 6, 'each token was verified once: the refusal comes after a good signature')
})

t.test('acr_values lists the route\'s values space-separated, in the order given; any of them passes', async (t) => {
  const { app } = await harness(t)
  const refused = await app.inject({ url: '/preferred', headers: bearer(await token({ acr: 'pwd' })) })
  t.equal(refused.statusCode, 401)
  t.equal(refused.headers['www-authenticate'], stepUp('acr_values="phr mfa"'))
  t.same(refused.json(), refusedBody)
  for (const acr of ['phr', 'mfa']) {
    t.equal((await app.inject({ url: '/preferred', headers: bearer(await token({ acr })) })).statusCode, 200, acr)
  }
})

t.test('maxAge: auth_time within it passes; older, missing, not a number or in the future gets the step-up 401 with max_age', async (t) => {
  const { app } = await harness(t)
  const good = await app.inject({ url: '/recent', headers: bearer(await token({ auth_time: now() - 100 })) })
  t.equal(good.statusCode, 200)
  t.equal(good.json().scheme, 'idp')

  const cases: Array<[string, unknown]> = [
    ['an authentication 400 s ago', now() - 400],
    ['no auth_time', undefined],
    ['auth_time as a string', String(now())],
    ['auth_time as a list', [now()]],
    ['auth_time an hour in the future', now() + 3600]
  ]
  for (const [what, authTime] of cases) {
    const res = await app.inject({ url: '/recent', headers: bearer(await token({ auth_time: authTime })) })
    t.equal(res.statusCode, 401, what)
    t.equal(res.headers['www-authenticate'], stepUp('max_age="300"'), `${what}: the challenge`)
    t.same(res.json(), refusedBody, `${what}: the body`)
  }
})

t.test('auth_time is judged with the scheme\'s clockTolerance (30 s by default), both ways', async (t) => {
  await t.test('the default: 30 s of leeway', async (t) => {
    const { app } = await harness(t)
    const at = async (url: string, authTime: number): Promise<number> => (await app.inject({ url, headers: bearer(await token({ auth_time: authTime })) })).statusCode
    t.equal(await at('/recent', now() - 300 - 20), 200, 'older than maxAge by less than the tolerance')
    t.equal(await at('/recent', now() - 300 - 45), 401, 'older than maxAge by more than the tolerance')
    t.equal(await at('/recent', now() + 20), 200, 'ahead of our clock by less than the tolerance')
    t.equal(await at('/recent', now() + 45), 401, 'ahead of our clock by more than the tolerance')
    t.equal(await at('/now', now() - 20), 200, 'maxAge 0: a fresh authentication, within the tolerance')
    t.equal(await at('/now', now() - 45), 401, 'maxAge 0: an older one')
  })
  await t.test('clockTolerance 0: none', async (t) => {
    const { app } = await harness(t, { clockTolerance: 0 })
    const at = async (authTime: number): Promise<number> => (await app.inject({ url: '/recent', headers: bearer(await token({ auth_time: authTime })) })).statusCode
    t.equal(await at(now() - 290), 200)
    t.equal(await at(now() - 310), 401)
    t.equal(await at(now() + 10), 401, 'ahead of our clock')
  })
})

t.test('acr and maxAge together: both must hold, and the challenge states both', async (t) => {
  const { app } = await harness(t)
  const both = 'acr_values="mfa", max_age="300"'
  t.equal((await app.inject({ url: '/both', headers: bearer(await token({ acr: 'mfa', auth_time: now() - 10 })) })).statusCode, 200)
  for (const [what, overrides] of [
    ['strong but stale', { acr: 'mfa', auth_time: now() - 400 }],
    ['recent but weak', { acr: 'pwd', auth_time: now() - 10 }],
    ['neither', { acr: 'pwd', auth_time: now() - 400 }]
  ] as const) {
    const res = await app.inject({ url: '/both', headers: bearer(await token(overrides)) })
    t.equal(res.statusCode, 401, what)
    t.equal(res.headers['www-authenticate'], stepUp(both), `${what}: the challenge`)
    t.same(res.json(), refusedBody, `${what}: the body`)
  }
})

t.test('authentication strength is checked before scopes and before authorize', async (t) => {
  const { app, authorized } = await harness(t)
  const weakNoScope = await app.inject({ url: '/admin', headers: bearer(await token({ acr: 'pwd', scope: 'read' })) })
  t.equal(weakNoScope.statusCode, 401, 'weak and without the scope: the step-up 401 first')
  t.equal(weakNoScope.headers['www-authenticate'], stepUp('acr_values="mfa"'))
  t.same(weakNoScope.json(), refusedBody)

  const strongNoScope = await app.inject({ url: '/admin', headers: bearer(await token({ acr: 'mfa', scope: 'read' })) })
  t.equal(strongNoScope.statusCode, 403, 'strong enough, without the scope: 403')
  t.equal(strongNoScope.headers['www-authenticate'], `${BEARER}, error="insufficient_scope", error_description="The access token does not grant the required scope", scope="admin"`)
  t.equal(strongNoScope.json().code, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE')

  t.equal((await app.inject({ url: '/admin', headers: bearer(await token({ acr: 'mfa', scope: 'admin' })) })).statusCode, 200)

  const weak = await app.inject({ url: '/predicate', headers: bearer(await token({ acr: 'pwd' })) })
  t.equal(weak.statusCode, 401)
  t.equal(authorized(), 0, 'authorize never ran for a weak authentication')
  t.equal((await app.inject({ url: '/predicate', headers: bearer(await token({ acr: 'mfa' })) })).statusCode, 200)
  t.equal(authorized(), 1)
})

t.test('an optional route: no credential goes through; a weak one is still refused', async (t) => {
  const { app } = await harness(t)
  const anonymous = await app.inject({ url: '/optional' })
  t.equal(anonymous.statusCode, 200)
  t.same(anonymous.json(), { user: null, scheme: null })
  const weak = await app.inject({ url: '/optional', headers: bearer(await token({ acr: 'pwd' })) })
  t.equal(weak.statusCode, 401)
  t.equal(weak.headers['www-authenticate'], stepUp('acr_values="mfa"'))
  t.same(weak.json(), refusedBody)
  t.equal((await app.inject({ url: '/optional', headers: bearer(await token({ acr: 'mfa' })) })).statusCode, 200)
})

t.test('a route without acr or maxAge ignores both claims', async (t) => {
  const { app } = await harness(t)
  const res = await app.inject({ url: '/plain', headers: bearer(await token({ acr: 'pwd', auth_time: 'yesterday' })) })
  t.equal(res.statusCode, 200)
})

t.test('several schemes: the step-up error goes on the scheme that identified the user, the others plain, each once', async (t) => {
  const { app } = await harness(t)
  await t.test('two JWT issuers on one Authorization header: one challenge', async (t) => {
    const strong = await app.inject({ url: '/two-issuers', headers: bearer(await token({ acr: 'mfa' }, partnerKey, PARTNER)) })
    t.equal(strong.statusCode, 200)
    t.equal(strong.json().scheme, 'partner')
    const weak = await app.inject({ url: '/two-issuers', headers: bearer(await token({ acr: 'pwd' }, partnerKey, PARTNER)) })
    t.equal(weak.statusCode, 401)
    t.equal(weak.headers['www-authenticate'], stepUp('acr_values="mfa"'), 'both schemes share Bearer realm="api": it appears once')
    t.same(weak.json(), refusedBody)
  })
  await t.test('all: a user token and a client key: the bearer challenge carries the error, the key\'s is plain', async (t) => {
    const headers = { 'x-client-key': 'client-1' }
    const weak = await app.inject({ url: '/with-client', headers: { ...headers, ...bearer(await token({ acr: 'pwd' })) } })
    t.equal(weak.statusCode, 401)
    t.same(weak.headers['www-authenticate'], [stepUp('acr_values="mfa"'), CLIENT_KEY])
    t.same(weak.json(), refusedBody)
    const strong = await app.inject({ url: '/with-client', headers: { ...headers, ...bearer(await token({ acr: 'mfa' })) } })
    t.equal(strong.statusCode, 200)
    t.equal(strong.json().scheme, 'idp')
  })
})

t.test('a JWT scheme whose user option maps the claims: acr is still read from the verified claims', async (t) => {
  const app = fresh(t)
  await app.register(protectedRoutes, {
    schemes: { idp: { type: 'bearer', jwt: { ...jwt(idpKey, ISSUER), user: (verified) => ({ id: verified.sub }) } } }
  })
  app.get('/mfa', { config: { auth: { acr: ['mfa'] } } }, async (request) => ({ user: request.user, acr: request.auth?.claims?.acr }))
  const strong = await app.inject({ url: '/mfa', headers: bearer(await token({ acr: 'mfa' })) })
  t.equal(strong.statusCode, 200)
  t.same(strong.json(), { user: { id: 'user-1' }, acr: 'mfa' })
  t.equal((await app.inject({ url: '/mfa', headers: bearer(await token({ acr: 'pwd' })) })).statusCode, 401)
})

t.test('the refusal is the exported error class, with its stable code', async (t) => {
  const { app } = await harness(t)
  let seen: unknown
  app.setErrorHandler((err, _request, reply) => {
    seen = err
    return reply.send({ reshaped: true })
  })
  const res = await app.inject({ url: '/mfa', headers: bearer(await token({ acr: 'pwd' })) })
  t.equal(res.statusCode, 401, 'the status stays though the handler only reshapes the body')
  t.equal(res.headers['www-authenticate'], stepUp('acr_values="mfa"'))
  t.ok(seen instanceof InsufficientUserAuthenticationError)
  t.match(seen, { code: CODE, statusCode: 401, message: DESCRIPTION, scheme: 'idp' })
})

t.test('the claims check itself fails closed on what a JSON claim cannot hold', async (t) => {
  const requirement: StepUp = { acr: ['mfa'], maxAge: 300, challenges: new Map() }
  const recent = Date.now() / 1000 - 10
  t.equal(authenticatedEnough(requirement, { acr: 'mfa', auth_time: recent }, 30), true)
  t.equal(authenticatedEnough(requirement, undefined, 30), false, 'no claims at all')
  t.equal(authenticatedEnough(requirement, { acr: 'mfa', auth_time: Number.NaN }, 30), false, 'NaN')
  t.equal(authenticatedEnough(requirement, { acr: 'mfa', auth_time: Infinity }, 30), false, 'Infinity (JSON 1e400)')
  t.equal(authenticatedEnough(requirement, { acr: 'mfa', auth_time: -Infinity }, 30), false, '-Infinity (JSON -1e400)')
})

t.test('the OpenAPI 401 of a route with acr or maxAge names the step-up refusal and its requirements', async (t) => {
  const app = fresh(t)
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 'x', version: '1' } } })
  await app.register(protectedRoutes, { schemes: { idp: { type: 'bearer', jwt: jwt(idpKey, ISSUER) } } })
  const handler = async (): Promise<string> => 'ok'
  app.get('/both', { config: { auth: { acr: ['mfa', 'phr'], maxAge: 300 } } }, handler)
  app.get('/acr', { config: { auth: { acr: ['mfa'], optional: true } } }, handler)
  app.get('/plain', { config: { auth: true } }, handler)
  await app.ready()
  const paths = (app.swagger() as { paths: Record<string, { get: { responses: Record<string, { description: string }> } }> }).paths
  const unauthorized = (path: string): string => paths[path]!.get.responses['401']!.description
  t.equal(unauthorized('/both'), `Unauthorized: no credential (FST_PROTECTED_ROUTES_MISSING_CREDENTIALS) or an invalid one (FST_PROTECTED_ROUTES_INVALID_TOKEN), or one whose authentication is not strong or recent enough (${CODE}: re-authenticate with an acr of mfa, phr and an authentication at most 300 seconds old)`)
  t.equal(unauthorized('/acr'), `Unauthorized: an invalid credential (FST_PROTECTED_ROUTES_INVALID_TOKEN), or one whose authentication is not strong or recent enough (${CODE}: re-authenticate with an acr of mfa); a request without one is let through`)
  t.equal(unauthorized('/plain'), 'Unauthorized: no credential (FST_PROTECTED_ROUTES_MISSING_CREDENTIALS) or an invalid one (FST_PROTECTED_ROUTES_INVALID_TOKEN)')
})

// Declaration: what the route asks for is checked when it is declared, the boot fails otherwise.

const bootSchemes = {
  idp: { type: 'bearer', jwt: jwt(idpKey, ISSUER) },
  staticTokens: { type: 'bearer', tokens: { 'static-1': { id: 's' } } },
  verifyFunction: { type: 'bearer', verify: () => null },
  store: { type: 'bearer', opaque: { store: new MemoryTokenStore() } },
  clientKey: { type: 'apiKey', in: 'header', name: 'X-Client-Key', tokens: { 'client-1': { client: 'ci' } } }
} satisfies ProtectedRoutesOptions['schemes']

const noClaims = (name: string, all = false): string =>
  `acr and maxAge are read from the claims of the token that identifies the user, and scheme '${name}' has none (only jwt and introspection schemes carry claims)${all ? '; with all, the first scheme identifies the user' : ''}`
const acrTokens = 'acr values must be printable ASCII without spaces, quotes or backslashes'
const maxAgeInteger = 'maxAge must be a non-negative integer (seconds)'

const invalid: Array<[string, unknown, string, string[]?]> = [
  ['acr as a string', { acr: 'mfa' }, 'acr must be an array of strings'],
  ['acr holding a number', { acr: ['mfa', 1] }, 'acr must be an array of strings'],
  ['an acr listed twice', { acr: ['mfa', 'mfa'] }, 'acr lists an entry twice'],
  ['no acr', { acr: [] }, 'acr must list at least one value'],
  ['an empty acr', { acr: [''] }, acrTokens],
  ['an acr with a space', { acr: ['multi factor'] }, acrTokens],
  ['an acr with a quote', { acr: ['mfa"'] }, acrTokens],
  ['an acr with a backslash', { acr: ['a\\b'] }, acrTokens],
  ['an acr with a control character', { acr: ['mfa\n'] }, acrTokens],
  ['an acr beyond ASCII', { acr: ['mfä'] }, acrTokens],
  ['maxAge as a string', { maxAge: '300' }, maxAgeInteger],
  ['a negative maxAge', { maxAge: -1 }, maxAgeInteger],
  ['a fractional maxAge', { maxAge: 1.5 }, maxAgeInteger],
  ['an infinite maxAge', { maxAge: Infinity }, maxAgeInteger],
  ['maxAge NaN', { maxAge: Number.NaN }, maxAgeInteger],
  ['acr on static tokens', { schemes: ['staticTokens'], acr: ['mfa'] }, noClaims('staticTokens')],
  ['maxAge on a verify function', { schemes: ['verifyFunction'], maxAge: 300 }, noClaims('verifyFunction')],
  ['acr on a token store', { schemes: ['store'], acr: ['mfa'] }, noClaims('store')],
  ['acr on a JWT scheme beside static tokens', { schemes: ['idp', 'staticTokens'], acr: ['mfa'] }, noClaims('staticTokens')],
  ['acr on an API key', { schemes: ['clientKey'], acr: ['mfa'] }, noClaims('clientKey')],
  ['acr with all, a client key first', { schemes: ['clientKey', 'idp'], all: true, acr: ['mfa'] }, noClaims('clientKey', true)],
  ['acr on default schemes that include static tokens', { acr: ['mfa'] }, noClaims('staticTokens'), ['idp', 'staticTokens']]
]

for (const [what, auth, reason, defaultSchemes] of invalid) {
  t.test(`config.auth with ${what} stops the boot`, async (t) => {
    const app = fresh(t)
    await app.register(protectedRoutes, { schemes: bootSchemes, defaultSchemes: defaultSchemes ?? ['idp'] })
    app.register(async function routes (instance) {
      instance.get('/bad', { config: { auth: auth as RouteAuthConfig } }, async () => 'ok')
    })
    await t.rejects(async () => { await app.ready() }, {
      code: 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG',
      message: `Invalid config.auth on GET /bad: ${reason}`
    })
  })
}

t.test('acr with all may require a scheme without claims after the one that identifies the user', async (t) => {
  const app = fresh(t)
  await app.register(protectedRoutes, { schemes: bootSchemes })
  app.get('/ok', { config: { auth: { schemes: ['idp', 'clientKey'], all: true, acr: ['mfa'], maxAge: 0 } } }, async () => 'ok')
  await app.ready()
  const res = await app.inject({ url: '/ok', headers: { 'x-client-key': 'client-1', ...bearer(await token({ acr: 'mfa', auth_time: now() - 100 })) } })
  t.equal(res.statusCode, 401)
  t.same(res.headers['www-authenticate'], [stepUp('acr_values="mfa", max_age="0"'), CLIENT_KEY])
})
