import fp from 'fastify-plugin'
import { protectedRoutesPlugin } from './plugin.js'
import type { ProtectedRoutesOptions } from './types.js'
import './augment.js'

/**
 * Protects the routes that opt in through `config.auth` with bearer tokens or API keys.
 *
 * @example
 * await app.register(protectedRoutes, {
 *   schemes: { bearerAuth: { type: 'bearer', verify: async (token) => findUser(token) } }
 * })
 * app.get('/users/me', { config: { auth: true } }, async (request) => request.user)
 */
const protectedRoutes = fp<ProtectedRoutesOptions>(protectedRoutesPlugin, {
  fastify: '5.x',
  name: 'fastify-protected-routes'
})

export default protectedRoutes
export { protectedRoutes }
export { requireUser } from './user.js'
export { signAccessToken } from './sign.js'
export type { SignAccessTokenOptions } from './sign.js'
export type {
  JwtAudience,
  JwtIssuerOptions,
  JwtKeySource,
  JwtOptions,
  JwtPublicKey,
  JwtSettings,
  JwtSeveralIssuersOptions,
  JwtSingleIssuerOptions,
  ScopeClaim
} from './verifiers/jwt-options.js'
export type { OpaqueOptions } from './verifiers/opaque.js'
export type { IntrospectionOptions } from './verifiers/introspection-config.js'
export type { DpopOptions } from './dpop/options.js'
export type { ProtectedResourceOptions } from './protected-resource.js'
export { MemoryTokenStore } from './stores/memory.js'
export type { MemoryTokenStoreOptions } from './stores/memory.js'
export { RedisTokenStore } from './stores/redis.js'
export type { RedisBatch, RedisClient, RedisSubscriber, RedisTokenStoreOptions } from './stores/redis.js'
export { jtiRevocation } from './stores/jti-revocation.js'
export type { IssuedToken, RevocableClaims, TokenGrant, TokenRecord, TokenStore } from './stores/token-store.js'
export {
  AccessDeniedError,
  InsufficientScopeError,
  InsufficientUserAuthenticationError,
  InvalidDpopProofError,
  InvalidOptionError,
  InvalidRequestError,
  InvalidRouteConfigError,
  InvalidTokenError,
  MissingCredentialsError,
  RouteNotPreparedError,
  RouteOutsidePluginError,
  UseDpopNonceError,
  UserRequiredError,
  VerifierFailedError,
  VerifierUnavailableError
} from './errors.js'
export type { ProtectedRoutesErrorCode } from './errors.js'
export type {
  ApiKeySchemeOptions,
  AuthInfo,
  AuthorizeFunction,
  AuthUser,
  BearerSchemeOptions,
  FastifyProtectedRoutes,
  LogLevel,
  McpAuthInfo,
  OpenapiOptions,
  ProtectedRoutesOptions,
  RefusalStatus,
  RouteAuthConfig,
  RouteAuthOptions,
  SchemeName,
  SchemeOptions,
  StaticTokens,
  UserProperty,
  VerifyFunction,
  VerifyResult
} from './types.js'
