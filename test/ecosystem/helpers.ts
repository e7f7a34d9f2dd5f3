import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

export const run = promisify(execFile)
export const root = join(import.meta.dirname, '..', '..')
/** The environment of child processes: no coverage, they run the built dist. */
export const childEnv = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' }

/** The fixtures import the package by name, which resolves to dist: build it if it is missing. */
export async function ensureBuilt (): Promise<void> {
  if (!existsSync(join(root, 'dist', 'index.js'))) await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root })
}

/** Runs tsc on a project; resolves with its exit code and everything it printed. */
export async function tsc (project: string, cwd = root): Promise<{ code: number, output: string }> {
  const args = [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project]
  return await run(process.execPath, args, { cwd, env: childEnv }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (err: { code: number, stdout: string, stderr: string }) => ({ code: err.code, output: err.stdout + err.stderr }))
}
