import t from 'tap'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { verifyBearerAuthFactory as BearerAuthFactory } from '@fastify/bearer-auth'
import { normalizeOptions } from '../lib/options.js'
import { buildSchemes, type Answer } from '../lib/schemes/index.js'
import { spyVerify } from './helpers/app.js'

// The bearer scheme hands @fastify/bearer-auth a request that holds only the token this plugin
// parsed, and bearer-auth hands it back to the verifier. Should bearer-auth ever hand back
// another value (a change in how it reads the header), the credential is refused, unverified.
// A real bearer-auth never does: this drives the scheme with a factory that does.

const request = { log: { error () {} } } as unknown as FastifyRequest
const reply = {} as unknown as FastifyReply

function answer (): { answer: Answer, answers: Array<[unknown, unknown]> } {
  const answers: Array<[unknown, unknown]> = []
  return { answers, answer: (failed, verified) => { answers.push([failed, verified]) } }
}

t.test('a token bearer-auth hands back that is not the parsed one is refused without verification', async (t) => {
  const verify = spyVerify({ good: { id: 'alice' }, other: { id: 'mallory' } })
  const seen: string[] = []
  // What bearer-auth's verifyBearerAuth would do if it parsed the header differently.
  const factory = ((options: { auth: (key: string) => boolean | Promise<boolean> }) =>
    (fake: { raw: { headers: { authorization: string } } }, _reply: unknown, done: (err?: Error) => void) => {
      seen.push(fake.raw.headers.authorization)
      Promise.resolve(options.auth('other')).then((ok) => done(ok ? undefined : new Error('refused')), done)
    }) as unknown as BearerAuthFactory
  const schemes = await buildSchemes(normalizeOptions({ schemes: { bearer: { type: 'bearer', verify } } }), factory)
  const { answer: answered, answers } = answer()
  schemes.get('bearer')!.verify('good', request, reply, answered)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(seen, ['Bearer good'], 'bearer-auth is given exactly the parsed token')
  t.same(answers, [[undefined, null]], 'refused')
  t.same(verify.calls, [], 'the verifier never ran')
})

t.test('a bearer-auth that answers before calling auth has verified nothing: refused', async (t) => {
  for (const answers of ['accepted', 'refused']) {
    await t.test(answers, async (t) => {
      const verify = spyVerify({ good: { id: 'alice' } })
      // Answered at once, without ever calling `auth`, as a changed bearer-auth might.
      const factory = (() => (_fake: unknown, _reply: unknown, done: (err?: Error) => void) => {
        done(answers === 'accepted' ? undefined : new Error('refused'))
      }) as unknown as BearerAuthFactory
      const schemes = await buildSchemes(normalizeOptions({ schemes: { bearer: { type: 'bearer', verify } } }), factory)
      const { answer: answered, answers: got } = answer()
      schemes.get('bearer')!.verify('good', request, reply, answered)
      await new Promise((resolve) => setImmediate(resolve))
      t.same(got, [[undefined, null]], 'refused')
      t.same(verify.calls, [], 'the verifier never ran')
    })
  }
})

t.test('a bearer-auth that calls auth only later gets no verification: the call is over', async (t) => {
  const verify = spyVerify({ good: { id: 'alice' } })
  const factory = ((options: { auth: (key: string) => boolean | Promise<boolean> }) =>
    (_fake: unknown, _reply: unknown, done: (err?: Error) => void) => {
      setImmediate(() => { Promise.resolve(options.auth('good')).then((ok) => done(ok ? undefined : new Error('refused')), done) })
    }) as unknown as BearerAuthFactory
  const schemes = await buildSchemes(normalizeOptions({ schemes: { bearer: { type: 'bearer', verify } } }), factory)
  const { answer: answered, answers } = answer()
  schemes.get('bearer')!.verify('good', request, reply, answered)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(answers, [[undefined, null]], 'refused')
  t.same(verify.calls, [], 'the verifier never ran')
})
