/**
 * The request URI a DPoP proof's `htu` must name (RFC 9449 §4.3 check 9), compared after the
 * normalisations of RFC 3986 §6.2.2 (case, percent-encoding, dot segments) and §6.2.3 (default
 * port, empty path): WHATWG URL parsing does the case of scheme and host, the default port, the
 * empty path and dot segments; {@link normalizePercent} the rest.
 */

// RFC 3986 §2.3: unreserved characters, which a percent-encoding must not hide.
const UNRESERVED = /[A-Za-z0-9\-._~]/
const PERCENT = /%[0-9A-Fa-f]{2}/g

/** Percent-encodings upper-cased, and those of unreserved characters decoded (RFC 3986 §6.2.2.1–2). */
function normalizePercent (path: string): string {
  if (!path.includes('%')) return path
  return path.replace(PERCENT, (encoded) => {
    const char = String.fromCharCode(parseInt(encoded.slice(1), 16))
    return UNRESERVED.test(char) ? char : encoded.toUpperCase()
  })
}

/** An http(s) URI as scheme://host[:port]/path, normalised; its query and fragment dropped. `undefined`: not one. */
export function normalizeUri (uri: string): string | undefined {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return undefined
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') return undefined
  return `${url.protocol}//${url.host}${normalizePercent(url.pathname)}`
}

/** The path of a request-target, without its query (a request-target has no fragment). */
export function pathOf (target: string): string {
  const query = target.indexOf('?')
  return query === -1 ? target : target.slice(0, query)
}

/** Does `claimed` (a proof's htu) name `expected` (origin and path of the request)? The usual case, the same string, costs no parse. */
export function sameUri (claimed: string, expected: string): boolean {
  if (claimed === expected) return true
  const normalized = normalizeUri(claimed)
  return normalized !== undefined && normalized === normalizeUri(expected)
}
