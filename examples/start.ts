import { banner, externalIssuerBanner, readConfig, readExternalIssuer, readPublicOrigin } from './config.js'
import { buildServer } from './server.js'
import { readStoreConfig, storeBanner } from './store.js'

// `npm start`: the example on PORT (default 3000) of HOST (default 127.0.0.1). Tests run it as a
// child process and never import it.
const config = readConfig(process.env)
// REDIS_URL: tokens and revocations shared by every instance on that Redis; TOKEN_FORMAT=opaque: opaque tokens.
const storeConfig = readStoreConfig(process.env)
const { redisUrl, tokenFormat, signingKeysSecret } = storeConfig
// SIGNING_KEYS_SECRET: with REDIS_URL and JWTs, seals the signing keys every instance shares through Redis.
// EXTERNAL_ISSUER, EXTERNAL_AUDIENCE: also accept that authorization server's tokens (discovery).
const externalIssuer = readExternalIssuer(process.env)
// PUBLIC_ORIGIN: the origin clients use (behind a proxy), which DPoP proofs must name in htu.
const publicOrigin = readPublicOrigin(process.env)
const app = await buildServer({ logger: true, secretToken: config.secretToken, redisUrl, tokenFormat, signingKeysSecret, externalIssuer, publicOrigin })
const url = await app.listen({ port: config.port, host: config.host })

// Stop taking connections, finish the requests in flight, then let the process end by itself.
async function shutdown (signal: NodeJS.Signals): Promise<void> {
  app.log.info({ signal }, 'closing')
  await app.close()
}
process.once('SIGINT', shutdown)
process.once('SIGTERM', shutdown)

process.stdout.write(banner(url, config) + storeBanner(storeConfig) + externalIssuerBanner(externalIssuer))
