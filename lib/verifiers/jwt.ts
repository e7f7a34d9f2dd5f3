import { InvalidOptionError } from '../errors.js'
import type { JwtOptions } from './jwt-options.js'
import type { Verifier } from './verifier.js'

/** Placeholder until the JWT verifier lands: configuring `jwt` stops the boot. */
export async function jwtVerifier (schemeName: string, _options: JwtOptions): Promise<Verifier> {
  throw new InvalidOptionError(`schemes.${schemeName}.jwt is not available yet`)
}
