/**
 * oidc-provider's warnings that this demo expects and answers here, so that they do not scare a
 * reader of its output: v9 asks for Node.js 22 LTS or later (this package's engines allow 20.19,
 * where it works), and keeping its state in memory is the point of a demo started from a script.
 */
export const EXPECTED_WARNINGS: readonly string[] = Object.freeze([
  'oidc-provider WARNING: Unsupported runtime.',
  'oidc-provider WARNING: a quick start development-only in-memory adapter is used'
])

function expected (args: readonly unknown[]): boolean {
  const [first] = args
  return typeof first === 'string' && EXPECTED_WARNINGS.some((warning) => first.startsWith(warning))
}

/** Runs `fn` (an import, a constructor) with console.warn dropping {@link EXPECTED_WARNINGS}; any other warning is printed. */
export async function withoutExpectedWarnings<T> (fn: () => T | Promise<T>): Promise<T> {
  const warn = console.warn
  console.warn = (...args: unknown[]) => {
    if (!expected(args)) warn(...args)
  }
  try {
    return await fn()
  } finally {
    console.warn = warn
  }
}
