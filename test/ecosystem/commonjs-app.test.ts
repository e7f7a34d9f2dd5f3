import t from 'tap'
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { childEnv, ensureBuilt, root, run, tsc } from './helpers.js'

// A CommonJS TypeScript app (fixtures/commonjs-app) in a project of its own, with the package
// installed as a link to this repository (its dist): type-checked without skipLibCheck under
// module commonjs + moduleResolution node10, and under module nodenext, then compiled and run
// with node, which requires the ES module package (Node >= 20.19). The project sits under
// .tap/ so that fastify resolves from this repository's node_modules.
await ensureBuilt()
await mkdir(join(root, '.tap'), { recursive: true })
const project = await mkdtemp(join(root, '.tap', 'ecosystem-commonjs-'))
t.teardown(() => rm(project, { recursive: true, force: true }))
await cp(join(root, 'test', 'ecosystem', 'fixtures', 'commonjs-app'), project, { recursive: true })
await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'commonjs-app', private: true, type: 'commonjs' }))
await mkdir(join(project, 'node_modules'))
await symlink(root, join(project, 'node_modules', 'fastify-protected-routes'), 'dir')

const expected = {
  module: 'commonjs',
  me: { status: 200, body: { username: 'alice' } },
  anonymous: { status: 401, challenge: 'Bearer realm="api"' },
  errorClass: 'FST_PROTECTED_ROUTES_INVALID_OPTION'
}

for (const [what, config, out] of [['module commonjs, moduleResolution node10', 'tsconfig.json', 'out'], ['module nodenext', 'tsconfig.nodenext.json', 'out-nodenext']]) {
  t.test(`${what}: type-checks without skipLibCheck, compiles, and runs with require()`, async (t) => {
    const { code, output } = await tsc(config as string, project)
    t.equal(output, '')
    t.equal(code, 0)
    const compiled = join(project, out as string, 'app.js')
    const { stdout } = await run(process.execPath, [compiled], { cwd: project, env: childEnv })
    t.same(JSON.parse(stdout), expected)
  })
}
