import t from 'tap'
import { banner, readClientBase, readConfig, readPublicOrigin } from '../../examples/config.js'

t.test('the start script listens on 127.0.0.1:3000 with the default X-Token unless told otherwise', async (t) => {
  t.same(readConfig({}), { port: 3000, host: '127.0.0.1', secretToken: 'mysecrettoken' })
  t.same(readConfig({ PORT: '', HOST: '' }), { port: 3000, host: '127.0.0.1', secretToken: 'mysecrettoken' }, 'empty counts as unset')
  t.same(readConfig({ PORT: '0', HOST: '::1', SECRET_TOKEN: 'from-env' }), { port: 0, host: '::1', secretToken: 'from-env' })
  t.same(readConfig({ PORT: '65535' }).port, 65535)
  t.same(readConfig({ SECRET_TOKEN: '' }).secretToken, '', 'an empty SECRET_TOKEN is passed on, for the plugin to refuse')
})

t.test('a PORT that is not a port stops the start', async (t) => {
  for (const PORT of ['abc', '-1', '65536', '3000.5', ' 3000', '0x10', '100000']) {
    t.throws(() => readConfig({ PORT }), new RangeError('PORT must be an integer from 0 to 65535'), PORT)
  }
})

t.test('the banner shows the URL, the demo users and the default X-Token', async (t) => {
  t.equal(banner('http://127.0.0.1:3000', readConfig({})), [
    'Example server listening on http://127.0.0.1:3000',
    '',
    'Demo users (POST /token, grant_type=password):',
    '  alice / wonderland  scopes: me:read items:read items:write',
    '  bob / builder       scopes: me:read items:read',
    '  carol / disabled    disabled account',
    'X-Token for GET /protected: mysecrettoken',
    ''
  ].join('\n'))
})

t.test('the banner never prints a configured SECRET_TOKEN', async (t) => {
  const text = banner('http://127.0.0.1:3000', readConfig({ SECRET_TOKEN: 'do-not-print-me' }))
  t.notMatch(text, 'do-not-print-me')
  t.match(text, 'X-Token for GET /protected: (the value of SECRET_TOKEN)\n')
})

t.test('PUBLIC_ORIGIN is passed on as it is, for buildServer to check; unset or empty is none', async (t) => {
  t.equal(readPublicOrigin({}), undefined)
  t.equal(readPublicOrigin({ PUBLIC_ORIGIN: '' }), undefined)
  t.equal(readPublicOrigin({ PUBLIC_ORIGIN: 'https://api.example' }), 'https://api.example')
  t.equal(readPublicOrigin({ PUBLIC_ORIGIN: 'https://api.example/' }), 'https://api.example/', 'not corrected here: buildServer refuses it')
})

t.test('the DPoP client script goes to BASE_URL, by default where npm start listens', async (t) => {
  t.equal(readClientBase({}).href, 'http://127.0.0.1:3000/')
  t.equal(readClientBase({ BASE_URL: '' }).href, 'http://127.0.0.1:3000/', 'empty counts as unset')
  t.equal(readClientBase({ BASE_URL: 'https://api.example:8443' }).href, 'https://api.example:8443/')
  t.throws(() => readClientBase({ BASE_URL: 'not a url' }), TypeError)
})
