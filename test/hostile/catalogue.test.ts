import t from 'tap'
import { pluginCatalogue } from './fixtures/catalogue.js'
import { buildFixture, fixtureKeys, SECRET } from './fixtures/fixture.js'
import { runCatalogue } from './fixtures/run.js'
import { watch } from './fixtures/watch.js'

// Every hostile request of the catalogue, through inject and as bytes on a socket, against one
// app that has a scheme of each kind. Each case pins the status, the WWW-Authenticate lines,
// the body code and whether any verifier may run; none may reflect or log a credential.
const w = watch()
const fixture = await buildFixture(w, await fixtureKeys())
t.teardown(() => fixture.app.close())
const cases = await pluginCatalogue(fixture.keys)

t.test('the catalogue holds at least 80 cases over every area', async (t) => {
  t.ok(cases.length >= 80, `${cases.length} cases`)
  t.same([...new Set(cases.map((c) => c.area))].sort(), [
    'api-key near miss', 'authorization edges', 'authorization header', 'b64token', 'credential location', 'duplicates',
    'jwt', 'jwt claims', 'scheme case', 'scopes', 'size', 'verifier fault'
  ])
  t.equal(new Set(cases.map((c) => `${c.area}: ${c.name}`)).size, cases.length, 'every case has its own name')
})

runCatalogue(t, w, fixture, cases, SECRET)
w.check(t, async () => await fixture.app.close())
