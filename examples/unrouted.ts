import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

/**
 * Fastify's default answers to a request that reaches no route echo its URL, query string
 * included: the 404 says `Route GET:/user/me?access_token=… not found` (and logs it), and a
 * URL that cannot be decoded answers `'/%zz?password=…' is not a valid url component`. A
 * mistyped URL can carry a credential (RFC 6750 §2.3 access_token, a password in a link), so
 * these answers and their log lines say what happened and nothing of what was sent.
 */

/** `setNotFoundHandler`: a 404 in Fastify's shape, without the method and URL it would echo. */
export function notFound (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  request.log.info('route not found')
  return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'Route not found' })
}

/**
 * Fastify's `frameworkErrors`: the router could not take the request (FST_ERR_BAD_URL, the only
 * one this app can meet; FST_ERR_MAX_PARAM_LENGTH and FST_ERR_ASYNC_CONSTRAINT need routes it
 * does not have). Their messages hold the path and query, so neither the answer nor the log
 * line carries the message: the status and code say what went wrong.
 */
export function frameworkError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // Every framework error Fastify passes here has its status.
  const statusCode = error.statusCode!
  request.log.info({ code: error.code }, 'request refused before routing')
  return reply.code(statusCode).send({ statusCode, code: error.code, error: STATUS_CODES[statusCode], message: 'The request URL cannot be routed' })
}
