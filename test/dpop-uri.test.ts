import t from 'tap'
import fc from 'fast-check'
import { normalizeUri, pathOf, sameUri } from '../lib/dpop/uri.js'

// The htu comparison of RFC 9449 §4.3 check 9: URIs equal after RFC 3986 §6.2.2 and §6.2.3
// normalisation, their query and fragment left out; anything that is not an http(s) URI
// without credentials names nothing.

t.test('scheme and host compare without case, the port without its default, the empty path as /', async (t) => {
  const cases: Array<[string, string]> = [
    ['HTTPS://API.Example/me', 'https://api.example/me'],
    ['https://api.example:443/me', 'https://api.example/me'],
    ['http://api.example:80/me', 'http://api.example/me'],
    ['https://api.example:80/me', 'https://api.example:80/me'],
    ['http://api.example:443/me', 'http://api.example:443/me'],
    ['https://api.example:08443/me', 'https://api.example:8443/me'],
    ['https://api.example', 'https://api.example/'],
    ['https://api.example:443', 'https://api.example/'],
    ['https://api.example.', 'https://api.example./'],
    ['http://127.0.0.1:3000/me', 'http://127.0.0.1:3000/me'],
    ['http://[::1]:80/me', 'http://[::1]/me']
  ]
  for (const [uri, normalised] of cases) t.equal(normalizeUri(uri), normalised, uri)
})

t.test('the path: dot segments removed, unreserved characters decoded, other percent-encodings upper-cased', async (t) => {
  const cases: Array<[string, string]> = [
    ['https://a.example/a/./b/../c', 'https://a.example/a/c'],
    ['https://a.example/a/b/..', 'https://a.example/a/'],
    ['https://a.example/../../me', 'https://a.example/me'],
    ['https://a.example/a/%2e/b/%2E%2e/c', 'https://a.example/a/c'],
    ['https://a.example/%7Euser', 'https://a.example/~user'],
    ['https://a.example/%7euser', 'https://a.example/~user'],
    ['https://a.example/~user', 'https://a.example/~user'],
    ['https://a.example/%41%62%30%2D%5F%2e', 'https://a.example/Ab0-_.'],
    ['https://a.example/a%2fb', 'https://a.example/a%2Fb'],
    ['https://a.example/a%2Fb', 'https://a.example/a%2Fb'],
    ['https://a.example/caf%c3%a9', 'https://a.example/caf%C3%A9'],
    ['https://a.example/café', 'https://a.example/caf%C3%A9'],
    ['https://a.example/a%20b', 'https://a.example/a%20b'],
    ['https://a.example/a b', 'https://a.example/a%20b'],
    ['https://a.example/%25', 'https://a.example/%25'],
    ['https://a.example/100%', 'https://a.example/100%'],
    ['https://a.example/%zz%4', 'https://a.example/%zz%4'],
    ['https://a.example/%', 'https://a.example/%'],
    ['https://a.example//a//', 'https://a.example//a//']
  ]
  for (const [uri, normalised] of cases) t.equal(normalizeUri(uri), normalised, uri)
})

t.test('query and fragment are not part of what a proof names', async (t) => {
  for (const uri of ['https://a.example/me?x=1', 'https://a.example/me?', 'https://a.example/me#top', 'https://a.example/me?x=1#top', 'https://a.example/me#?x']) {
    t.equal(normalizeUri(uri), 'https://a.example/me', uri)
  }
})

t.test('not an http(s) URI without credentials: undefined', async (t) => {
  const cases = [
    'https://user@a.example/me',
    'https://user:pw@a.example/me',
    'https://:pw@a.example/me',
    'ftp://a.example/me',
    'wss://a.example/me',
    'file:///etc/passwd',
    'data:text/plain,me',
    'urn:example:me',
    'javascript:alert(1)',
    '',
    'not a uri',
    '/me',
    '//a.example/me',
    'https://',
    'https://a b.example/me',
    'https://[::1/me',
    'http://a.example:65536/me'
  ]
  for (const uri of cases) t.equal(normalizeUri(uri), undefined, uri)
})

t.test('sameUri: the same string at once, else both normalised', async (t) => {
  t.ok(sameUri('https://a.example/me', 'https://a.example/me'))
  t.ok(sameUri('HTTPS://A.example:443/./x/../me?q#f', 'https://a.example/me'))
  t.ok(sameUri('https://a.example/%7e', 'https://a.example/~'))
  t.ok(sameUri('https://a.example/a%2fb', 'https://a.example/a%2Fb'))
  t.notOk(sameUri('https://a.example/a%2Fb', 'https://a.example/a/b'), 'an encoded slash is not a separator')
  t.notOk(sameUri('https://a.example/Me', 'https://a.example/me'), 'the path keeps its case')
  t.notOk(sameUri('https://a.example/me', 'http://a.example/me'))
  t.notOk(sameUri('https://a.example/me', 'https://b.example/me'))
  t.notOk(sameUri('https://a.example:8443/me', 'https://a.example/me'))
  t.notOk(sameUri('https://a.example/me/', 'https://a.example/me'))
  t.notOk(sameUri('not a uri', 'https://a.example/me'), 'a claim that is no URI names nothing')
  t.notOk(sameUri('https://user@a.example/me', 'https://a.example/me'))
  t.notOk(sameUri('ftp://A.example/me', 'ftp://a.example/me'), 'two non-http URIs are not compared')
  t.notOk(sameUri('https://a.example/me', 'not a uri'))
})

t.test('pathOf: the request-target without its query', async (t) => {
  const cases: Array<[string, string]> = [
    ['/me', '/me'],
    ['/me?x=1', '/me'],
    ['/me?x=1?y=2', '/me'],
    ['/me?', '/me'],
    ['/', '/'],
    ['/?x', '/'],
    ['/a%3Fb?c', '/a%3Fb'],
    ['*', '*']
  ]
  for (const [target, path] of cases) t.equal(pathOf(target), path, target)
})

// Paths of unreserved characters and percent-encodings, for the properties below.
const UNRESERVED = [...'ABCXYZabcxyz0189-._~']

interface Piece {
  /** An unreserved character, or a byte that is percent-encoded. */
  readonly value: string | number
  readonly upper: boolean
  /** In the variant: percent-encode this unreserved character. */
  readonly encode: boolean
}

const piece: fc.Arbitrary<Piece> = fc.record({
  value: fc.oneof(fc.constantFrom(...UNRESERVED), fc.constantFrom(0x2e, 0x2f, 0x25, 0x3f, 0x23, 0x20, 0x41, 0x7e), fc.integer({ min: 0, max: 255 })),
  upper: fc.boolean(),
  encode: fc.boolean()
})
const segments = fc.array(fc.array(piece, { maxLength: 6 }), { minLength: 1, maxLength: 5 })

function hex (byte: number, upper: boolean): string {
  const digits = byte.toString(16).padStart(2, '0')
  return `%${upper ? digits.toUpperCase() : digits}`
}

function render (path: Piece[][], variant: boolean): string {
  return '/' + path.map((segment) => segment.map(({ value, upper, encode }) => {
    if (typeof value === 'number') return hex(value, variant ? !upper : upper)
    return variant && encode ? hex(value.charCodeAt(0), !upper) : value
  }).join('')).join('/')
}

/** The path as the bytes of each segment: what two equivalent URIs share. */
function decoded (path: Piece[][]): string {
  return JSON.stringify(path.map((segment) => segment.map(({ value }) => typeof value === 'number' ? value : value.charCodeAt(0))))
}

/** A dot segment, however it is spelt, is removed (RFC 3986 §5.2.4): such paths are equal undecoded. */
function hasDotSegment (path: Piece[][]): boolean {
  return path.some((segment) => segment.length > 0 && segment.length <= 2 && segment.every(({ value }) => value === '.' || value === 0x2e))
}

t.test('property: a URI and its variant with hex case flipped and unreserved characters percent-encoded are the same', async (t) => {
  fc.assert(fc.property(segments, (path) => {
    const uri = `https://api.example${render(path, false)}`
    const variant = `HTTPS://API.EXAMPLE:443${render(path, true)}?q=1`
    return sameUri(variant, uri) && sameUri(uri, variant) && normalizeUri(uri) === normalizeUri(variant)
  }), { numRuns: 1000 })
  t.pass('1000 paths')
})

// One change to a path: a piece replaced, added or removed, or a segment split in two.
const mutation = fc.record({
  kind: fc.constantFrom('replace', 'insert', 'delete', 'split'),
  segment: fc.nat(),
  at: fc.nat(),
  piece
})

function mutate (path: Piece[][], { kind, segment, at, piece }: { kind: string, segment: number, at: number, piece: Piece }): Piece[][] {
  const copy = path.map((pieces) => [...pieces])
  const index = segment % copy.length
  const pieces = copy[index]!
  const position = at % (pieces.length + 1)
  if (kind === 'replace' && position < pieces.length) pieces[position] = piece
  else if (kind === 'delete' && position < pieces.length) pieces.splice(position, 1)
  else if (kind === 'split') copy.splice(index, 1, pieces.slice(0, position), pieces.slice(position))
  else pieces.splice(position, 0, piece)
  return copy
}

t.test('property: URIs whose paths differ once decoded are not the same, however they are spelt', async (t) => {
  let compared = 0
  fc.assert(fc.property(segments, mutation, fc.boolean(), (path, change, spelt) => {
    const other = mutate(path, change)
    fc.pre(!hasDotSegment(path) && !hasDotSegment(other) && decoded(path) !== decoded(other))
    compared++
    const uri = `https://api.example${render(path, false)}`
    const different = `https://api.example${render(other, spelt)}`
    return !sameUri(different, uri) && !sameUri(uri, different)
  }), { numRuns: 1000 })
  t.ok(compared >= 500, `${compared} pairs compared`)
})
