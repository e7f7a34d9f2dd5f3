/**
 * The one rule for every URL this plugin fetches (a JWKS, discovery metadata, an introspection
 * endpoint): `https:`, or `http:` on a loopback host only, so no key or token crosses a network
 * in the clear.
 */
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost'])

/** May this URL be fetched? */
export function isAllowedEndpoint (url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))
}

/** The value as an absolute URL that {@link isAllowedEndpoint} allows, or `undefined`. */
export function allowedEndpoint (value: unknown): URL | undefined {
  if (typeof value !== 'string' && !(value instanceof URL)) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  return isAllowedEndpoint(url) ? url : undefined
}
