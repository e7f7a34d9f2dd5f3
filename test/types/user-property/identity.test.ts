import t from 'tap'
import Fastify from 'fastify'
import protectedRoutes, { requireUser, type ProtectedRoutesOptions } from '../../../lib/index.js'

// A project of its own (typecheck runs it separately): the user goes on request.identity,
// so that another plugin (@fastify/jwt, @fastify/passport) may own request.user.
declare module '../../../lib/index.js' {
  interface FastifyProtectedRoutes {
    user: { username: string }
    userProperty: 'identity'
  }
}

const schemes: ProtectedRoutesOptions['schemes'] = { bearerAuth: { type: 'bearer', tokens: { 'alice-token': { username: 'alice' } } } }

t.test('request.identity is the typed user, and request.user is not this plugin\'s', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, { schemes, userProperty: 'identity' })
  app.get('/me', { config: { auth: true } }, async (request) => {
    const identity: string | undefined = request.identity?.username
    const required: string = requireUser(request).username
    // @ts-expect-error request.user is not declared by this plugin when userProperty is another name
    const user: unknown = request.user
    return { identity, required, hasUser: user !== undefined }
  })
  const res = await app.inject({ url: '/me', headers: { authorization: 'Bearer alice-token' } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { identity: 'alice', required: 'alice', hasUser: false })
})

t.test('the declared userProperty is required in the options, and must be that name', async (t) => {
  // @ts-expect-error userProperty: 'identity' is required once it is declared
  const omitted: ProtectedRoutesOptions = { schemes }
  // @ts-expect-error userProperty must be the declared name
  const other: ProtectedRoutesOptions = { schemes, userProperty: 'user' }
  t.same([omitted.userProperty, other.userProperty], [undefined, 'user'])
})
