import t from 'tap'
import fc from 'fast-check'
import { dpopApp, proof } from '../helpers/dpop.js'

// The DPoP header as a hostile client sends it: any value, and every near miss of a valid proof.
// Whatever it is, a DPoP request with a bound token is never answered 2xx unless the proof is
// valid and new, never 5xx, and neither the header nor the body carries any of it.

// HOSTILE_RUNS scales the runs, as in properties.test.ts; a failure prints its seed to replay.
const scale = Number(process.env.HOSTILE_RUNS ?? 1)
const runs = (n: number): { numRuns: number } => ({ numRuns: Math.max(1, Math.round(n * scale)) })
const byte = fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code))
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')
const refusals = new Set(['FST_PROTECTED_ROUTES_INVALID_DPOP_PROOF', 'FST_PROTECTED_ROUTES_INVALID_REQUEST'])

/** A refusal with a known code, that reflects nothing of `sent`. */
function refusedQuietly (res: { statusCode: number, headers: Record<string, unknown>, body: string }, sent: string): string | true {
  if (res.statusCode !== 400 && res.statusCode !== 401) return `status ${res.statusCode}`
  const { code } = JSON.parse(res.body) as { code: string }
  if (!refusals.has(code)) return `code ${code}`
  const echoed = (text: string): boolean => sent.length >= 8 && text.includes(sent)
  if (echoed(res.body) || echoed(JSON.stringify(res.headers['www-authenticate']))) return 'the proof was echoed'
  return true
}

t.test('any DPoP header value beside a bound token is refused (800 runs)', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  const segment = fc.string({ unit: fc.constantFrom(...B64URL), minLength: 1, maxLength: 60 })
  const value = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.string({ unit: byte }),
    fc.tuple(segment, segment, segment).map((parts) => parts.join('.')),
    fc.tuple(segment, segment, segment, segment).map((parts) => parts.join('.'))
  )
  await fc.assert(fc.asyncProperty(value, async (sent) => {
    const res = await h.app.inject({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: sent } })
    const verdict = refusedQuietly(res, sent)
    if (verdict !== true) throw new Error(verdict)
  }), runs(800))
})

t.test('every one-character change to a used proof is refused (600 runs)', async (t) => {
  const h = await dpopApp(t)
  const token = await h.token()
  const valid = await proof(h.key, { token })
  const first = await h.app.inject({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: valid } })
  t.equal(first.statusCode, 200, 'the proof itself is accepted once')
  // A changed character of the header, the claims or the signature; a change that only touches
  // padding bits still spells the same proof, whose jti is used.
  const change = fc.tuple(fc.nat({ max: valid.length - 1 }), fc.constantFrom(...B64URL, '.', '=', ' ', '+', '/'))
    .filter(([at, char]) => valid[at] !== char)
    .map(([at, char]) => valid.slice(0, at) + char + valid.slice(at + 1))
  await fc.assert(fc.asyncProperty(change, async (sent) => {
    const res = await h.app.inject({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: sent } })
    const verdict = refusedQuietly(res, sent)
    if (verdict !== true) throw new Error(verdict)
  }), runs(600))
})
