import type { ServerResponse } from 'node:http'
import t from 'tap'
import { descriptions, jwtDescriptions } from '../lib/errors.js'
import { assertRefused } from './helpers/jwt.js'
import { answering, introspectionApp, introspectionServer, json, NOW, type Received } from './helpers/introspection.js'

const active = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({ sub: 'alice', scope: 'read', exp: NOW + 3600, ...overrides })

t.test('an active token is answered from the cache until ttl (default 60 s)', async (t) => {
  const server = await introspectionServer(t, answering({ 'tok-1': active() }))
  const { get, clock } = await introspectionApp(t, { url: server.url })
  t.equal((await get('tok-1')).statusCode, 200)
  clock.ms += 59_999
  t.equal((await get('tok-1')).statusCode, 200)
  t.equal(server.callsFor('tok-1'), 1, 'one call within the ttl')
  clock.ms += 1
  t.equal((await get('tok-1')).statusCode, 200)
  t.equal(server.callsFor('tok-1'), 2, 'asked again once the ttl is over')
})

t.test('a token revoked at the server is refused once its entry ends', async (t) => {
  const tokens: Record<string, Record<string, unknown>> = { 'tok-1': active() }
  const server = await introspectionServer(t, answering(tokens))
  const { get, clock } = await introspectionApp(t, { url: server.url, cache: { ttl: 5 } })
  t.equal((await get('tok-1')).statusCode, 200)
  delete tokens['tok-1']
  t.equal((await get('tok-1')).statusCode, 200, 'still accepted within the ttl: the window ttl sets')
  clock.ms += 5000
  assertRefused(t, await get('tok-1'), descriptions.invalidToken)
})

t.test('an entry never outlives exp', async (t) => {
  const tokens: Record<string, Record<string, unknown>> = { 'tok-1': active({ exp: NOW + 5 }) }
  const server = await introspectionServer(t, answering(tokens))
  const { get, clock } = await introspectionApp(t, { url: server.url })
  t.equal((await get('tok-1')).statusCode, 200)
  clock.ms += 4999
  t.equal((await get('tok-1')).statusCode, 200)
  t.equal(server.callsFor('tok-1'), 1)
  clock.ms += 1
  tokens['tok-1'] = { active: false }
  assertRefused(t, await get('tok-1'), descriptions.invalidToken)
  t.equal(server.callsFor('tok-1'), 2, 'asked again at exp')
})

t.test('a token past exp but within the clock tolerance is accepted and not cached', async (t) => {
  const server = await introspectionServer(t, answering({ 'tok-1': active({ exp: NOW - 10 }) }))
  const { get } = await introspectionApp(t, { url: server.url })
  t.equal((await get('tok-1')).statusCode, 200)
  t.equal((await get('tok-1')).statusCode, 200)
  t.equal(server.callsFor('tok-1'), 2)
})

t.test('a refusal is cached for 10 s, or ttl when shorter', async (t) => {
  for (const [ttl, window] of [[undefined, 10_000], [3, 3000]] as const) {
    await t.test(`ttl ${ttl ?? 'default'}`, async (t) => {
      const tokens: Record<string, Record<string, unknown>> = {}
      const server = await introspectionServer(t, answering(tokens))
      const { get, clock } = await introspectionApp(t, { url: server.url, ...(ttl === undefined ? {} : { cache: { ttl } }) })
      assertRefused(t, await get('tok-1'), descriptions.invalidToken)
      tokens['tok-1'] = active()
      clock.ms += window - 1
      assertRefused(t, await get('tok-1'), descriptions.invalidToken)
      t.equal(server.callsFor('tok-1'), 1)
      clock.ms += 1
      t.equal((await get('tok-1')).statusCode, 200)
      t.equal(server.callsFor('tok-1'), 2)
    })
  }
})

t.test('a refusal by a check here is cached with its description', async (t) => {
  const server = await introspectionServer(t, answering({ 'tok-1': active({ cnf: { jkt: 'x' } }) }))
  const { get } = await introspectionApp(t, { url: server.url })
  assertRefused(t, await get('tok-1'), jwtDescriptions.bound)
  assertRefused(t, await get('tok-1'), jwtDescriptions.bound)
  t.equal(server.callsFor('tok-1'), 1)
})

t.test('a token not yet valid is refused until its nbf, no longer', async (t) => {
  const server = await introspectionServer(t, answering({ 'tok-1': active({ nbf: NOW + 35 }) }))
  const { get, clock } = await introspectionApp(t, { url: server.url })
  assertRefused(t, await get('tok-1'), jwtDescriptions.notYetValid)
  clock.ms += 4999
  assertRefused(t, await get('tok-1'), jwtDescriptions.notYetValid)
  t.equal(server.callsFor('tok-1'), 1)
  clock.ms += 1
  t.equal((await get('tok-1')).statusCode, 200, 'nbf is within the tolerance now')
  t.equal(server.callsFor('tok-1'), 2)
})

t.test('faults are never cached', async (t) => {
  let down = true
  const server = await introspectionServer(t, (received, res) => down ? json(res, {}, 503) : answering({ 'tok-1': active() })(received, res))
  const { get } = await introspectionApp(t, { url: server.url })
  t.equal((await get('tok-1')).statusCode, 503)
  down = false
  t.equal((await get('tok-1')).statusCode, 200)
  t.equal(server.callsFor('tok-1'), 2)
})

t.test('concurrent requests for one token share one call', async (t) => {
  const waiting: Array<() => void> = []
  const respond = answering({ 'tok-1': active() })
  const server = await introspectionServer(t, (received: Received, res: ServerResponse) => { waiting.push(() => respond(received, res)) })
  const { get } = await introspectionApp(t, { url: server.url })
  const answers = Promise.all([get('tok-1'), get('tok-1'), get('tok-1'), get('tok-1'), get('tok-1')])
  while (waiting.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  await new Promise((resolve) => setTimeout(resolve, 20))
  for (const release of waiting) release()
  t.same((await answers).map((res) => res.statusCode), [200, 200, 200, 200, 200])
  t.equal(server.callsFor('tok-1'), 1)
})

t.test('concurrent requests share a refusal and a fault too', async (t) => {
  for (const [name, respond, status] of [
    ['a refusal', (res: ServerResponse) => json(res, { active: false }), 401],
    ['a fault', (res: ServerResponse) => json(res, {}, 500), 503]
  ] as const) {
    await t.test(name, async (t) => {
      const waiting: Array<() => void> = []
      const server = await introspectionServer(t, (_received, res) => { waiting.push(() => respond(res)) })
      const { get } = await introspectionApp(t, { url: server.url })
      const answers = Promise.all([get('tok-1'), get('tok-1'), get('tok-1')])
      while (waiting.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
      await new Promise((resolve) => setTimeout(resolve, 20))
      for (const release of waiting) release()
      t.same((await answers).map((res) => res.statusCode), [status, status, status])
      t.equal(server.received.length, 1)
    })
  }
})

t.test('the cache is bounded: max entries, the least recently used evicted', async (t) => {
  const server = await introspectionServer(t, answering({ a: active(), b: active(), c: active() }))
  const { get } = await introspectionApp(t, { url: server.url, cache: { max: 2 } })
  for (const token of ['a', 'b', 'a', 'c', 'a', 'b']) t.equal((await get(token)).statusCode, 200)
  t.same(['a', 'b', 'c'].map(server.callsFor), [1, 2, 1], 'b was evicted by c; a, used since, was not')
})

t.test('a flood of unknown tokens does not evict active ones', async (t) => {
  const server = await introspectionServer(t, answering({ good: active() }))
  const { get } = await introspectionApp(t, { url: server.url, cache: { max: 2 } })
  t.equal((await get('good')).statusCode, 200)
  for (let i = 0; i < 10; i++) t.equal((await get(`random-${i}`)).statusCode, 401)
  t.equal((await get('good')).statusCode, 200)
  t.equal(server.callsFor('good'), 1)
  t.equal((await get('random-0')).statusCode, 401)
  t.equal(server.callsFor('random-0'), 2, 'the refusals are bounded too: the first was evicted')
})

t.test('with cache: false every request asks the endpoint', async (t) => {
  const server = await introspectionServer(t, answering({ 'tok-1': active() }))
  const { get } = await introspectionApp(t, { url: server.url, cache: false })
  t.equal((await get('tok-1')).statusCode, 200)
  t.equal((await get('tok-1')).statusCode, 200)
  t.equal((await get('other')).statusCode, 401)
  t.equal((await get('other')).statusCode, 401)
  t.equal(server.received.length, 4)
})

t.test('a cache hit is the same answer: the same frozen user and request.auth', async (t) => {
  const server = await introspectionServer(t, answering({ 'tok-1': active() }))
  const { app } = await introspectionApp(t, { url: server.url })
  const seen: unknown[] = []
  app.get('/seen', { config: { auth: true } }, async (request) => { seen.push(request.auth); return null })
  await app.inject({ url: '/seen', headers: { authorization: 'Bearer tok-1' } })
  await app.inject({ url: '/seen', headers: { authorization: 'Bearer tok-1' } })
  t.equal(seen[0], seen[1])
})
