import type { FastifyBaseLogger } from 'fastify'
import { VerifierFailedError, VerifierUnavailableError } from '../errors.js'
import { safeLog } from '../log.js'
import { isPlainObject } from '../checks.js'
import type { IntrospectionConfig } from './introspection-config.js'

/**
 * One call to the introspection endpoint: the parsed response, a JSON object. Throws
 * {@link VerifierUnavailableError} when the endpoint is down, slow, answers 5xx or something
 * that is not a JSON object (503: it may be back soon), {@link VerifierFailedError} when it
 * refuses this API's own request (a configuration error: 500, logged with what to fix).
 */
export type Introspect = (token: string, log: FastifyBaseLogger) => Promise<Record<string, unknown>>

/** Where the endpoint is: the configured `url`, or one found by discovery. */
export type EndpointOf = (log: FastifyBaseLogger) => URL | Promise<URL>

/** RFC 6749 Appendix B: application/x-www-form-urlencoded, as URLSearchParams writes it. */
function formEncode (value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1)
}

// RFC 6749 §5.2 error codes are %x20-21 / %x23-5B / %x5D-7E; anything else the server sent is
// not repeated in our log.
const ERROR_CODE = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/

/** The `error` of an RFC 6749 §5.2 error response, when the body is one. */
function errorCode (body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body)
    const code = isPlainObject(parsed) ? parsed.error : undefined
    return typeof code === 'string' && ERROR_CODE.test(code) ? code : undefined
  } catch {
    return undefined
  }
}

/** What to fix, for an answer that says our own request is wrong. */
function configurationProblem (path: string, endpoint: string, status: number, code: string | undefined): string {
  const said = `the introspection endpoint answered ${status}${code === undefined ? '' : ` ${code}`}`
  if (status === 401 || status === 403 || code === 'invalid_client' || code === 'unauthorized_client') {
    return `${said}: it does not accept this API's client credentials; check ${path}.clientId, ${path}.clientSecret and ${path}.auth (the client's token endpoint auth method)`
  }
  if (status >= 300 && status < 400) return `${said}, a redirect: ${endpoint} must be the endpoint's final address`
  return `${said}: check ${endpoint} and that this client may introspect tokens`
}

/**
 * The RFC 7662 §2.1 request, with Node's fetch: a form POST of `token` and
 * `token_type_hint=access_token`, the client authenticated as RFC 6749 §2.3.1 says. Redirects
 * are not followed (a POST with credentials goes to the configured address only). The
 * Authorization header and the body's fixed part are built once here.
 */
export function introspectionClient (config: IntrospectionConfig, endpointOf: EndpointOf): Introspect {
  const { path, timeout } = config
  const endpoint = config.url === undefined
    ? `the introspection_endpoint in the metadata of ${config.issuer!}`
    : `${path}.url (the server's introspection_endpoint)`
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json'
  }
  let credentials = ''
  if (config.auth === 'client_secret_basic') {
    // RFC 6749 §2.3.1: the id and the secret are form-urlencoded before they are joined and base64-encoded.
    headers.authorization = `Basic ${Buffer.from(`${formEncode(config.clientId)}:${formEncode(config.clientSecret)}`).toString('base64')}`
  } else {
    credentials = `&client_id=${formEncode(config.clientId)}&client_secret=${formEncode(config.clientSecret)}`
  }
  // A configuration error is logged once until the endpoint answers again: a stream of requests
  // cannot flood the log (each still gets its 500, whose log line carries the same cause).
  let reported = false

  function misconfigured (log: FastifyBaseLogger, url: URL, status: number, code: string | undefined): Error {
    const message = `fastify-protected-routes: configuration error: ${configurationProblem(path, endpoint, status, code)}`
    if (!reported) safeLog(log, 'error', { introspectionUrl: url.href, status }, message, { status })
    reported = true
    return new VerifierFailedError({ cause: new Error(message) })
  }

  return async function introspect (token, log) {
    const url = await endpointOf(log)
    let response: Response
    let body: string
    try {
      // One signal for the whole exchange: the headers and the body.
      response = await fetch(url, {
        method: 'POST',
        headers,
        body: `token=${formEncode(token)}&token_type_hint=access_token${credentials}`,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeout)
      })
      body = await response.text()
    } catch (err) {
      // Refused, reset, unresolvable, or past the timeout: the server may be back soon.
      throw new VerifierUnavailableError({ cause: err })
    }
    if (response.status >= 500 || response.status === 429) {
      throw new VerifierUnavailableError({ cause: new Error(`the introspection endpoint ${url.href} answered ${response.status}`) })
    }
    if (response.status !== 200) throw misconfigured(log, url, response.status, response.status === 400 ? errorCode(body) : undefined)
    reported = false
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch {
      parsed = undefined
    }
    // RFC 7662 §2.2: a JSON object. Anything else (an HTML error page from a proxy) says nothing of the token.
    if (!isPlainObject(parsed)) throw new VerifierUnavailableError({ cause: new Error(`the introspection endpoint ${url.href} answered 200 with something that is not a JSON object`) })
    return parsed
  }
}
