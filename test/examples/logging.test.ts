import t from 'tap'
import { serializeError } from '../../examples/logging.js'

t.test('an error is logged with its type, message, stack, code, status and causes, and nothing else', async (t) => {
  const redis = new Error('connect ECONNREFUSED 127.0.0.1:6379')
  const err = Object.assign(new Error('The token store is unavailable', { cause: redis }), {
    code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE',
    statusCode: 503,
    validation: [{ params: { additionalProperty: 'a-credential' } }],
    headers: { authorization: 'Bearer a-credential' }
  })
  const logged = serializeError(err)
  t.same(logged, {
    type: 'Error',
    message: 'The token store is unavailable',
    stack: err.stack,
    code: 'FST_PROTECTED_ROUTES_VERIFIER_UNAVAILABLE',
    statusCode: 503,
    cause: { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:6379', stack: redis.stack, code: undefined, statusCode: undefined, cause: undefined }
  })
  t.notOk(JSON.stringify(logged).includes('a-credential'))
})

t.test('a cause that is not an Error is left out, and a cycle of causes ends', async (t) => {
  t.equal(serializeError(new Error('x', { cause: 'a string' })).cause, undefined)
  const cyclic = new Error('a')
  ;(cyclic as { cause?: unknown }).cause = cyclic
  let depth = 0
  for (let entry = serializeError(cyclic).cause; entry !== undefined; entry = entry.cause) depth++
  t.equal(depth, 4)
})
