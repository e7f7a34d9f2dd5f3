import { DEFAULT_SECRET_TOKEN } from './server.js'
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
