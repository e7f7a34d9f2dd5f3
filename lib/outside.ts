import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { InvalidRouteConfigError, RouteOutsidePluginError } from './errors.js'
import { safeLog } from './log.js'
import { describeRoute } from './route-config.js'

/**
 * Routes that ask for `auth` outside every context the plugin is registered in. Fastify
 * encapsulates hooks, so a plugin registered in a child context cannot verify a route at the
 * root or in a sibling context; left alone, such a route would answer 2xx to anyone. When the
 * plugin is not at the root, the root gets (once per app) an `onRoute` hook that fails the boot
 * for such routes declared from then on, and an `onRequest` hook that refuses, with a 500, the
 * requests of such routes declared earlier. At the root the plugin sees every route and none of
 * this is installed.
 */

/** The contexts the plugin is registered in, per app (keyed by the root instance). */
const registered = new WeakMap<object, object[]>()

/** The root instance: Fastify makes each encapsulated context with Object.create(parent). */
function rootOf (fastify: FastifyInstance): object {
  let root: object = fastify
  // The root's own prototype is Object.prototype, which has no addHook.
  for (let parent = Object.getPrototypeOf(root) as { addHook?: unknown }; typeof parent.addHook === 'function'; parent = Object.getPrototypeOf(parent) as { addHook?: unknown }) {
    root = parent
  }
  return root
}

function asksForAuth (auth: unknown): boolean {
  return auth !== undefined && auth !== false
}

/** Is `instance` (the context that declared a route) one of `contexts` or inside one? */
function inside (instance: object, contexts: readonly object[]): boolean {
  return contexts.some((context) => context === instance || Object.prototype.isPrototypeOf.call(context, instance))
}

const FIX = 'this route is outside the context fastify-protected-routes is registered in; register the plugin at the root (publicRoutes or auth: false keep routes public there), or in a context that contains this route, before declaring it'

function install (root: FastifyInstance, contexts: readonly object[]): void {
  root.addHook('onRoute', function protectedRoutesOutsideRoute (this: FastifyInstance, routeOptions) {
    if (asksForAuth(routeOptions.config?.auth) && !inside(this, contexts)) {
      throw new InvalidRouteConfigError(...describeRoute(routeOptions.method, routeOptions.url), FIX)
    }
  })
  // Per route (keyed by its config): is it outside every plugin context? Decided at its first
  // request, and logged then: the context that declared a route never changes.
  const outside = new WeakMap<object, boolean>()
  root.addHook('onRequest', function protectedRoutesOutsideGuard (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const config = request.routeOptions.config
    if (!asksForAuth(config.auth)) return done()
    let isOutside = outside.get(config)
    if (isOutside === undefined) {
      isOutside = !inside(request.server, contexts)
      outside.set(config, isOutside)
      if (isOutside) {
        const fields = { method: config.method, url: config.url }
        safeLog(request.log, 'error', fields, `fastify-protected-routes: ${FIX}`, fields)
      }
    }
    if (!isOutside) return done()
    reply.code(500)
    done(new RouteOutsidePluginError())
  })
}

/** Records that the plugin is registered in `fastify`, and guards the routes outside it (see above). */
export function guardOutside (fastify: FastifyInstance): void {
  const root = rootOf(fastify)
  if (root === fastify) return
  let contexts = registered.get(root)
  if (contexts === undefined) {
    contexts = []
    registered.set(root, contexts)
    install(root as FastifyInstance, contexts)
  }
  contexts.push(fastify)
}
