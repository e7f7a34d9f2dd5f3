import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import bearerAuth, { type verifyBearerAuthFactory as BearerAuthFactory } from '@fastify/bearer-auth'
import { authenticate } from './authenticate.js'
import { InvalidOptionError, InvalidRouteConfigError, RouteNotPreparedError } from './errors.js'
import { safeLog } from './log.js'
import { openapiDocumenter } from './openapi.js'
import { normalizeOptions } from './options.js'
import { metadataDocument, serveMetadata, type ProtectedResourceConfig } from './protected-resource.js'
import { guardOutside } from './outside.js'
import { describeRoute, PUBLIC, resolveRoute, RouteConfigProblem, type ResolvedRoute } from './route-config.js'
import { buildSchemes, type Scheme } from './schemes/index.js'
import type { AuthUser, ProtectedRoutesOptions } from './types.js'
import './augment.js'

type Resolution = ResolvedRoute | typeof PUBLIC
/** A route declared before the plugin loaded whose config.auth is invalid. */
const NOT_PREPARED = Symbol('not prepared')

/** What `onRoute` stores in a route's config: the resolution, and the `auth` value it was resolved from. */
interface Mark {
  readonly auth: unknown
  readonly resolution: Resolution | typeof NOT_PREPARED
}

/** Where a route config holds its {@link Mark}. */
const kRoute = Symbol('fastify-protected-routes.route')

/** The getter of the user's property (`request.user` by default): the user of `request.auth`, or `null`. */
function readUser (this: FastifyRequest): AuthUser | null {
  const auth = this.auth
  return auth === null ? null : auth.user
}

/** Registers @fastify/bearer-auth in a context of its own (no decorators leak into the app) and takes its factory. */
async function loadBearerAuthFactory (fastify: FastifyInstance): Promise<BearerAuthFactory> {
  let factory: BearerAuthFactory | undefined
  await fastify.register(async function bearerAuthContext (child) {
    await child.register(bearerAuth, { keys: [], addHook: false })
    factory = child.verifyBearerAuthFactory
  })
  return factory!
}

/**
 * RFC 9728: serves the document (its routes are public by their config), with what the built
 * schemes say of DPoP. `scopes`: what the `onRoute` hook collects from the routes, for
 * `scopes_supported` when the option sets none.
 */
function publishMetadata (fastify: FastifyInstance, config: ProtectedResourceConfig, schemes: ReadonlyMap<string, Scheme>, scopes: ReadonlySet<string>): void {
  const dpop = [...schemes.values()].filter((scheme) => scheme.dpop !== undefined)
  const presented = {
    dpopAlgorithms: Object.freeze([...new Set(dpop.flatMap((scheme) => scheme.dpop!.config.algorithms))]),
    dpopRequired: [...schemes.values()].every((scheme) => scheme.type !== 'bearer' || scheme.dpop?.config.required === true)
  }
  let body: string | undefined
  // Read at the first request: the app is ready by then, so every route has been declared.
  serveMetadata(fastify, config, () => (body ??= metadataDocument(config, config.scopesSupported ?? [...scopes], presented)))
}

/**
 * The plugin body: see {@link ProtectedRoutesOptions}.
 *
 * One decision, one place: `onRoute` resolves each route's `config.auth` once and stores it in
 * the route's config; one instance-level hook, added where the plugin is registered, reads it
 * on every request and verifies the routes that are protected. No hook is attached to routes,
 * so no other code can detach it, and every hook the app adds after the plugin (in this context
 * or the contexts below it) runs after verification.
 */
export async function protectedRoutesPlugin (fastify: FastifyInstance, options: ProtectedRoutesOptions): Promise<void> {
  const normalized = normalizeOptions(options)
  const schemes: ReadonlyMap<string, Scheme> = await buildSchemes(normalized, await loadBearerAuthFactory(fastify))
  const { protectedResource } = normalized
  const context = {
    schemes,
    defaultSchemes: normalized.defaultSchemes,
    protectByDefault: normalized.protectByDefault,
    publicRoutes: normalized.publicRoutes,
    mcp: normalized.mcpAuthInfo ? Object.freeze({ resource: protectedResource?.resource }) : undefined
  }
  const { logLevel, verifyTimeout } = normalized

  // @fastify/swagger, if the app registers it (either order): security, responses, securitySchemes.
  const openapi = openapiDocumenter(fastify, normalized)

  // The user's own property (`userProperty`) is a getter of request.auth, which verification sets:
  // one assignment per request, and @fastify/jwt or @fastify/passport may keep `request.user`.
  const { userProperty } = normalized
  if (fastify.hasRequestDecorator(userProperty)) {
    throw new InvalidOptionError(`userProperty '${userProperty}': the request already has a property of that name (Fastify's own, another plugin's decorator such as @fastify/jwt's or @fastify/passport's 'user', or this plugin registered twice in one context); choose another name, e.g. 'identity'`)
  }
  fastify.decorateRequest('auth', null)
  fastify.decorateRequest(userProperty, { getter: readUser })
  guardOutside(fastify)
  // The scopes of the routes that accept a bearer scheme, for the RFC 9728 document.
  const routeScopes = protectedResource === undefined ? undefined : new Set<string>()

  // Routes declared from here on: resolve config.auth once, and fail the boot on a bad one.
  fastify.addHook('onRoute', function protectedRoutesOnRoute (routeOptions) {
    const auth = routeOptions.config?.auth
    let resolution: Resolution
    try {
      resolution = resolveRoute(auth, routeOptions.method, routeOptions.url, context)
    } catch (err) {
      throw new InvalidRouteConfigError(...describeRoute(routeOptions.method, routeOptions.url), (err as Error).message)
    }
    if (routeScopes !== undefined && resolution !== PUBLIC) {
      const route = resolution as ResolvedRoute
      if (route.schemes.some((scheme) => scheme.type === 'bearer')) for (const scope of route.scopes) routeScopes.add(scope)
    }
    const mark: Mark = Object.freeze({ auth, resolution })
    // A fresh config object per route: the app may share one config object between routes.
    routeOptions.config = { ...routeOptions.config, [kRoute]: mark } as NonNullable<RouteOptions['config']>
    openapi.addRoute(routeOptions, resolution)
  })

  if (protectedResource !== undefined) publishMetadata(fastify, protectedResource, schemes, routeScopes!)

  // Routes whose config carries no mark, or one resolved from another `auth` than the route's
  // config now holds: declared before the plugin loaded (e.g. register() was not awaited, or a
  // child context registered earlier), or given a new config.auth by an onRoute hook that ran
  // after ours. Resolved at their first request, as their config says now; cached per config.
  const unmarked = new WeakMap<object, Mark>()
  function resolveUnmarked (request: FastifyRequest, config: Record<PropertyKey, unknown>): Mark {
    const [method, url] = describeRoute(config.method as RouteOptions['method'], String(config.url))
    const auth = config.auth
    let resolution: Mark['resolution']
    try {
      resolution = resolveRoute(auth, config.method as RouteOptions['method'], String(config.url), context)
      if (resolution !== PUBLIC && config[kRoute] === undefined) {
        const fields = { method, url }
        safeLog(request.log, 'warn', fields, 'fastify-protected-routes: the plugin loaded after this route was declared (the route was declared before app.register(protectedRoutes, …) was awaited, or in a context registered before the plugin), so its config.auth was read at its first request instead of at startup, and the route is missing from the OpenAPI document; it is protected as declared. Await app.register(protectedRoutes, …) at the root before declaring routes and registering route plugins.', fields)
      }
    } catch (err) {
      const fields = { method, url, reason: (err as RouteConfigProblem).message }
      safeLog(request.log, 'error', fields, 'fastify-protected-routes: invalid config.auth on a route declared before the plugin loaded', { method, url })
      resolution = NOT_PREPARED
    }
    const mark: Mark = Object.freeze({ auth, resolution })
    unmarked.set(config, mark)
    return mark
  }

  function protectedRoutesHook (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const config = request.routeOptions.config as unknown as Record<PropertyKey, unknown>
    let mark = config[kRoute] as Mark | undefined
    if (mark === undefined || mark.auth !== config.auth) {
      // The not-found handler has no route of its own: nothing to protect.
      if (request.is404) return done()
      mark = unmarked.get(config)
      if (mark === undefined || mark.auth !== config.auth) mark = resolveUnmarked(request, config)
    }
    const { resolution } = mark
    if (resolution === PUBLIC) return done()
    if (resolution === NOT_PREPARED) {
      // A new error per request: error objects are mutable and an error handler may decorate them.
      reply.code(500)
      return done(new RouteNotPreparedError())
    }
    authenticate(resolution as ResolvedRoute, request, reply, logLevel, verifyTimeout, done)
  }
  // Fastify's addHook also reaches the child contexts that already exist (registered before
  // this plugin), so their routes are verified too, each exactly once.
  fastify.addHook(normalized.hook, protectedRoutesHook)
}
