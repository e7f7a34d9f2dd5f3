import type { FastifyRequest } from 'fastify'
import { descriptions } from '../errors.js'
import { Malformed, rawHeader, REPEATED, type Extractor } from '../credential.js'

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const BEARER = 'bearer'
const malformed = new Malformed(descriptions.malformedAuthorization)
const duplicate = new Malformed(descriptions.duplicateAuthorization)
const tooLong = new Malformed(descriptions.credentialTooLong)

/** Is this Authorization value one whose auth-scheme is Bearer (any letter case)? */
function isBearer (header: string): boolean {
  // `bearer` in any letter case, without a lower-cased copy: OR-ing 0x20 maps A-Z to a-z and
  // maps no other character onto a lower-case letter.
  if (header.length < 6) return false
  for (let i = 0; i < 6; i++) {
    if ((header.charCodeAt(i) | 0x20) !== BEARER.charCodeAt(i)) return false
  }
  if (header.length === 6) return true
  const next = header.charCodeAt(6)
  // RFC 9110 §11.4: the scheme ends at SP; a tab or other whitespace there is a malformed bearer
  // credential rather than some other scheme called "Bearer\t…".
  return next === 0x20 || next === 0x09 || next === 0x0b || next === 0x0c || next === 0x0d || next === 0x0a
}

/** Finds `Authorization: Bearer <b64token>`, refusing what RFC 6750 §2.1 does not allow. */
export function bearerExtractor (maxTokenLength: number): Extractor {
  return function extractBearer (request: FastifyRequest) {
    const header = rawHeader(request, 'authorization')
    if (header === undefined) return undefined
    if (header === REPEATED) return duplicate
    if (!isBearer(header)) return undefined
    let start = 6
    while (header.charCodeAt(start) === 0x20) start++
    if (start === 6) return malformed
    const token = header.slice(start)
    if (token.length > maxTokenLength) return tooLong
    return B64TOKEN.test(token) ? token : malformed
  }
}

/** Could a request present this token as a bearer credential? */
export function isBearerToken (token: string): boolean {
  return B64TOKEN.test(token)
}
