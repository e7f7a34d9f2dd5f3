// Type-checked only (npm run typecheck): an app that relies on fastify-protected-routes.d.ts.
import Fastify from 'fastify'
import protectedRoutes, { requireUser } from 'fastify-protected-routes'

const app = Fastify()
await app.register(protectedRoutes, {
  schemes: {
    bearerAuth: { type: 'bearer', verify: async (token) => token === 'alice-token' ? { username: 'alice', scopes: [] } : null },
    tokenHeader: { type: 'apiKey', in: 'header', name: 'X-Token', tokens: { mysecrettoken: { username: 'service', scopes: [] } } }
  }
})

app.get('/me', { config: { auth: { schemes: ['tokenHeader'] } } }, async (request) => {
  const username: string = requireUser(request).username
  const scopes: string[] | undefined = request.user?.scopes
  // @ts-expect-error the declared user has no id
  const id: unknown = requireUser(request).id
  return { username, scopes, id }
})

// @ts-expect-error tokenheader is not a declared scheme name
app.get('/typo', { config: { auth: { schemes: ['tokenheader'] } } }, async () => 'typo')

// @ts-expect-error the verify function must return the declared user type
await app.register(protectedRoutes, { schemes: { bearerAuth: { type: 'bearer', verify: () => ({ name: 1 }) }, tokenHeader: { type: 'apiKey', in: 'header', name: 'X', verify: () => null } } })
