import { createHmac } from 'node:crypto'

/** How long one nonce is current; it is accepted for one more window after (RFC 9449 §9). */
export const NONCE_WINDOW_MS = 300_000

/** What {@link Nonces.check} found. */
export type NonceAge = 'current' | 'previous' | undefined

/**
 * RFC 9449 §9 server nonces without shared state: the nonce of a window is the HMAC-SHA-256 of
 * its number with the secret, so every instance with the secret computes the same one. A proof
 * may carry the current window's nonce or the one before (a client that fetched it just before
 * the window turned).
 */
export class Nonces {
  readonly #secret: string
  #window = -1
  #current = ''
  #previous = ''

  constructor (secret: string) {
    this.#secret = secret
  }

  #of (window: number): string {
    return createHmac('sha256', this.#secret).update(String(window)).digest('base64url')
  }

  /** One HMAC when the window turns (two after a gap), none otherwise. */
  #at (nowMs: number): void {
    const window = Math.floor(nowMs / NONCE_WINDOW_MS)
    if (window === this.#window) return
    // The first call has no current nonce to keep.
    this.#previous = this.#window !== -1 && window === this.#window + 1 ? this.#current : this.#of(window - 1)
    this.#current = this.#of(window)
    this.#window = window
  }

  /** The nonce to hand out now. */
  current (nowMs: number): string {
    this.#at(nowMs)
    return this.#current
  }

  /** Is `nonce` the current window's, the previous one's, or neither? */
  check (nonce: unknown, nowMs: number): NonceAge {
    this.#at(nowMs)
    if (nonce === this.#current) return 'current'
    return nonce === this.#previous ? 'previous' : undefined
  }
}
