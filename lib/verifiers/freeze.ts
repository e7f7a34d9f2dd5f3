/**
 * Every user the plugin hands out, and `request.auth`, is deeply frozen: a user is shared by
 * every request that presents the same credential (static tokens, a cached JWT, a store's
 * record), so nothing a handler does may change what the next request sees. Per-request data
 * belongs on the app's own request decorator.
 */

/**
 * Objects frozen here all the way down (their own data properties, recursively). Membership is
 * the fast path: a user handed out again (a static token's, a cached JWT's claims, the same
 * object from a verify function) costs one lookup. `Object.isFrozen` would not do: it holds for
 * an object frozen one level deep, whose nested objects are still shared and mutable.
 */
let deeplyFrozen = new WeakSet<object>()

/** Deeper than any user object; a longer chain is refused, not walked. */
export const MAX_FREEZE_DEPTH = 32
/** More own properties than any user object has, in all its nested objects together. */
export const MAX_FREEZE_PROPERTIES = 10_000

let budget = 0

function walk (node: object, depth: number): void {
  // Marked before its children are walked: a cycle back to it stops here.
  deeplyFrozen.add(node)
  // Typed arrays and DataViews with elements cannot be frozen (Object.freeze throws): their
  // bytes stay mutable, as do the internal slots of a Map, Set or Date, which freezing does not reach.
  if (ArrayBuffer.isView(node)) return
  if (depth === MAX_FREEZE_DEPTH) throw new TypeError(`a user object nested more than ${MAX_FREEZE_DEPTH} levels deep cannot be frozen`)
  const keys = Reflect.ownKeys(node)
  budget -= keys.length
  if (budget < 0) throw new TypeError(`a user object with more than ${MAX_FREEZE_PROPERTIES} properties cannot be frozen`)
  for (const key of keys) {
    // Through descriptors: no getter runs. Functions are behaviour, not data: not walked, so a
    // class or a shared helper a user refers to is never frozen for the whole app.
    const value = (Reflect.getOwnPropertyDescriptor(node, key) as PropertyDescriptor).value as unknown
    if (typeof value === 'object' && value !== null && !deeplyFrozen.has(value)) walk(value, depth + 1)
  }
  Object.freeze(node)
}

/**
 * Freezes `value` and every object reachable through its own data properties, in place, and
 * returns it. Skips what was frozen here before. Throws a TypeError for a structure deeper than
 * {@link MAX_FREEZE_DEPTH} or larger than {@link MAX_FREEZE_PROPERTIES}; a Proxy trap may
 * throw anything. Callers turn either into a fault (500) or a boot error.
 */
export function deepFreeze<T> (value: T): T {
  if (typeof value !== 'object' || value === null || deeplyFrozen.has(value)) return value
  budget = MAX_FREEZE_PROPERTIES
  try {
    walk(value, 0)
  } catch (err) {
    // Objects marked on the way down may not be frozen: forget every mark rather than trust one.
    deeplyFrozen = new WeakSet()
    throw err
  }
  return value
}
