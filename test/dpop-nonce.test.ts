import t from 'tap'
import { createHmac } from 'node:crypto'
import { NONCE_WINDOW_MS, Nonces } from '../lib/dpop/nonce.js'

// RFC 9449 §9 server nonces: a pure function of the secret and the five-minute window, so every
// instance agrees without sharing state; the window before is still accepted.

const SECRET = 'nonce-secret-0123456789abcdef-0123456789'
const OTHER = 'another-secret-0123456789abcdef-012345678'
// The start of a window, in epoch ms, in a year a clock reads.
const START = Math.ceil(1_750_000_000_000 / NONCE_WINDOW_MS) * NONCE_WINDOW_MS

/** The nonce of `window`, computed here as the doc of Nonces says it is. */
function expected (secret: string, window: number): string {
  return createHmac('sha256', secret).update(String(window)).digest('base64url')
}

t.test('a window is five minutes, and its nonce the HMAC-SHA-256 of its number: 43 base64url characters', async (t) => {
  t.equal(NONCE_WINDOW_MS, 300_000)
  const nonces = new Nonces(SECRET)
  const window = START / NONCE_WINDOW_MS
  t.equal(nonces.current(START), expected(SECRET, window))
  t.match(nonces.current(START), /^[A-Za-z0-9_-]{43}$/)
  t.equal(nonces.current(START + NONCE_WINDOW_MS - 1), expected(SECRET, window), 'the same until the last millisecond of the window')
  t.equal(nonces.current(START + NONCE_WINDOW_MS), expected(SECRET, window + 1), 'the next from its first')
})

t.test('two instances with the same secret hand out and accept the same nonces', async (t) => {
  const a = new Nonces(SECRET)
  const b = new Nonces(SECRET)
  t.equal(a.current(START + 1234), b.current(START + 1234))
  t.equal(b.check(a.current(START + 5), START + 60_000), 'current')
  t.equal(a.check(b.current(START + 5), START + NONCE_WINDOW_MS + 5), 'previous')
})

t.test('check: the current nonce, the previous window\'s, or neither', async (t) => {
  const issuer = new Nonces(SECRET)
  const older = issuer.current(START - 2 * NONCE_WINDOW_MS)
  const previous = issuer.current(START - NONCE_WINDOW_MS)
  const current = issuer.current(START)
  const next = issuer.current(START + NONCE_WINDOW_MS)

  const nonces = new Nonces(SECRET)
  t.equal(nonces.check(current, START), 'current')
  t.equal(nonces.check(previous, START), 'previous')
  t.equal(nonces.check(older, START), undefined, 'two windows back is too old')
  t.equal(nonces.check(next, START), undefined, 'a nonce of a window to come is not one yet')
  for (const other of [undefined, null, '', 'nonce', 42, [current], { current }, current.slice(1), `${current} `, current.toUpperCase()]) {
    t.equal(nonces.check(other, START), undefined, JSON.stringify(other))
  }
})

t.test('the window turning by one: the old current becomes the previous', async (t) => {
  const nonces = new Nonces(SECRET)
  const first = nonces.current(START + 10)
  t.equal(nonces.check(first, START + NONCE_WINDOW_MS - 1), 'current')
  const second = nonces.current(START + NONCE_WINDOW_MS)
  t.not(second, first)
  t.equal(nonces.check(first, START + NONCE_WINDOW_MS), 'previous')
  t.equal(nonces.check(second, START + NONCE_WINDOW_MS), 'current')
  t.equal(nonces.check(first, START + 2 * NONCE_WINDOW_MS), undefined, 'and one more window later, neither')
  t.equal(nonces.check(second, START + 2 * NONCE_WINDOW_MS), 'previous')
})

t.test('the window turning after a gap: the previous is the window just before, not the last one seen', async (t) => {
  const nonces = new Nonces(SECRET)
  const seen = nonces.current(START)
  const later = START + 5 * NONCE_WINDOW_MS + 7
  t.equal(nonces.check(seen, later), undefined, 'the last nonce seen is long gone')
  t.equal(nonces.check(expected(SECRET, START / NONCE_WINDOW_MS + 4), later), 'previous')
  t.equal(nonces.current(later), expected(SECRET, START / NONCE_WINDOW_MS + 5))

  // An instance that saw every window agrees with one that saw none of them.
  const steady = new Nonces(SECRET)
  for (let window = 0; window <= 5; window++) steady.current(START + window * NONCE_WINDOW_MS)
  const fresh = new Nonces(SECRET)
  t.equal(fresh.current(later), steady.current(later))
  t.equal(fresh.check(steady.current(later - NONCE_WINDOW_MS), later), 'previous')
})

t.test('a clock stepped back: the window it reads is the one computed', async (t) => {
  const nonces = new Nonces(SECRET)
  nonces.current(START + 3 * NONCE_WINDOW_MS)
  t.equal(nonces.current(START), expected(SECRET, START / NONCE_WINDOW_MS))
  t.equal(nonces.check(expected(SECRET, START / NONCE_WINDOW_MS - 1), START), 'previous')
})

t.test('different secrets give different nonces, and neither accepts the other\'s', async (t) => {
  const a = new Nonces(SECRET)
  const b = new Nonces(OTHER)
  t.not(a.current(START), b.current(START))
  t.equal(a.check(b.current(START), START), undefined)
  t.equal(b.check(a.current(START), START), undefined)
  t.equal(a.check(b.current(START - NONCE_WINDOW_MS), START), undefined, 'nor the previous one')
})

t.test('in the very first window (a clock at 1970) the previous nonce is window -1\'s, never the empty string', async (t) => {
  const nonces = new Nonces(SECRET)
  t.equal(nonces.check('', 0), undefined)
  t.equal(nonces.check(expected(SECRET, -1), 1), 'previous')
})
