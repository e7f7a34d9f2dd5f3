import { STATUS_CODES } from 'node:http'
import fc from 'fast-check'
import t from 'tap'
import { SignJWT } from 'jose'
import { API_KEY, AUDIENCE, bearerUsers, buildFixture, COOKIE_KEY, fixtureKeys, ISSUER, QUERY_KEY, STATIC_KEY } from './fixtures/fixture.js'
import { parseResponse, sendBytes, toBytes, values } from './fixtures/wire.js'
import { watch } from './fixtures/watch.js'

// Properties over arbitrary input: whatever the header string or the bytes, a protected route
// never answers 2xx unless the credential is valid, never 5xx, and never reflects input in a
// header or the body (every challenge and every body is built from fixed strings).
// HOSTILE_RUNS (default 1) multiplies every run count, for a deeper search than CI's.
const scale = Number(process.env.HOSTILE_RUNS ?? 1)
const runs = (n: number): { numRuns: number } => ({ numRuns: Math.max(1, Math.round(n * scale)) })
const w = watch()
const fixture = await buildFixture(w, await fixtureKeys(), 10_000)
const now = Math.floor(Date.now() / 1000)
const jwt = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'jwt-user', iat: now, exp: now + 3600, scope: 'read' })
  .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt' }).sign(fixture.keys.rsa.privateKey)

// Nothing the fixture's verifiers would fault on: those tokens are the catalogue's business.
const validBearer = new Set(Object.keys(bearerUsers))

// --- What an answer may contain: fixed strings only.
const descriptions = new Set([
  'The Authorization header is not a valid Bearer credential', 'More than one Authorization header was sent',
  'The API key is malformed', 'The API key was sent more than once', 'The credential is too long',
  'The same credential was sent in more than one place', 'The access token is invalid', 'The API key is invalid',
  'The access token does not grant the required scope', 'The access token is malformed',
  'The access token algorithm is not accepted', 'The access token has a critical header parameter that is not supported',
  'The access token signing key is not known', 'The access token signature is invalid', 'The access token has expired',
  'The access token is not yet valid', 'The access token was issued in the future', 'The access token issuer is not accepted',
  'The access token audience is not accepted', 'The access token type is not accepted', 'The access token is missing a required claim'
])
const messages = new Set([...descriptions, 'Authentication is required', 'Client Error', 'Exceeded maximum allowed HTTP header size'])
const CHALLENGE = /^(?:Bearer realm="hostile"|ApiKey realm="hostile", in="(?:header|query|cookie)", name="(?:X-Api-Key|X-Token|api_key|session)")(?:, error="(?:invalid_request|invalid_token|insufficient_scope)", error_description="([^"]*)"(?:, scope="(?:write|admin)")?)?$/

interface Answer {
  readonly status: number
  readonly challenges: readonly string[]
  readonly body: string
}

/** The body and every challenge come from fixed strings; a 2xx body names a known user. */
function builtFromFixedStrings (answer: Answer): boolean {
  for (const challenge of answer.challenges) {
    const match = CHALLENGE.exec(challenge)
    if (match === null || (match[1] !== undefined && !descriptions.has(match[1]))) return false
  }
  if (answer.body === '') return true
  const body = JSON.parse(answer.body) as Record<string, unknown>
  if (answer.status < 300) return body.ok === true && (body.user === null || typeof body.user === 'string')
  const notFound = `Route ${'GET'}:/`
  return (typeof body.message === 'string' && (messages.has(body.message) || body.message.startsWith(notFound))) &&
    body.error === STATUS_CODES[answer.status] && (body.code === undefined || /^FST_PROTECTED_ROUTES_[A-Z_]+$/.test(String(body.code)))
}

function holds (answer: Answer, valid: boolean, input: string): string | true {
  if (answer.status >= 500) return `5xx for client input: ${answer.status}`
  if (answer.status >= 200 && answer.status < 300 && !valid) return `2xx without a valid credential: ${answer.status}`
  if (answer.status === 401 && answer.challenges.length === 0) return '401 without a challenge'
  if (!builtFromFixedStrings(answer)) return `not built from fixed strings: ${JSON.stringify(answer)}`
  // And, plainly: a long enough piece of the input is nowhere in the answer.
  const text = answer.body + answer.challenges.join('\n')
  for (const piece of input.split(/[\s,;=:"]+/)) {
    if (piece.length >= 12 && text.includes(piece)) return `reflected: ${JSON.stringify(piece)}`
  }
  return true
}

async function inject (path: string, headers: Record<string, string>): Promise<Answer> {
  const res = await fixture.app.inject({ url: path, headers })
  const challenge = res.headers['www-authenticate']
  return { status: res.statusCode, challenges: challenge === undefined ? [] : Array.isArray(challenge) ? challenge : [String(challenge)], body: res.body }
}

async function wire (bytes: Buffer, endAfterMs?: number): Promise<Answer> {
  const res = parseResponse(await sendBytes(fixture.port, bytes, 5000, endAfterMs))
  return { status: res.status, challenges: values(res, 'www-authenticate'), body: res.body }
}

// --- Generators
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/='
const byte = fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code))
const anyChar = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })
const scheme = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR', 'Bearer ', 'Basic', 'Bear', '', 'Bearer\t', 'Bearer:', 'B\u0435arer')
const spaces = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 4 })
const b64token = fc.string({ unit: fc.constantFrom(...B64), minLength: 1, maxLength: 40 })

/** A string near `value`: a character inserted, removed, replaced or re-cased, or padding added. */
function near (value: string): fc.Arbitrary<string> {
  return fc.tuple(fc.nat({ max: value.length }), fc.constantFrom('insert', 'delete', 'replace', 'upper', 'last', 'pad'), anyChar, fc.constantFrom(...B64))
    .map(([at, op, char, b64]) => {
      switch (op) {
        case 'insert': return value.slice(0, at) + char + value.slice(at)
        case 'delete': return value.slice(0, at) + value.slice(at + 1)
        case 'replace': return value.slice(0, at) + char + value.slice(at + 1)
        case 'upper': return value.slice(0, at) + value.slice(at).toUpperCase()
        case 'last': return value.slice(0, -1) + b64
        default: return value + '='.repeat(1 + (at % 3))
      }
    })
}

const credential = fc.oneof(
  fc.constantFrom(...validBearer),
  fc.constantFrom(...validBearer).chain(near),
  b64token,
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: byte })
)
const authorization = fc.oneof(
  fc.tuple(scheme, spaces, credential, spaces).map((parts) => parts.join('')),
  fc.tuple(scheme, fc.constant(' '), credential).map((parts) => parts.join('')),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: byte })
)

/** What the plugin sees of a value it was given directly (inject). */
function validAuthorization (value: string): boolean {
  const match = /^bearer +(.+)$/i.exec(value)
  return match !== null && validBearer.has(match[1]!)
}

t.test('inject: any Authorization value (1000 runs)', async () => {
  await fc.assert(fc.asyncProperty(authorization, async (value) => {
    const answer = await inject('/bearer', { authorization: value })
    const verdict = holds(answer, validAuthorization(value), value)
    if (verdict !== true) throw new Error(verdict)
  }), runs(1000))
})

t.test('socket: any Authorization value without CR or LF (300 runs)', async () => {
  await fc.assert(fc.asyncProperty(authorization.filter((value) => !/[\r\n]/.test(value)), async (value) => {
    const request = toBytes(`GET /bearer HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${value}\r\nConnection: close\r\n\r\n`)
    // What Node hands over: the bytes read as Latin-1, surrounding spaces and tabs trimmed.
    const seen = /[\u0100-\uffff]/.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value
    const answer = await wire(request)
    const verdict = holds(answer, validAuthorization(seen.replace(/^[ \t]+|[ \t]+$/g, '')), seen)
    if (verdict !== true) throw new Error(verdict)
  }), runs(300))
})

t.test('inject: any API key in a header, the query or a cookie (600 runs each)', async () => {
  const places: Array<[string, string, (value: string) => [string, Record<string, string>]]> = [
    [API_KEY, '/key', (value) => ['/key', { 'x-api-key': value }]],
    [STATIC_KEY, '/static', (value) => ['/static', { 'x-token': value }]],
    [QUERY_KEY, '/query', (value) => [`/query?api_key=${encodeURIComponent(value)}`, {}]],
    [COOKIE_KEY, '/cookie', (value) => ['/cookie', { cookie: `session=${value}` }]]
  ]
  for (const [key, , request] of places) {
    const value = fc.oneof(fc.constant(key), near(key), fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: byte }))
    await fc.assert(fc.asyncProperty(value, async (candidate) => {
      const answer = await inject(...request(candidate))
      // A cookie value may be quoted (RFC 6265 §4.1.1), and the cookie header split at ';'.
      const valid = candidate === key || (request === places[3]![2] && (candidate === `"${key}"` || candidate.split(';')[0]!.trim() === key))
      const verdict = holds(answer, valid, candidate)
      if (verdict !== true) throw new Error(verdict)
    }), runs(600))
  }
})

t.test('inject: a JWT changed in any way is refused (600 runs)', async () => {
  await fc.assert(fc.asyncProperty(near(jwt).filter((token) => token !== jwt), async (token) => {
    const answer = await inject('/jwt', { authorization: `Bearer ${token}` })
    const verdict = holds(answer, false, token)
    if (verdict !== true) throw new Error(`${verdict} for ${token}`)
  }), runs(600))
  t.equal((await inject('/jwt', { authorization: `Bearer ${jwt}` })).status, 200, 'the JWT itself is accepted')
})

const bytes = fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array))
const headerBytes = fc.string({ unit: byte, maxLength: 200 })

t.test('socket: arbitrary bytes as a whole request (200 runs)', async () => {
  await fc.assert(fc.asyncProperty(bytes, async (request) => {
    const answer = await wire(request, 100)
    if (answer.status >= 500) throw new Error(`5xx: ${answer.status}`)
    if (answer.status >= 200 && answer.status < 300) throw new Error(`2xx: ${answer.status}`)
  }), runs(200))
})

t.test('socket: arbitrary bytes as the header section or the Authorization value (200 runs each)', async () => {
  const frames: Array<(value: string) => string> = [
    (value) => `GET /bearer HTTP/1.1\r\n${value}\r\n\r\n`,
    (value) => `GET /bearer HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${value}\r\nConnection: close\r\n\r\n`,
    (value) => `GET /multi HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ${value}\r\nConnection: close\r\n\r\n`
  ]
  for (const frame of frames) {
    await fc.assert(fc.asyncProperty(headerBytes, async (value) => {
      const answer = await wire(Buffer.from(frame(value), 'latin1'), 100)
      if (answer.status === 0) return // Node closed without a word: not a whole request
      // No valid credential can appear by chance in these bytes; if one did, it may pass.
      const valid = [...validBearer, API_KEY].some((token) => value.includes(token))
      const verdict = holds(answer, valid, value)
      if (verdict !== true) throw new Error(verdict)
    }), runs(200))
  }
})

w.check(t, async () => await fixture.app.close())
