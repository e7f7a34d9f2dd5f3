import { isPlainObject } from '../checks.js'
import { JKT } from '../stores/token-store.js'

/**
 * The DPoP key a token is bound to, from its RFC 7800 `cnf` (a JWT claim, RFC 9449 §6.1, or an
 * introspection member, §6.2): `undefined` when it has none, `null` for any other confirmation
 * (a certificate, RFC 8705 `x5t#S256`; several methods; a malformed `jkt`), which this plugin
 * cannot check: such a token is refused rather than accepted without it.
 */
export function boundKey (cnf: unknown): string | undefined | null {
  if (cnf === undefined) return undefined
  return isPlainObject(cnf) && typeof cnf.jkt === 'string' && JKT.test(cnf.jkt) && Object.keys(cnf).length === 1 ? cnf.jkt : null
}
