import type { FastifyRequest } from 'fastify'

/** A writable that receives one JSON log line per call (pino's destination). */
export interface LogStream {
  write (line: string): void
}

/** `false` (the default) for no log; `true` for pino at info on stdout; or a level and a destination. */
export type LoggerOption = boolean | { level?: string, stream?: LogStream } | undefined

/**
 * The request as logged: the fields Fastify's own serializer logs (method, url, host, remote
 * address and port), and no header beyond Host. A header list with the credentials redacted
 * logs every credential the list did not foresee: a token sent as `Authorisation`,
 * `X-Authorization` or `X-Api-Key` by a client that misspelt the name, a session cookie under
 * a name of its own. Not Fastify's `version` either: it is the Accept-Version header.
 *
 * Not the URL: the query string carries credentials (RFC 6750 §2.3 access_token, or a client
 * that puts a password in the URL), and so can a path that no route matched. The route's own
 * pattern (`/users/me`) is what this app declared; a request that reached no route has none.
 */
export function serializeRequest (request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: request.routeOptions.url,
    // The authority the client asked for (RFC 9110 §7.2): the name of this server, not a credential.
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket.remotePort
  }
}

/** An error as logged. */
export interface LoggedError {
  readonly type: string
  readonly message: string
  readonly stack: string | undefined
  readonly code: unknown
  readonly statusCode: unknown
  readonly cause?: LoggedError | undefined
}

// Deep enough for the app's chains (a 503 whose cause is a Redis error); a cycle ends here.
const MAX_CAUSES = 4

/**
 * An error as logged: what it is, its message, stack and cause. Not its other properties, as
 * pino's serializer would: a validation error's `validation` holds the names of the query
 * parameters it refused, and a query parameter's name can be a credential (`/logout?<token>`).
 */
export function serializeError (err: Error & { code?: unknown, statusCode?: unknown }, depth = 0): LoggedError {
  const { cause } = err
  return {
    type: err.name,
    message: err.message,
    stack: err.stack,
    code: err.code,
    statusCode: err.statusCode,
    cause: cause instanceof Error && depth < MAX_CAUSES ? serializeError(cause, depth + 1) : undefined
  }
}

/** Fastify's `logger` option for {@link LoggerOption}. */
export function loggerOptions (logger: LoggerOption): Record<string, unknown> | false {
  if (logger === false || logger === undefined) return false
  return { level: 'info', ...(logger === true ? {} : logger), serializers: { req: serializeRequest, err: serializeError } }
}
