import type { FastifyBaseLogger } from 'fastify'
import type { LogLevel } from './types.js'

/**
 * Writes a log line that cannot change the answer. A logger may throw (a custom one, or pino
 * when a serializer reads an error whose `message` or `stack` getter throws, or a Proxy): then
 * the line is written again with `fallback` alone, and if that throws too it is dropped.
 * Returns whether `fields` could be written.
 */
export function safeLog (log: FastifyBaseLogger, level: LogLevel, fields: Record<string, unknown>, message: string, fallback: Record<string, unknown>): boolean {
  try {
    log[level](fields, message)
    return true
  } catch {
    try {
      log[level](fallback, `${message} (the entry could not be serialized)`)
    } catch {}
    return false
  }
}
