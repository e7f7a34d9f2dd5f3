import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import protectedRoutes, { requireUser } from '../../lib/index.js'
import { errorBody } from '../helpers/app.js'

// With @fastify/type-provider-typebox, a route's body, params and reply types come from its
// schema; config.auth must not widen them. The @ts-expect-error lines are checked by
// `npm run typecheck`.
t.test("a route's TypeBox body type survives config.auth, and the route is protected", async (t) => {
  const app = Fastify().withTypeProvider<TypeBoxTypeProvider>()
  t.teardown(() => app.close())
  await app.register(protectedRoutes, {
    schemes: { bearerAuth: { type: 'bearer', tokens: { 'alice-token': { username: 'alice', scopes: ['items:write'] } } } }
  })

  const body = Type.Object({ name: Type.String(), quantity: Type.Integer({ minimum: 1 }) })
  const params = Type.Object({ list: Type.String() })
  let verified = 0
  app.post('/lists/:list/items', {
    schema: { body, params },
    config: {
      auth: {
        scopes: ['items:write'],
        // The route's own request type, through the method syntax of authorize.
        authorize (request: FastifyRequest<{ Params: { list: string } }>) { return request.params.list !== 'frozen' }
      }
    }
  }, async (request) => {
    verified++
    const name: string = request.body.name
    const quantity: number = request.body.quantity
    const list: string = request.params.list
    // @ts-expect-error the body's name is a string
    const wrong: number = request.body.name
    // @ts-expect-error the body has no price
    const price: unknown = request.body.price
    t.equal(typeof wrong, 'string')
    t.equal(price, undefined)
    return { list, name, quantity, by: requireUser(request).username }
  })

  const headers = { authorization: 'Bearer alice-token' }
  const ok = await app.inject({ method: 'POST', url: '/lists/groceries/items', headers, payload: { name: 'milk', quantity: 2 } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { list: 'groceries', name: 'milk', quantity: 2, by: 'alice' })

  // Verification runs first (onRequest): no credential, no body validation error.
  const anonymous = await app.inject({ method: 'POST', url: '/lists/groceries/items', payload: { name: 1 } })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), errorBody(401, 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', 'Authentication is required'))

  const invalid = await app.inject({ method: 'POST', url: '/lists/groceries/items', headers, payload: { name: 'milk', quantity: 0 } })
  t.equal(invalid.statusCode, 400)
  const frozen = await app.inject({ method: 'POST', url: '/lists/frozen/items', headers, payload: { name: 'milk', quantity: 2 } })
  t.equal(frozen.statusCode, 403)
  t.equal(verified, 1)
})
