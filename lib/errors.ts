import fastifyError from '@fastify/error'
import type { FastifyErrorConstructor } from '@fastify/error'

/** An error class of this plugin: instances carry `code` (and `statusCode` when it has one). */
export type ErrorClass<E extends { code: string, statusCode?: number }> = FastifyErrorConstructor<E>

/**
 * @fastify/error's createError, returning {@link ErrorClass} so that the emitted errors.d.ts
 * names `FastifyErrorConstructor` through a named import: the inferred
 * `createError.FastifyErrorConstructor` does not resolve for a CommonJS app under
 * `moduleResolution: node10` (TS2503).
 */
interface CreateError {
  <C extends string, SC extends number>(code: C, message: string, statusCode: SC, Base?: ErrorConstructor, captureStackTrace?: boolean): ErrorClass<{ code: C, statusCode: SC }>
  <C extends string>(code: C, message: string): ErrorClass<{ code: C }>
}
const createError: CreateError = fastifyError

/**
 * Every error this plugin raises, made in one place. Request errors carry a
 * status and a fixed message (never request bytes); option errors are thrown
 * while the app boots, so it does not start (@fastify/error gives them 500).
 * Refusals (400, 401, 403) are answers, not faults: they capture no stack trace,
 * which would cost more than the rest of the refusal and say nothing.
 */

/** No credential for any scheme the route accepts (RFC 6750 §3.1: no error attribute). */
export const MissingCredentialsError = createError(
  'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS',
  'Authentication is required',
  401,
  Error,
  false
)

/** A credential is present but malformed (RFC 6750 §3.1 invalid_request). */
export const InvalidRequestError = createError(
  'FST_PROTECTED_ROUTES_INVALID_REQUEST',
  '%s',
  400,
  Error,
  false
)

/** The verifier refused the credential (RFC 6750 §3.1 invalid_token). */
export const InvalidTokenError = createError(
  'FST_PROTECTED_ROUTES_INVALID_TOKEN',
  '%s',
  401,
  Error,
  false
)

/** A DPoP proof failed a check of RFC 9449 §4.3 (RFC 9449 §7.1 invalid_dpop_proof). */
export const InvalidDpopProofError = createError(
  'FST_PROTECTED_ROUTES_INVALID_DPOP_PROOF',
  '%s',
  401,
  Error,
  false
)

/**
 * The DPoP proof lacks the server's current nonce (RFC 9449 §9 use_dpop_nonce): the answer
 * carries a fresh one in `DPoP-Nonce`, for the client to retry with.
 */
export const UseDpopNonceError = createError(
  'FST_PROTECTED_ROUTES_USE_DPOP_NONCE',
  'The DPoP proof must carry the nonce in the DPoP-Nonce header',
  401,
  Error,
  false
)

/** The user lacks a scope the route requires (RFC 6750 §3.1 insufficient_scope). */
export const InsufficientScopeError = createError(
  'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE',
  'The access token does not grant the required scope',
  403,
  Error,
  false
)

/**
 * The token is valid but the authentication behind it is not strong or recent enough for the
 * route's `acr` / `maxAge` (RFC 9470 §3): a 401, so the client can re-authenticate and retry.
 */
export const InsufficientUserAuthenticationError = createError(
  'FST_PROTECTED_ROUTES_INSUFFICIENT_USER_AUTHENTICATION',
  'The authentication behind the access token is not strong or recent enough',
  401,
  Error,
  false
)

/** The route's `authorize` predicate refused the user (RFC 9110 §15.5.4). */
export const AccessDeniedError = createError(
  'FST_PROTECTED_ROUTES_ACCESS_DENIED',
  'Access to this resource is not allowed',
  403,
  Error,
  false
)

/** A verifier or `authorize` threw, rejected or returned something that is not a user. */
export const VerifierFailedError = createError(
  'FST_PROTECTED_ROUTES_VERIFIER_FAILED',
  'Authentication could not be completed',
  500
)

/** A verifier did not answer within `verifyTimeout`, or its backend is unreachable. */
export const VerifierUnavailableError = createError(
  'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE',
  'Authentication is temporarily unavailable',
  503
)

/**
 * A route asks for `auth` but its configuration could not be resolved (it was declared
 * before the plugin loaded and its `config.auth` is invalid). The message says how to fix it.
 */
export const RouteNotPreparedError = createError(
  'FST_PROTECTED_ROUTES_ROUTE_NOT_PREPARED',
  'This route asks for authentication but its config.auth is invalid; await app.register(protectedRoutes, …) before declaring routes to see the error at startup',
  500
)

/**
 * A route asks for `auth` but no context where this plugin is registered contains it (the
 * plugin sits in a child context and the route at the root or in a sibling), so nothing could
 * verify its requests. The boot fails instead when the route is declared after the plugin loaded.
 */
export const RouteOutsidePluginError = createError(
  'FST_PROTECTED_ROUTES_ROUTE_OUTSIDE_PLUGIN',
  'This route asks for authentication outside the context fastify-protected-routes is registered in',
  500
)

/**
 * `requireUser(request)` found no verified user: the route is public, or the request is an
 * anonymous one to an optional route. A bug in the app, so a 500 (never the handler running
 * without a user); on optional routes, check `request.auth` first.
 */
export const UserRequiredError = createError(
  'FST_PROTECTED_ROUTES_USER_REQUIRED',
  'This handler requires a verified user but the request has none; protect its route with config.auth',
  500
)

/** Invalid plugin options: thrown from `register`, so the app does not start. */
export const InvalidOptionError = createError(
  'FST_PROTECTED_ROUTES_INVALID_OPTION',
  'Invalid fastify-protected-routes option: %s'
)

/** Invalid `config.auth` on a route: thrown when the route is declared. */
export const InvalidRouteConfigError = createError(
  'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG',
  'Invalid config.auth on %s %s: %s'
)

/** The stable codes of every error above, for matching in an app's error handler. */
export type ProtectedRoutesErrorCode =
  | 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS'
  | 'FST_PROTECTED_ROUTES_INVALID_REQUEST'
  | 'FST_PROTECTED_ROUTES_INVALID_TOKEN'
  | 'FST_PROTECTED_ROUTES_INVALID_DPOP_PROOF'
  | 'FST_PROTECTED_ROUTES_USE_DPOP_NONCE'
  | 'FST_PROTECTED_ROUTES_INSUFFICIENT_SCOPE'
  | 'FST_PROTECTED_ROUTES_INSUFFICIENT_USER_AUTHENTICATION'
  | 'FST_PROTECTED_ROUTES_ACCESS_DENIED'
  | 'FST_PROTECTED_ROUTES_VERIFIER_FAILED'
  | 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE'
  | 'FST_PROTECTED_ROUTES_ROUTE_NOT_PREPARED'
  | 'FST_PROTECTED_ROUTES_ROUTE_OUTSIDE_PLUGIN'
  | 'FST_PROTECTED_ROUTES_USER_REQUIRED'
  | 'FST_PROTECTED_ROUTES_INVALID_OPTION'
  | 'FST_PROTECTED_ROUTES_INVALID_ROUTE_CONFIG'

/**
 * The fixed `error_description` / message of each refusal. Responses carry only these
 * strings, so no request byte or claim value can be reflected.
 */
export const descriptions = Object.freeze({
  malformedAuthorization: 'The Authorization header is not a valid Bearer credential',
  duplicateAuthorization: 'More than one Authorization header was sent',
  malformedApiKey: 'The API key is malformed',
  duplicateApiKey: 'The API key was sent more than once',
  credentialTooLong: 'The credential is too long',
  sameCredentialTwice: 'The same credential was sent in more than one place',
  invalidToken: 'The access token is invalid',
  invalidApiKey: 'The API key is invalid',
  duplicateProof: 'More than one DPoP header was sent',
  proofWithoutDpopToken: 'A DPoP proof was sent without a DPoP access token',
  dpopWithOtherCredential: 'A DPoP request cannot carry another credential'
})

/**
 * The fixed `error_description` of each JWT refusal (RFC 6750 §3.1 invalid_token). Only these
 * strings reach a response: no claim, header value or jose message is ever reflected.
 */
export const jwtDescriptions = Object.freeze({
  malformed: 'The access token is malformed',
  unsupportedAlgorithm: 'The access token algorithm is not accepted',
  criticalHeader: 'The access token has a critical header parameter that is not supported',
  unknownKey: 'The access token signing key is not known',
  badSignature: 'The access token signature is invalid',
  expired: 'The access token has expired',
  notYetValid: 'The access token is not yet valid',
  issuedInFuture: 'The access token was issued in the future',
  tooOld: 'The access token is too old',
  wrongIssuer: 'The access token issuer is not accepted',
  wrongAudience: 'The access token audience is not accepted',
  wrongType: 'The access token type is not accepted',
  missingClaim: 'The access token is missing a required claim',
  revoked: 'The access token has been revoked',
  bound: 'The access token is bound to a key and cannot be used as a bearer token',
  notBound: 'The access token is not bound to a DPoP key',
  wrongKey: 'The access token is bound to another key than the DPoP proof'
})

/** The fixed `error_description` of each DPoP proof refusal (RFC 9449 §7.1 invalid_dpop_proof). */
export const dpopDescriptions = Object.freeze({
  missing: 'A DPoP proof is required with a DPoP access token',
  malformed: 'The DPoP proof is malformed',
  wrongType: 'The DPoP proof type is not dpop+jwt',
  unsupportedAlgorithm: 'The DPoP proof algorithm is not accepted',
  badKey: 'The DPoP proof key is not a usable public key',
  criticalHeader: 'The DPoP proof has a critical header parameter that is not supported',
  badSignature: 'The DPoP proof signature is invalid',
  missingClaim: 'The DPoP proof is missing a required claim',
  tooOld: 'The DPoP proof is too old',
  issuedInFuture: 'The DPoP proof was issued in the future',
  expired: 'The DPoP proof has expired',
  idTooLong: 'The DPoP proof id is too long',
  wrongMethod: 'The DPoP proof is for another HTTP method',
  wrongUri: 'The DPoP proof is for another URI',
  wrongToken: 'The DPoP proof is for another access token',
  replayed: 'The DPoP proof has been used before'
})

/**
 * Every description a refusal may carry. An InvalidTokenError with any other message (an app
 * can construct one: the class is exported) is answered with the scheme's generic description,
 * so nothing outside this list can reach a header (RFC 6750 §3: error_description is a
 * restricted character set) or a body.
 */
export const refusalDescriptions: ReadonlySet<string> = new Set([...Object.values(descriptions), ...Object.values(jwtDescriptions), ...Object.values(dpopDescriptions)])
