/** Small value checks shared by option validation, route config, verifiers and the OpenAPI code. */
import { InvalidOptionError } from './errors.js'

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** An object that is not null and not an array (a JSON object, an options bag). */
export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Anything with a `then` method: a promise from any library, or a sync value otherwise. */
export function isThenable<T> (value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}

/** A string with at least one character. */
export function isNonEmptyString (value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

/** `options[name]`: an integer from `min` to `max`, or `fallback` when absent; a boot error otherwise. */
export function integerOption<F extends number | undefined> (path: string, options: Record<string, unknown>, name: string, min: number, max: number, fallback: F): number | F {
  const value = options[name]
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`${path}.${name} must be an integer from ${min} to ${max}`)
  }
  return value
}
