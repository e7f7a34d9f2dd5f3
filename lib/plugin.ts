import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import bearerAuth, { type verifyBearerAuthFactory as BearerAuthFactory } from '@fastify/bearer-auth'
import { authenticate } from './authenticate.js'
import { InvalidRouteConfigError, RouteNotPreparedError } from './errors.js'
import { openapiDocumenter } from './openapi.js'
import { normalizeOptions, type NormalizedOptions } from './options.js'
import { PUBLIC, resolveRoute, RouteConfigProblem, type ResolvedRoute } from './route-config.js'
import { buildSchemes, type Scheme } from './schemes/index.js'
import type { ProtectedRoutesOptions } from './types.js'
import './augment.js'

/** Marks a route config this plugin has resolved: the value is its {@link ResolvedRoute} or {@link PUBLIC}. */
const kRoute = Symbol('fastify-protected-routes.route')

type Resolution = ResolvedRoute | typeof PUBLIC
/** A route declared before the plugin loaded whose config.auth is invalid. */
const NOT_PREPARED = Symbol('not prepared')
type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void

/** Registers @fastify/bearer-auth in a context of its own (no decorators leak into the app) and takes its factory. */
async function loadBearerAuthFactory (fastify: FastifyInstance): Promise<BearerAuthFactory> {
  let factory: BearerAuthFactory | undefined
  await fastify.register(async function bearerAuthContext (child) {
    await child.register(bearerAuth, { keys: [], addHook: false })
    factory = child.verifyBearerAuthFactory
  })
  return factory!
}

function routeHook (route: ResolvedRoute, { logLevel, verifyTimeout }: NormalizedOptions): Hook {
  return function protectedRoutesHook (request, reply, done) {
    authenticate(route, request, reply, logLevel, verifyTimeout, done)
  }
}

function describe (method: RouteOptions['method'], url: string): [string, string] {
  return [Array.isArray(method) ? method.join(',') : String(method), url]
}

/** Route-level hooks may be missing, one function or an array: put ours first, so the route's own run after auth. */
function prependHook (routeOptions: RouteOptions, name: 'onRequest' | 'preHandler', hook: Hook): void {
  const existing = routeOptions[name] as Hook | Hook[] | undefined
  routeOptions[name] = existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])]
}

/** The plugin body: see {@link ProtectedRoutesOptions}. */
export async function protectedRoutesPlugin (fastify: FastifyInstance, options: ProtectedRoutesOptions): Promise<void> {
  const normalized = normalizeOptions(options)
  const schemes: ReadonlyMap<string, Scheme> = await buildSchemes(normalized, await loadBearerAuthFactory(fastify))
  const context = { schemes, defaultSchemes: normalized.defaultSchemes, protectByDefault: normalized.protectByDefault }

  // @fastify/swagger, if the app registers it (either order): security, responses, securitySchemes.
  const openapi = openapiDocumenter(fastify, normalized)

  fastify.decorateRequest('user', null)
  fastify.decorateRequest('auth', null)

  // Routes declared from here on: resolve config.auth once, fail the boot on a bad one,
  // and give only protected routes the verification hook.
  fastify.addHook('onRoute', function protectedRoutesOnRoute (routeOptions) {
    let resolution: Resolution
    try {
      resolution = resolveRoute(routeOptions.config?.auth, routeOptions.method, context)
    } catch (err) {
      throw new InvalidRouteConfigError(...describe(routeOptions.method, routeOptions.url), (err as Error).message)
    }
    // A fresh config object per route: the app may share one config object between routes.
    routeOptions.config = { ...routeOptions.config, [kRoute]: resolution } as NonNullable<RouteOptions['config']>
    if (resolution !== PUBLIC) prependHook(routeOptions, normalized.hook, routeHook(resolution as ResolvedRoute, normalized))
    openapi.addRoute(routeOptions, resolution)
  })

  // Fail closed for routes this onRoute hook never saw (declared before the plugin loaded,
  // e.g. when register() was not awaited): the guard protects them as declared. On every
  // other route it is one property read.
  // Per late route (keyed by its config object): its hook, or PUBLIC, or NOT_PREPARED.
  const late = new WeakMap<object, Hook | typeof PUBLIC | typeof NOT_PREPARED>()
  function lateHook (request: FastifyRequest, config: Record<PropertyKey, unknown>): Hook | typeof PUBLIC | typeof NOT_PREPARED {
    let hook = late.get(config)
    if (hook === undefined) {
      const [method, url] = describe(request.routeOptions.method, String(request.routeOptions.url))
      try {
        const resolution = resolveRoute(config.auth, request.routeOptions.method, context)
        hook = resolution === PUBLIC ? PUBLIC : routeHook(resolution as ResolvedRoute, normalized)
        if (hook !== PUBLIC) request.log.warn({ method, url }, 'fastify-protected-routes: this route was declared before the plugin loaded; it is protected by the fallback hook. Await app.register(protectedRoutes, …) before declaring routes.')
      } catch (err) {
        request.log.error({ method, url, reason: (err as RouteConfigProblem).message }, 'fastify-protected-routes: invalid config.auth on a route declared before the plugin loaded')
        hook = NOT_PREPARED
      }
      late.set(config, hook)
    }
    return hook
  }

  function protectedRoutesGuard (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const config = request.routeOptions.config as unknown as Record<PropertyKey, unknown>
    if (config[kRoute] !== undefined || request.is404) return done()
    const hook = lateHook(request, config)
    // A new error per request: error objects are mutable and an error handler may decorate them.
    if (hook === NOT_PREPARED) return done(new RouteNotPreparedError())
    if (typeof hook === 'function') return hook(request, reply, done)
    done() // PUBLIC
  }
  // Fastify's addHook also reaches the child contexts that already exist (registered before
  // this plugin), so their early routes are guarded too, each exactly once.
  fastify.addHook(normalized.hook, protectedRoutesGuard)
}
