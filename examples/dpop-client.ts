import * as oauth from 'oauth4webapi'
import { readClientBase } from './config.js'
import { ISSUER } from './server.js'

// `npx tsx examples/dpop-client.ts`, with the server running (`npm start`): logs in as alice
// with a DPoP proof (RFC 9449), calls GET /users/me with the DPoP-bound token and a fresh
// proof, then shows that the same token is refused as a Bearer token. BASE_URL (default
// http://127.0.0.1:3000) names the server. oauth4webapi is the client: it makes the key pair
// and every proof. Tests run it as a child process and never import it.
async function demo (base: URL): Promise<string> {
  const as: oauth.AuthorizationServer = { issuer: ISSUER, token_endpoint: new URL('/token', base).href }
  const client: oauth.Client = { client_id: 'dpop-client-example' }
  // Plain http is for this machine only; oauth4webapi refuses it unless told.
  const options = { [oauth.allowInsecureRequests]: base.protocol === 'http:' }
  // A non-extractable private key: the proofs can be made, the key cannot be copied out.
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))

  const login = await oauth.genericTokenEndpointRequest(as, client, oauth.None(), 'password', { username: 'alice', password: 'wonderland' }, { DPoP, ...options })
  // oauth4webapi lower-cases token_type (it is case-insensitive); the server's own spelling is shown.
  const { token_type: tokenType } = await login.clone().json() as { token_type: string }
  const token = await oauth.processGenericTokenEndpointResponse(as, client, login)
  const me = await oauth.protectedResourceRequest(token.access_token, 'GET', new URL('/users/me', base), undefined, undefined, { DPoP, ...options })
  const asBearer = await fetch(new URL('/users/me', base), { headers: { authorization: `Bearer ${token.access_token}` } })
  return [
    `POST /token with a DPoP proof: token_type ${tokenType}, scope ${token.scope}`,
    `  bound to the key whose thumbprint is ${await DPoP.calculateThumbprint()}`,
    `GET /users/me as DPoP, with a proof: ${me.status} ${await me.text()}`,
    `GET /users/me as Bearer: ${asBearer.status} ${asBearer.headers.get('www-authenticate')}`,
    ''
  ].join('\n')
}

try {
  process.stdout.write(await demo(readClientBase(process.env)))
} catch (err) {
  // An OAuth error answer names its code (invalid_grant, invalid_dpop_proof, …).
  const code = err instanceof oauth.ResponseBodyError ? ` (${err.error})` : ''
  process.stderr.write(`DPoP demo failed: ${(err as Error).message}${code}\n`)
  process.exitCode = 1
}
