import type { FastifyRequest } from 'fastify'
import { Authenticated } from './auth-info.js'
import { UserRequiredError } from './errors.js'
import type { AuthUser } from './types.js'
import './augment.js'

/**
 * The verified user of a request, typed and never `null`: for handlers of routes that require
 * authentication, instead of `request.user!`. It reads `request.auth`, so it works whatever
 * `userProperty` says. Fails closed: on a request without a verified user (a public route, an
 * anonymous request to an optional route, or an app where the plugin is not registered) it
 * throws {@link UserRequiredError}, a 500, so the handler never goes on without one.
 *
 * @example
 * app.get('/users/me', { config: { auth: true } }, async (request) => {
 *   const user = requireUser(request) // AuthUser, not AuthUser | null
 *   return { username: user.username }
 * })
 */
export function requireUser (request: FastifyRequest): AuthUser {
  const auth: unknown = request.auth
  // Only what verification set: not null, nor an object some other code assigned.
  if (!(auth instanceof Authenticated)) throw new UserRequiredError()
  return auth.user
}
