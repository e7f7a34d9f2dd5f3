import type { FastifyBaseLogger } from 'fastify'
import type { LogLevel } from './types.js'

/**
 * Writes a log line that cannot change the answer. A logger may throw (a custom one, or pino
 * when a serializer reads an error whose `message` or `stack` getter throws, or a Proxy): then
 * the line is written again with `fallback` alone, and if that throws too it is dropped.
 */
export function safeLog (log: FastifyBaseLogger, level: LogLevel, fields: Record<string, unknown>, message: string, fallback: Record<string, unknown>): void {
  // Fastify's null logger (no logger configured) and custom loggers need not have `silent`.
  if (level === 'silent') return
  try {
    log[level](fields, message)
  } catch {
    try {
      log[level](fallback, `${message} (the entry could not be serialized)`)
    } catch {}
  }
}
