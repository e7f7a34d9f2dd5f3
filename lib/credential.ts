import type { FastifyRequest } from 'fastify'

/** A credential that is present but unusable; carries the fixed description of why. */
export class Malformed {
  readonly description: string
  /** Is it about DPoP (the answer's challenge is then the DPoP one)? */
  readonly dpop: boolean
  constructor (description: string, dpop = false) {
    this.description = description
    this.dpop = dpop
  }
}

/** `Authorization: DPoP <token>` (RFC 9449 §7.1) and the request's one `DPoP` proof, if any. */
export class DpopCredential {
  readonly token: string
  readonly proof: string | undefined
  constructor (token: string, proof: string | undefined) {
    this.token = token
    this.proof = proof
  }
}

/** A credential as found: a token (a bearer token, an API key), or a DPoP token with its proof. */
export type Credential = string | DpopCredential

/** The token of a credential. */
export function tokenOf (credential: Credential): string {
  return typeof credential === 'string' ? credential : credential.token
}

/** What a scheme finds in a request: the credential, nothing (`undefined`), or {@link Malformed}. */
export type Found = Credential | undefined | Malformed

/** Finds a scheme's credential in a request without verifying it. */
export type Extractor = (request: FastifyRequest) => Found

/** A header sent on more than one line. */
export const REPEATED = Symbol('repeated header')

/**
 * The value of the header `lowerName` as the client sent it: `undefined` when absent,
 * {@link REPEATED} when it came on two or more lines. Read from the raw header list, never
 * from `request.headers`, which a hook may have set (Fastify keeps such values apart from
 * the raw ones) or changed in place, and which keeps only the first `Authorization` line.
 */
export function rawHeader (request: FastifyRequest, lowerName: string): string | undefined | typeof REPEATED {
  const raw = request.raw.rawHeaders
  let value: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) {
      if (value !== undefined) return REPEATED
      value = raw[i + 1] as string
    }
  }
  return value
}

/** Every line of the header `lowerName` as the client sent it, joined with `separator`; `undefined` when absent. */
export function rawHeaderLines (request: FastifyRequest, lowerName: string, separator: string): string | undefined {
  const raw = request.raw.rawHeaders
  let value: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) {
      value = value === undefined ? raw[i + 1] as string : `${value}${separator}${raw[i + 1] as string}`
    }
  }
  return value
}

/** The raw query string the client sent (after `?`), or `undefined` when the URL has none. */
export function rawQuery (request: FastifyRequest): string | undefined {
  // An HTTP server's request always has a URL: the request-target, which holds no fragment.
  const url = request.raw.url as string
  const start = url.indexOf('?')
  return start === -1 ? undefined : url.slice(start + 1)
}
