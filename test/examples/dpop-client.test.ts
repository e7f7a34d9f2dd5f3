import t from 'tap'
import { createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { createUserDirectory } from '../../examples/users.js'
import { dpopKey, listening, passwordGrant } from './fixtures/dpop.js'
import { runScript, startScript } from './fixtures/scripts.js'
import { ISSUER } from '../../examples/server.js'

// examples/dpop-client.ts, the DPoP walkthrough a user runs beside `npm start`, as a child
// process against a server on 127.0.0.1; and PUBLIC_ORIGIN through the start script.

t.test('the DPoP client script gets a DPoP token, opens /users/me with it, and shows it refused as Bearer', async (t) => {
  const { base } = await listening(t)
  const { code, stdout, stderr } = await runScript(t, 'examples/dpop-client.ts', { BASE_URL: base })
  t.equal(stderr, '')
  t.equal(code, 0)
  const lines = stdout.split('\n')
  t.equal(lines.length, 5)
  t.equal(lines[0], 'POST /token with a DPoP proof: token_type DPoP, scope me:read items:read items:write')
  t.match(lines[1], /^ {2}bound to the key whose thumbprint is [A-Za-z0-9_-]{43}$/)
  t.equal(lines[2], 'GET /users/me as DPoP, with a proof: 200 {"username":"alice","full_name":"Alice Liddell","email":"alice@example.com","scopes":["me:read","items:read","items:write"]}')
  t.equal(lines[3], 'GET /users/me as Bearer: 401 Bearer realm="example", error="invalid_token", error_description="The access token is bound to a key and cannot be used as a bearer token", DPoP algs="ES256 PS256 EdDSA RS256"')
  t.equal(lines[4], '')
})

t.test('the DPoP client script says which OAuth error the server answered, and exits 1', async (t) => {
  // A server without alice.
  const users = await createUserDirectory([{ username: 'dave', password: 'correct horse', full_name: 'Dave', email: 'dave@example.com', scopes: ['me:read'], disabled: false }])
  const { base } = await listening(t, { users })
  const { code, stdout, stderr } = await runScript(t, 'examples/dpop-client.ts', { BASE_URL: base })
  t.equal(code, 1)
  t.equal(stdout, '')
  t.equal(stderr, 'DPoP demo failed: server responded with an error in the response body (invalid_grant)\n')
})

t.test('the DPoP client script exits 1 when no server answers', async (t) => {
  const closed = createServer().listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const { port } = closed.address() as AddressInfo
  closed.close()
  await once(closed, 'close')
  const { code, stdout, stderr } = await runScript(t, 'examples/dpop-client.ts', { BASE_URL: `http://127.0.0.1:${port}` })
  t.equal(code, 1)
  t.equal(stdout, '')
  t.equal(stderr, 'DPoP demo failed: fetch failed\n')
})

t.test('PUBLIC_ORIGIN: the started server takes proofs that name it, and refuses one that names the socket it came to', async (t) => {
  const { base, stop } = await startScript(t, { PUBLIC_ORIGIN: 'https://api.example' })
  const as = { issuer: ISSUER, token_endpoint: `${base}/token` }
  const atPublic = await dpopKey({ modify: (_header, payload) => { payload.htu = 'https://api.example/token' } })
  const accepted = await passwordGrant(as, atPublic.handle)
  t.equal(accepted.status, 200)
  t.equal((await accepted.json() as { token_type: string }).token_type, 'DPoP')
  const { handle } = await dpopKey()
  const refused = await passwordGrant(as, handle)
  t.equal(refused.status, 400)
  t.same(await refused.json(), { error: 'invalid_dpop_proof', error_description: 'The DPoP proof is for another URI' })
  t.equal((await stop()).code, 0)
})

t.test('a PUBLIC_ORIGIN that is no origin stops the start script', async (t) => {
  const { code, stdout, stderr } = await runScript(t, 'examples/start.ts', { PUBLIC_ORIGIN: 'https://api.example/' })
  t.not(code, 0)
  t.equal(stdout, '')
  t.match(stderr, "publicOrigin must be an http(s) origin such as 'https://api.example' (lower case, no path, no trailing slash)")
})
