import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import type { KeyObject } from 'node:crypto'
import protectedRoutes, { jtiRevocation, type JwtOptions, type OpaqueOptions, type BearerSchemeOptions, type ProtectedRoutesOptions } from '../lib/index.js'
import { documentation, DOCUMENTATION_PREFIX, SCOPE_DESCRIPTIONS } from './documentation.js'
import { loggerOptions, type LoggerOption } from './logging.js'
export type { LogStream } from './logging.js'
import { logoutRoute } from './logout.js'
import { checkPublicOrigin } from './dpop-proof.js'
import { checkSecret, retentionFor } from './key-set.js'
import { signingKeys, type Signing } from './signing.js'
import { createTokenStore, type ExampleStore, type TokenFormat } from './store.js'
import { tokenEndpoint } from './token-endpoint.js'
import { frameworkError, notFound } from './unrouted.js'
import { demoUsers, publicUser, type PublicUser, type UserDirectory } from './users.js'

/** The X-Token that opens GET /protected unless another is configured. */
export const DEFAULT_SECRET_TOKEN = 'mysecrettoken'
/** `iss` of the access tokens this server issues, and the only issuer it accepts. */
export const ISSUER = 'urn:fastify-protected-routes:example'
/** `aud` of the access tokens: this API. */
export const AUDIENCE = 'urn:fastify-protected-routes:example:api'
/** The signing algorithm: ECDSA on P-256 (RFC 7518 §3.4). */
export const ALGORITHM = 'ES256'
/** The realm of every challenge (RFC 9110 §11.5). */
export const REALM = 'example'
/** Access-token lifetime in seconds, unless another is configured. */
export const DEFAULT_TOKEN_LIFETIME = 900

/** Options of {@link buildServer}. Every one has a default that suits the demo. */
export interface ServerOptions {
  /** `false` (the default) for no log; `true` for pino at info on stdout; or a level and a destination. */
  logger?: LoggerOption
  /** The X-Token GET /protected accepts. @default DEFAULT_SECRET_TOKEN */
  secretToken?: string | undefined
  /**
   * The P-256 private key that signs access tokens. Give every instance the same one to share
   * it yourself (rotating it means restarting them all).
   * @default a key generated when the server is built; with `redisUrl`, the key set shared in Redis
   */
  signingKey?: KeyObject | undefined
  /**
   * With `redisUrl` and JWTs (and no `signingKey`): the signing keys are kept in Redis, where
   * every instance finds them, sealed with AES-256-GCM under a key derived from this secret.
   * At least 32 characters (`openssl rand -base64 32`), the same on every instance. The start
   * script reads it from SIGNING_KEYS_SECRET.
   */
  signingKeysSecret?: string | undefined
  /** Access-token lifetime in seconds. @default 900 */
  tokenLifetime?: number | undefined
  /** POST /token requests allowed per client address and window (ms). @default { max: 10, timeWindow: 60000 } */
  rateLimit?: { max: number, timeWindow: number } | undefined
  /** The accounts. @default the demo users (alice, bob, carol) */
  users?: UserDirectory | undefined
  /**
   * Keep tokens, revocations and (with JWTs) the signing keys in the Redis at this URL, shared
   * by every instance using it. @default in this process
   */
  redisUrl?: string | undefined
  /** What POST /token issues: signed JWTs, or opaque tokens kept in the token store. @default 'jwt' */
  tokenFormat?: TokenFormat | undefined
  /**
   * Also accept access tokens from this authorization server (Keycloak, Auth0, …), its keys
   * found through discovery, on every route beside the tokens of POST /token. The start script
   * reads it from EXTERNAL_ISSUER, EXTERNAL_AUDIENCE and EXTERNAL_ALGORITHMS.
   * @default none: only this server's own tokens
   */
  externalIssuer?: ExternalIssuer | undefined
  /**
   * The origin clients reach this server at, such as https://api.example behind a TLS proxy: the
   * origin a DPoP proof's `htu` must name (RFC 9449 §4.3). The start script reads it from
   * PUBLIC_ORIGIN. @default the origin of each request: Fastify's request.protocol and request.host
   */
  publicOrigin?: string | undefined
}

/** An authorization server whose access tokens the example accepts (see {@link ServerOptions.externalIssuer}). */
export interface ExternalIssuer {
  /** Its issuer identifier, exactly as its metadata spells it, e.g. https://kc.example/realms/demo or https://tenant.auth0.com/ */
  readonly issuer: string
  /** This API's audience at that server (Keycloak: the client id or an audience mapper's value; Auth0: the API identifier). */
  readonly audience: string
  /** @default ['RS256'] */
  readonly algorithms?: readonly string[] | undefined
}

const message = {
  type: 'object',
  required: ['message'],
  properties: { message: { type: 'string' } }
} as const

const userSchema = {
  type: 'object',
  required: ['username', 'full_name', 'email', 'scopes'],
  // The serializer writes these properties and no other, so no hash can slip into a response.
  properties: {
    username: { type: 'string' },
    full_name: { type: 'string' },
    email: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } }
  }
} as const

const itemSchema = {
  type: 'object',
  required: ['id', 'name', 'owner'],
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    description: { type: 'string' },
    owner: { type: 'string' }
  }
} as const

const newItemSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    description: { type: 'string', maxLength: 1000 }
  }
} as const

interface Item {
  id: number
  name: string
  description?: string
  owner: string
}

interface NewItem {
  name: string
  description?: string
}

/** request.user on a route guarded by the bearer scheme: the user our `jwt.user` mapped the token to. */
function currentUser (request: FastifyRequest): PublicUser {
  return request.user as PublicUser
}

/**
 * Builds the example app without listening: the routes of FastAPI's "protected routes" and
 * OAuth2 password tutorials, guarded by fastify-protected-routes.
 *
 * @example
 * const app = await buildServer({ logger: true })
 * await app.listen({ port: 3000 })
 */
export async function buildServer (options: ServerOptions = {}): Promise<FastifyInstance> {
  const tokenLifetime = options.tokenLifetime ?? DEFAULT_TOKEN_LIFETIME
  if (!Number.isInteger(tokenLifetime) || tokenLifetime < 1) throw new TypeError('tokenLifetime must be a positive integer (seconds)')
  const { signingKey, signingKeysSecret } = options
  if (signingKey !== undefined && (signingKey.type !== 'private' || signingKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
    throw new TypeError('signingKey must be a P-256 private key (ES256)')
  }
  if (signingKeysSecret !== undefined) {
    checkSecret(signingKeysSecret)
    if (signingKey !== undefined) throw new TypeError('signingKey and signingKeysSecret exclude each other: one key given to every instance, or the keys shared through Redis')
  }
  const users = options.users ?? await demoUsers()
  const secretToken = options.secretToken ?? DEFAULT_SECRET_TOKEN
  const tokenFormat = options.tokenFormat ?? 'jwt'
  if (tokenFormat !== 'jwt' && tokenFormat !== 'opaque') throw new TypeError("tokenFormat must be 'jwt' or 'opaque'")
  const publicOrigin = options.publicOrigin === undefined ? undefined : checkPublicOrigin(options.publicOrigin)

  const app = Fastify({
    logger: loggerOptions(options.logger),
    // Reject what the schema does not allow instead of coercing or trimming it.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    // A URL the router cannot take is answered without echoing it (see unrouted.ts).
    frameworkErrors: frameworkError
  })
  // So is one that no route matches: Fastify's own 404 would echo it, query string included.
  app.setNotFoundHandler(notFound)

  // Rate limits are set per route (only POST /token has one).
  await app.register(rateLimit, { global: false })

  const { store, redis } = await createTokenStore(app, options.redisUrl)
  try {
    const signing = await signingKeys(app, {
      signingKey,
      redis: tokenFormat === 'jwt' ? redis : undefined,
      secret: signingKeysSecret,
      retention: retentionFor(tokenLifetime)
    })
    const apiOptions: ApiOptions = { users, secretToken, signing, tokenLifetime, rateLimit: options.rateLimit ?? { max: 10, timeWindow: 60_000 }, store, tokenFormat, externalIssuer: options.externalIssuer, publicOrigin }
    // The plugin at the root, before anything declares routes, so it sees every route: fail
    // closed (protectByDefault), with Swagger UI's routes, which take no route config, public
    // through publicRoutes, and the API's public routes saying auth: false.
    await app.register(protectedRoutes, protection(apiOptions))
    await app.register(documentation)
    await app.register(api, apiOptions)
  } catch (err) {
    // The app is not handed out: its Redis connections and servers are closed here.
    await app.close()
    throw err
  }
  return app
}

/** What {@link api} takes from {@link buildServer}: its options, with the defaults applied. */
interface ApiOptions {
  readonly users: UserDirectory
  readonly secretToken: string
  readonly signing: Signing
  readonly tokenLifetime: number
  readonly rateLimit: { readonly max: number, readonly timeWindow: number }
  readonly store: ExampleStore
  readonly tokenFormat: TokenFormat
  readonly externalIssuer: ExternalIssuer | undefined
  readonly publicOrigin: string | undefined
}

/** The user of an external token: its claims as the routes' user shape (the account lives at that server). */
function externalUser (claims: Readonly<Record<string, unknown>>): PublicUser | null {
  if (typeof claims.sub !== 'string') return null
  const text = (value: unknown, fallback: string): string => typeof value === 'string' ? value : fallback
  return {
    username: text(claims.preferred_username, claims.sub),
    full_name: text(claims.name, claims.sub),
    email: text(claims.email, ''),
    scopes: text(claims.scope, '').split(' ').filter((scope) => scope !== '')
  }
}

/** The scheme for {@link ServerOptions.externalIssuer}: its keys through discovery, fetched at the first token. */
function externalScheme ({ issuer, audience, algorithms }: ExternalIssuer): BearerSchemeOptions {
  return { type: 'bearer', jwt: { issuer, discovery: true, audience, algorithms: algorithms ?? ['RS256'], user: externalUser } }
}

/**
 * How the bearer scheme verifies what POST /token issues: a JWT, refused once revoked in the
 * store (POST /logout), or an opaque token, looked up in the store.
 */
function bearerVerifier ({ users, signing, store, tokenFormat }: ApiOptions): { jwt: JwtOptions } | { opaque: OpaqueOptions } {
  // Looked up on every request: a disabled or deleted account loses access at once.
  function activeUser (username: unknown): PublicUser | null {
    const user = users.find(username)
    return user === undefined || user.disabled ? null : publicUser(user)
  }
  if (tokenFormat === 'opaque') return { opaque: { store, user: (record) => activeUser(record.subject) } }
  return {
    jwt: {
      // The one public key, or the JWKS of the key set shared in Redis (signing.ts).
      ...signing.verification,
      algorithms: [ALGORITHM],
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: 'at+jwt',
      // Every token can be revoked by its jti: one without is refused.
      requiredClaims: ['jti'],
      isRevoked: jtiRevocation(store),
      user: (claims) => activeUser(claims.sub)
    }
  }
}

/** The options of fastify-protected-routes: the bearer tokens POST /token issues, and the X-Token. */
function protection (options: ApiOptions): ProtectedRoutesOptions {
  return {
    realm: REALM,
    // Fail closed: a route is protected unless it says `auth: false`.
    protectByDefault: true,
    // With an external issuer, a bearer token is offered to the scheme whose issuer it names.
    defaultSchemes: options.externalIssuer === undefined ? ['bearerAuth'] : ['bearerAuth', 'external'],
    // The default hook, onRequest: an unauthenticated request never gets its body parsed or validated.
    schemes: {
      // OAuth2PasswordBearer: the access tokens POST /token issues.
      bearerAuth: {
        type: 'bearer',
        ...bearerVerifier(options),
        // RFC 9449: Bearer tokens, and the DPoP-bound tokens POST /token issues with a proof, presented
        // as `DPoP <token>` with a proof. The token store keeps the proof ids, so that with Redis
        // every instance refuses a replay; the proofs name the public origin, if one is configured.
        dpop: { replayStore: options.store, ...(options.publicOrigin === undefined ? {} : { origin: options.publicOrigin }) },
        // For the OpenAPI document: Swagger UI's Authorize dialog logs in through POST /token.
        tokenUrl: '/token',
        scopes: SCOPE_DESCRIPTIONS
      },
      // FastAPI's X-Token header dependency.
      tokenHeader: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { [options.secretToken]: { username: 'service' } } },
      ...(options.externalIssuer === undefined ? {} : { external: externalScheme(options.externalIssuer) })
    },
    // @fastify/swagger-ui's page, assets and documents.
    publicRoutes: [DOCUMENTATION_PREFIX]
  }
}

/** The API: POST /token and the routes, in a context of their own. */
async function api (app: FastifyInstance, options: ApiOptions): Promise<void> {
  const { users, signing, tokenLifetime, rateLimit, store, tokenFormat } = options

  app.get('/public', {
    config: { auth: false },
    schema: { response: { 200: message } }
  }, async () => ({ message: 'Welcome to the public route!' }))

  app.get('/protected', {
    config: { auth: { schemes: ['tokenHeader'] } },
    schema: { response: { 200: message } }
  }, async () => ({ message: 'You have access to the protected route!' }))

  await app.register(tokenEndpoint, {
    users,
    signingKeys: signing.keys,
    algorithm: ALGORITHM,
    issuer: ISSUER,
    audience: AUDIENCE,
    tokenLifetime,
    rateLimit,
    opaqueStore: tokenFormat === 'opaque' ? store : undefined,
    replay: store,
    publicOrigin: options.publicOrigin
  })
  await app.register(logoutRoute, { store, tokenFormat })

  app.get('/users/me', {
    config: { auth: { scopes: ['me:read'] } },
    schema: { response: { 200: userSchema } }
  }, async (request) => currentUser(request))

  const items: Item[] = [
    { id: 1, name: 'Looking glass', description: 'Leads to a room that is not quite this one', owner: 'alice' },
    { id: 2, name: 'Spirit level', owner: 'bob' }
  ]

  app.get('/items', {
    config: { auth: { scopes: ['items:read'] } },
    schema: { response: { 200: { type: 'array', items: itemSchema } } }
  }, async () => items)

  app.post<{ Body: NewItem }>('/items', {
    config: { auth: { scopes: ['items:write'] } },
    schema: { body: newItemSchema, response: { 201: itemSchema } }
  }, async (request, reply) => {
    const item: Item = { id: items.length + 1, ...request.body, owner: currentUser(request).username }
    items.push(item)
    return reply.code(201).send(item)
  })
}
