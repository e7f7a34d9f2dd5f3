import type { FastifyRequest } from 'fastify'
import { descriptions } from '../errors.js'
import { Malformed, rawHeader, rawHeaderLines, rawQuery, REPEATED, type Extractor, type Found } from '../credential.js'

// Visible US-ASCII only: no spaces, no controls, nothing a proxy could fold or trim.
const API_KEY = /^[\x21-\x7e]+$/
const malformed = new Malformed(descriptions.malformedApiKey)
const duplicate = new Malformed(descriptions.duplicateApiKey)
const tooLong = new Malformed(descriptions.credentialTooLong)

function check (value: string, maxTokenLength: number): Found {
  if (value.length > maxTokenLength) return tooLong
  return API_KEY.test(value) ? value : malformed
}

function headerExtractor (lowerName: string, maxTokenLength: number): Extractor {
  return function extractHeaderKey (request: FastifyRequest) {
    const value = rawHeader(request, lowerName)
    if (value === undefined) return undefined
    if (value === REPEATED) return duplicate
    return check(value, maxTokenLength)
  }
}

/**
 * Reads the key from the URL the client sent (WHATWG form-urlencoded rules), not from
 * `request.query`, which validation (`removeAdditional`), coercion or a hook may have changed.
 */
function queryExtractor (name: string, maxTokenLength: number): Extractor {
  return function extractQueryKey (request: FastifyRequest) {
    const query = rawQuery(request)
    if (query === undefined) return undefined
    const values = new URLSearchParams(query).getAll(name)
    if (values.length === 0) return undefined
    if (values.length > 1) return duplicate
    return check(values[0] as string, maxTokenLength)
  }
}

/** Reads one cookie by name from the Cookie header (RFC 6265 §4.2.1), noticing repeats. */
function cookieExtractor (name: string, maxTokenLength: number): Extractor {
  return function extractCookieKey (request: FastifyRequest) {
    // Node joins Cookie lines with '; ' too (RFC 6265 §5.4).
    const header = rawHeaderLines(request, 'cookie', '; ')
    if (header === undefined) return undefined
    let found: string | undefined
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=')
      if (eq === -1 || pair.slice(0, eq).trim() !== name) continue
      if (found !== undefined) return duplicate
      let value = pair.slice(eq + 1).trim()
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
      found = value
    }
    return found === undefined ? undefined : check(found, maxTokenLength)
  }
}

/** Finds an API key where the scheme says it goes. */
export function apiKeyExtractor (location: 'header' | 'query' | 'cookie', name: string, maxTokenLength: number): Extractor {
  if (location === 'header') return headerExtractor(name.toLowerCase(), maxTokenLength)
  if (location === 'query') return queryExtractor(name, maxTokenLength)
  return cookieExtractor(name, maxTokenLength)
}

/** Could a request present this value as an API key? */
export function isApiKey (value: string): boolean {
  return API_KEY.test(value)
}
