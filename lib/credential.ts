import type { FastifyRequest } from 'fastify'

/** A credential that is present but unusable; carries the fixed description of why. */
export class Malformed {
  readonly description: string
  constructor (description: string) {
    this.description = description
  }
}

/** What a scheme finds in a request: the token, nothing (`undefined`), or {@link Malformed}. */
export type Found = string | undefined | Malformed

/** Finds a scheme's credential in a request without verifying it. */
export type Extractor = (request: FastifyRequest) => Found

/**
 * How many header lines named `lowerName` the request carried. Node keeps only the first
 * `Authorization` line and joins others with ", ", so only the raw list tells.
 */
export function countHeaderLines (request: FastifyRequest, lowerName: string): number {
  const raw = request.raw.rawHeaders
  let count = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) count++
  }
  return count
}
