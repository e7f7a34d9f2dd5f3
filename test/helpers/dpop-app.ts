// The resource-server side of the DPoP interop tests: the exact challenges and bodies of the
// contract, and the assertion of a whole refusal as a client on the wire sees it.
import type { Test } from 'tap'
import { errorBody } from './app.js'
import type { WireResponse } from './dpop-client.js'

/** The default proof algorithms, in the order the challenge lists them. */
export const DEFAULT_ALGS = ['ES256', 'PS256', 'EdDSA', 'RS256'] as const

/** The DPoP challenge with no error attribute. */
export function dpopChallenge (algs: readonly string[] = DEFAULT_ALGS): string {
  return `DPoP algs="${algs.join(' ')}"`
}

/** A DPoP challenge with an error (RFC 9449 §7.1) and, for insufficient_scope, the scope. */
export function dpopError (error: string, description: string, { algs = DEFAULT_ALGS, scope }: { algs?: readonly string[], scope?: string } = {}): string {
  const value = `${dpopChallenge(algs)}, error="${error}", error_description="${description}"`
  return scope === undefined ? value : `${value}, scope="${scope}"`
}

export const BEARER = 'Bearer realm="api"'

/** The error code and status of each refusal a DPoP request may get. */
const codes = {
  invalid_dpop_proof: [401, 'FST_PROTECTED_ROUTES_INVALID_DPOP_PROOF'],
  use_dpop_nonce: [401, 'FST_PROTECTED_ROUTES_USE_DPOP_NONCE'],
  invalid_token: [401, 'FST_PROTECTED_ROUTES_INVALID_TOKEN'],
  invalid_request: [400, 'FST_PROTECTED_ROUTES_INVALID_REQUEST'],
  insufficient_scope: [403, 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE']
} as const

/** Asserts status, every WWW-Authenticate line (exactly these, in this order) and the whole body. */
export function assertAnswer (t: Test, res: WireResponse, error: keyof typeof codes, message: string, challenges: readonly string[]): void {
  const [status, code] = codes[error]
  t.equal(res.status, status, 'status')
  t.same(res.lines('www-authenticate'), challenges, 'challenges')
  t.same(res.json(), errorBody(status, code, message), 'body')
}
