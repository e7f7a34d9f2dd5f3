import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { TokenStore } from '../lib/index.js'
import type { TokenFormat } from './store.js'

/** Options of {@link logoutRoute}. */
export interface LogoutOptions {
  readonly store: TokenStore
  readonly tokenFormat: TokenFormat
}

/** The token of a request the plugin has already accepted: `Bearer` or `DPoP` (any case), spaces, the token. */
function presentedToken (request: FastifyRequest): string {
  const authorization = request.headers.authorization as string
  return authorization.slice(authorization.indexOf(' ')).trimStart()
}

/**
 * POST /logout: revokes the access token the request presents; with `?all=true`, every token of
 * its user. For a JWT that means its `jti` in the store's denylist until its `exp` (and, for
 * `all`, every JWT of the user issued until now); for an opaque token, the token itself. Every
 * instance sharing the store refuses the token from then on.
 */
export async function logoutRoute (app: FastifyInstance, options: LogoutOptions): Promise<void> {
  const { store, tokenFormat } = options

  app.post<{ Querystring: { all?: 'true' | 'false' } }>('/logout', {
    // Any valid access token may log itself out: no scope is needed.
    config: { auth: true },
    schema: {
      querystring: { type: 'object', additionalProperties: false, properties: { all: { type: 'string', enum: ['true', 'false'] } } },
      response: { 204: { type: 'null' } }
    }
  }, async function logout (request, reply) {
    const username = (request.user as { username: string }).username
    if (request.query.all === 'true') {
      await store.revokeAll(username)
    } else if (tokenFormat === 'opaque') {
      await store.revoke(presentedToken(request))
    } else {
      // requiredClaims: ['jti'] makes both present on every token the scheme accepts.
      const { jti, exp } = request.auth!.claims as { jti: string, exp: number }
      await store.revokeJti(jti, exp)
    }
    request.log.info({ username, all: request.query.all === 'true' }, 'logged out')
    return reply.code(204).send()
  })
}
