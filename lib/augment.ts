import type { AuthInfo, AuthUser, RouteAuthConfig } from './types.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified user; `null` on a public route or an anonymous request to an optional one. */
    user: AuthUser | null
    /** How the user was verified; `null` when there is no user. */
    auth: AuthInfo | null
  }
  interface FastifyContextConfig {
    /** Protect this route: `true`, `false` or `{ schemes, scopes, authorize, optional }`. */
    auth?: RouteAuthConfig
  }
}
