import { DEFAULT_SECRET_TOKEN, type ExternalIssuer } from './server.js'
import { demoAccounts, type Account } from './users.js'

/** What the start script takes from its environment. */
export interface StartConfig {
  readonly port: number
  readonly host: string
  readonly secretToken: string
}

/**
 * Reads PORT (default 3000), HOST (default 127.0.0.1: only this machine can connect) and
 * SECRET_TOKEN (default {@link DEFAULT_SECRET_TOKEN}). An empty PORT or HOST counts as unset;
 * an empty SECRET_TOKEN does not, and the plugin refuses it at boot.
 */
export function readConfig (env: Readonly<Record<string, string | undefined>>): StartConfig {
  const port = env.PORT === undefined || env.PORT === '' ? '3000' : env.PORT
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new RangeError('PORT must be an integer from 0 to 65535')
  return {
    port: Number(port),
    host: env.HOST === undefined || env.HOST === '' ? '127.0.0.1' : env.HOST,
    secretToken: env.SECRET_TOKEN ?? DEFAULT_SECRET_TOKEN
  }
}

/**
 * Reads EXTERNAL_ISSUER (an authorization server's issuer URL, exactly as its metadata names
 * it), EXTERNAL_AUDIENCE (this API's audience there; required with EXTERNAL_ISSUER) and
 * EXTERNAL_ALGORITHMS (comma-separated, default RS256). Unset or empty: no external issuer.
 */
export function readExternalIssuer (env: Readonly<Record<string, string | undefined>>): ExternalIssuer | undefined {
  const issuer = env.EXTERNAL_ISSUER ?? ''
  if (issuer === '') {
    if ((env.EXTERNAL_AUDIENCE ?? '') !== '' || (env.EXTERNAL_ALGORITHMS ?? '') !== '') throw new RangeError('EXTERNAL_AUDIENCE and EXTERNAL_ALGORITHMS need EXTERNAL_ISSUER')
    return undefined
  }
  const audience = env.EXTERNAL_AUDIENCE ?? ''
  if (audience === '') throw new RangeError('EXTERNAL_AUDIENCE must be this API\'s audience at EXTERNAL_ISSUER')
  const algorithms = (env.EXTERNAL_ALGORITHMS ?? '').split(',').map((alg) => alg.trim()).filter((alg) => alg !== '')
  return { issuer, audience, algorithms: algorithms.length === 0 ? ['RS256'] : algorithms }
}

/**
 * Reads PUBLIC_ORIGIN: the origin clients reach the server at (https://api.example behind a TLS
 * proxy), which DPoP proofs name. Unset or empty: each request's own origin. buildServer checks it.
 */
export function readPublicOrigin (env: Readonly<Record<string, string | undefined>>): string | undefined {
  return env.PUBLIC_ORIGIN === '' ? undefined : env.PUBLIC_ORIGIN
}

/** Reads BASE_URL for examples/dpop-client.ts: the server to log in to (default http://127.0.0.1:3000, where `npm start` listens). */
export function readClientBase (env: Readonly<Record<string, string | undefined>>): URL {
  return new URL(env.BASE_URL === undefined || env.BASE_URL === '' ? 'http://127.0.0.1:3000' : env.BASE_URL)
}

function describeAccount (account: Account): string {
  const credentials = `${account.username} / ${account.password}`.padEnd(20)
  return `  ${credentials}${account.disabled ? 'disabled account' : `scopes: ${account.scopes.join(' ')}`}`
}

/** What the start script prints once listening: the URL, the demo users and the X-Token. */
export function banner (url: string, config: StartConfig): string {
  // A configured token is a secret of the operator's: only the well-known default is shown.
  const token = config.secretToken === DEFAULT_SECRET_TOKEN ? DEFAULT_SECRET_TOKEN : '(the value of SECRET_TOKEN)'
  return [
    `Example server listening on ${url}`,
    '',
    'Demo users (POST /token, grant_type=password):',
    ...demoAccounts.map(describeAccount),
    `X-Token for GET /protected: ${token}`,
    ''
  ].join('\n')
}

/** The banner's line about the external issuer, if there is one. */
export function externalIssuerBanner (externalIssuer: ExternalIssuer | undefined): string {
  return externalIssuer === undefined ? '' : `Also accepted: access tokens of ${externalIssuer.issuer} (audience ${externalIssuer.audience})\n`
}
