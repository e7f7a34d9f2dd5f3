import { register } from 'node:module'

/**
 * From here on, `import 'fastify-protected-routes'` in code this process loads (a fixture
 * written as an app would write it) gets the sources (lib/), not the built dist/: what runs is
 * what the coverage gate counts, and one copy of the plugin is loaded, not two.
 */
export function packageNameToSources (): void {
  const lib = new URL('../../lib/index.js', import.meta.url).href
  register(`data:text/javascript,${encodeURIComponent(`export function resolve (specifier, context, next) {
  return next(specifier === 'fastify-protected-routes' ? ${JSON.stringify(lib)} : specifier, context)
}`)}`)
}
