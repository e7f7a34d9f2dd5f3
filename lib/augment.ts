import type { AuthInfo, AuthUser, RouteAuthConfig, UserProperty } from './types.js'

/**
 * The user's property on the request, named by {@link UserProperty}: `user` unless the app
 * declares another `userProperty`, so that @fastify/jwt's or @fastify/passport's own `user`
 * can sit beside it. Read-only: it reads `request.auth.user`, which only verification sets.
 */
type UserSlot = {
  /** The verified user; `null` on a public route or an anonymous request to an optional one. */
  readonly [P in UserProperty]: AuthUser | null
}

declare module 'fastify' {
  interface FastifyRequest extends UserSlot {
    /** How the user was verified, and the user; `null` when there is no user. */
    auth: AuthInfo | null
  }
  interface FastifyContextConfig {
    /** Protect this route: `true`, `false` or `{ schemes, scopes, authorize, optional }`. */
    auth?: RouteAuthConfig
  }
}
