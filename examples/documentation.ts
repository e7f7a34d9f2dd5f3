import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

/** Where Swagger UI is served; the OpenAPI document is at `/documentation/json` and `/documentation/yaml`. */
export const DOCUMENTATION_PREFIX = '/documentation'

/** The scopes of the bearer scheme, as the Authorize dialog lists them. */
export const SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({
  'me:read': 'Read your own account (GET /users/me)',
  'items:read': 'List the items (GET /items)',
  'items:write': 'Create items (POST /items)'
})

/**
 * @fastify/swagger and @fastify/swagger-ui on the app itself (not encapsulated): swagger's
 * `onRoute` hook must see the API's routes, which are declared in a context of their own.
 * The app keeps these routes public with fastify-protected-routes' `publicRoutes`.
 * fastify-protected-routes completes the document with each route's `security` and the
 * `securitySchemes` once the app is ready. Swagger UI's assets are served from the package
 * itself, and no validator badge is fetched: the page needs nothing beyond this server.
 */
export const documentation = fp(async function documentation (app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'fastify-protected-routes example',
        version: '1.0.0',
        description: 'FastAPI\'s "protected routes" and OAuth2 password tutorials on fastify-protected-routes. ' +
          'Authorize with the OAuth2 password flow (POST /token, as a user the start script lists) for the bearer routes, ' +
          'or with the X-Token key for GET /protected.'
      }
    }
  })
  await app.register(swaggerUi, { routePrefix: DOCUMENTATION_PREFIX })
}, { fastify: '5.x', name: 'example-documentation' })
