import t from 'tap'
import { allowedEndpoint, isAllowedEndpoint } from '../lib/verifiers/endpoint-url.js'

t.test('only https:, or http: on a loopback host, may be fetched', async (t) => {
  for (const ok of ['https://as.example/jwks', 'http://127.0.0.1:3000/', 'http://[::1]/', 'http://localhost/x']) {
    t.ok(isAllowedEndpoint(new URL(ok)), ok)
    t.equal(allowedEndpoint(ok)?.href, new URL(ok).href, ok)
    t.equal(allowedEndpoint(new URL(ok))?.href, new URL(ok).href, `${ok} as a URL`)
  }
  for (const bad of ['http://as.example/', 'http://127.0.0.2/', 'ftp://127.0.0.1/', 'file:///etc/passwd', 'relative/path', '', 42, null, undefined, { href: 'https://as.example/' }]) {
    t.equal(allowedEndpoint(bad), undefined, String(bad))
  }
})
