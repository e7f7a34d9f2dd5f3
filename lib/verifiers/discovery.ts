import type { FastifyBaseLogger } from 'fastify'
import { InvalidOptionError, VerifierUnavailableError } from '../errors.js'
import { isPlainObject } from '../checks.js'
import { safeLog } from '../log.js'
import { allowedEndpoint } from './endpoint-url.js'

/**
 * Authorization server metadata, found from the issuer alone: OpenID Connect Discovery 1.0 §4
 * (`<issuer>/.well-known/openid-configuration`), else RFC 8414 §3.1
 * (`/.well-known/oauth-authorization-server` inserted before the issuer's path). Fetched lazily
 * (never at boot: the app starts while its issuer is down), with a timeout, cached, and fetched
 * again after a cooldown when a fetch failed. While none was ever fetched the verifier that
 * needs it is unavailable (503): it fails closed.
 */

/** The metadata endpoints a verifier may ask for (RFC 8414 §2, RFC 7662 §4 via RFC 8414 §2). */
export type EndpointName = 'jwks_uri' | 'introspection_endpoint'

/** Options of {@link discovery}, checked at boot by {@link checkIssuerUrl} and the caller. */
export interface DiscoveryOptions {
  /** The issuer identifier, exactly as the metadata's `issuer` must spell it. */
  readonly issuer: string
  /** The endpoints the caller needs: a document without one of them is a failed fetch. */
  readonly endpoints: readonly EndpointName[]
  /** Timeout of one fetch, in ms. @default 5000 */
  readonly timeout?: number
  /** Minimum ms between fetches after a failed one. @default 30000 */
  readonly cooldown?: number
  /** After this many ms the metadata is fetched again; if that fails, the metadata fetched before stays. @default 3600000 */
  readonly maxAge?: number
}

/** Validated metadata: the issuer, the endpoints asked for, and the whole (frozen) document. */
export interface Metadata {
  readonly issuer: string
  /** Every endpoint of {@link DiscoveryOptions.endpoints}, each an allowed URL. */
  readonly endpoints: ReadonlyMap<EndpointName, URL>
  readonly document: Readonly<Record<string, unknown>>
}

/** The metadata of one issuer, fetched when first needed. */
export interface Discovery {
  readonly issuer: string
  /**
   * The metadata: cached, else fetched now (concurrent callers share one fetch). Rejects with
   * {@link VerifierUnavailableError} when none could ever be fetched, after a log line that says what to fix.
   */
  metadata: (log: FastifyBaseLogger) => Promise<Metadata>
  /** The URL of one of the endpoints asked for (see {@link Discovery.metadata}). */
  endpoint: (name: EndpointName, log: FastifyBaseLogger) => Promise<URL>
}

const defaults = Object.freeze({ timeout: 5000, cooldown: 30_000, maxAge: 3_600_000 })

/** The rule of {@link checkIssuerUrl}, as a predicate. */
export function isIssuerUrl (issuer: unknown): issuer is string {
  return typeof issuer === 'string' && allowedEndpoint(issuer) !== undefined && !issuer.includes('?') && !issuer.includes('#')
}

/**
 * Checks an issuer that is to be discovered (RFC 8414 §2: a URL with the https scheme and no
 * query or fragment; http on a loopback host, for tests) and returns it unchanged: it is
 * compared exactly, never normalised.
 */
export function checkIssuerUrl (path: string, issuer: unknown): string {
  if (!isIssuerUrl(issuer)) {
    throw new InvalidOptionError(`${path} must be the issuer's URL (https:, or http: on a loopback host; no query or fragment) to use discovery`)
  }
  return issuer as string
}

/** Where the metadata may be, in the order tried: OpenID Connect Discovery first, then RFC 8414. */
export function metadataUrls (issuer: string): readonly URL[] {
  const url = new URL(issuer)
  // Both specifications remove a terminating '/' of the issuer's path first.
  const path = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname
  return [
    new URL(`${url.origin}${path}/.well-known/openid-configuration`),
    new URL(`${url.origin}/.well-known/oauth-authorization-server${path}`)
  ]
}

/** A fetch that failed, with what to fix; `absent`: the server says there is no document here. */
class DiscoveryFailure extends Error {
  override readonly name = 'DiscoveryFailure'
  constructor (message: string, readonly url: string, readonly absent = false, options?: ErrorOptions) {
    super(message, options)
  }
}

/** Does a JSON body look like a JWKS rather than metadata? For a log line that says what to fix. */
function looksLikeJwks (body: Record<string, unknown>): boolean {
  return Array.isArray(body.keys) && body.issuer === undefined
}

function validate (body: unknown, url: string, options: DiscoveryOptions): Metadata {
  if (!isPlainObject(body)) throw new DiscoveryFailure('the metadata is not a JSON object', url)
  if (looksLikeJwks(body)) throw new DiscoveryFailure('this is a JWKS, not authorization server metadata: configure it as jwksUrl, or configure the issuer URL for discovery', url)
  // RFC 8414 §3.3, OpenID Connect Discovery §4.3: exactly the configured issuer, or the metadata
  // is not this issuer's (an attacker's document, a mistyped tenant, a missing trailing slash).
  if (body.issuer !== options.issuer) {
    throw new DiscoveryFailure(typeof body.issuer === 'string'
      ? 'the metadata names another issuer: configure issuer exactly as the metadata\'s issuer (the trailing slash counts)'
      : 'the metadata has no issuer', url)
  }
  const endpoints = new Map<EndpointName, URL>()
  for (const name of options.endpoints) {
    if (body[name] === undefined) throw new DiscoveryFailure(`the metadata has no ${name}`, url)
    const endpoint = allowedEndpoint(body[name])
    if (endpoint === undefined) throw new DiscoveryFailure(`the metadata's ${name} is not an https: URL (http: is allowed on a loopback host only)`, url)
    endpoints.set(name, endpoint)
  }
  return Object.freeze({ issuer: options.issuer, endpoints, document: Object.freeze(body) })
}

async function fetchOne (url: URL, options: DiscoveryOptions, timeout: number): Promise<Metadata> {
  const signal = AbortSignal.timeout(timeout)
  let response: Response
  let text: string
  try {
    // A redirect is not followed: it could lead anywhere, http: included. Configure the final URL.
    response = await fetch(url, { headers: { accept: 'application/json' }, redirect: 'manual', signal })
    text = await response.text()
  } catch (err) {
    throw new DiscoveryFailure(signal.aborted ? `no answer within ${timeout} ms` : 'the server could not be reached', url.href, false, { cause: err })
  }
  if (response.status >= 300 && response.status < 400) throw new DiscoveryFailure(`the server answered a redirect (${response.status}); configure the issuer the metadata names`, url.href)
  if (response.status !== 200) throw new DiscoveryFailure(`the server answered ${response.status}`, url.href, response.status >= 400 && response.status < 500)
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (err) {
    throw new DiscoveryFailure('the answer is not JSON: is issuer the authorization server\'s issuer URL?', url.href, false, { cause: err })
  }
  return validate(body, url.href, options)
}

/** OpenID Connect Discovery, then RFC 8414 when the first is absent (a 4xx answer). */
async function fetchMetadata (options: DiscoveryOptions, timeout: number): Promise<Metadata> {
  const [oidc, oauth] = metadataUrls(options.issuer)
  try {
    return await fetchOne(oidc!, options, timeout)
  } catch (err) {
    if (!(err as DiscoveryFailure).absent) throw err
  }
  try {
    return await fetchOne(oauth!, options, timeout)
  } catch (err) {
    if (!(err as DiscoveryFailure).absent) throw err
    throw new DiscoveryFailure(`neither ${oidc!.href} nor this URL holds metadata (${(err as DiscoveryFailure).message}): is issuer the authorization server's issuer URL?`, oauth!.href)
  }
}

/**
 * The metadata of `options.issuer`, fetched lazily. A failed fetch is logged once (at warn, with
 * the URL and what to fix; never a token) and none is tried for `cooldown` ms; meanwhile the
 * metadata fetched before keeps being used, and with none fetched yet callers get a
 * {@link VerifierUnavailableError}. `options` must have been checked ({@link checkIssuerUrl}).
 */
export function discovery (options: DiscoveryOptions): Discovery {
  const timeout = options.timeout ?? defaults.timeout
  const cooldown = options.cooldown ?? defaults.cooldown
  const maxAge = options.maxAge ?? defaults.maxAge
  let current: Metadata | undefined
  let fetchedAt = -Infinity
  let failedAt = -Infinity
  let failure: unknown
  let pending: Promise<void> | undefined

  function refetch (log: FastifyBaseLogger): Promise<void> {
    pending ??= fetchMetadata(options, timeout).then((metadata) => {
      current = metadata
      fetchedAt = Date.now()
    }, (err: unknown) => {
      failedAt = Date.now()
      failure = err
      const { message, url } = err as DiscoveryFailure
      safeLog(log, 'warn', { err, issuer: options.issuer, url }, `fastify-protected-routes: the metadata of ${options.issuer} could not be fetched: ${message}`, { issuer: options.issuer, url })
    }).finally(() => { pending = undefined })
    return pending
  }

  async function metadata (log: FastifyBaseLogger): Promise<Metadata> {
    const now = Date.now()
    if ((current === undefined || now - fetchedAt >= maxAge) && now - failedAt >= cooldown) await refetch(log)
    if (current === undefined) throw new VerifierUnavailableError({ cause: failure })
    return current
  }

  return Object.freeze({
    issuer: options.issuer,
    metadata,
    async endpoint (name: EndpointName, log: FastifyBaseLogger): Promise<URL> {
      const url = (await metadata(log)).endpoints.get(name)
      // Only endpoints in options.endpoints are validated: asking for another is a bug here.
      if (url === undefined) throw new TypeError(`discovery of ${options.issuer} was not set up for ${name}`)
      return url
    }
  })
}
