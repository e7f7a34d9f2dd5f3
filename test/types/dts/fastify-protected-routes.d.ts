// The README's augmentation snippet, pasted as it is into a .d.ts file. The import makes the
// file a module, so the declaration below augments the package's types; without it, the file
// would be a script whose `declare module` replaces them (TS2769 on every register call).
import 'fastify-protected-routes'

declare module 'fastify-protected-routes' {
  interface FastifyProtectedRoutes {
    user: { username: string, scopes: string[] }
    schemes: 'bearerAuth' | 'tokenHeader'
  }
}
