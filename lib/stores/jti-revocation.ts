import type { FastifyRequest } from 'fastify'
import type { TokenStore } from './token-store.js'

/**
 * The JWT verifier's `isRevoked`, backed by a {@link TokenStore}: a JWT is refused once its
 * `jti` was revoked (`store.revokeJti(jti, exp)`, e.g. at logout) or once `store.revokeAll(sub)`
 * ran after its `iat`. One round trip per request at most (the Redis store caches answers locally
 * and is told of revocations by pub/sub). A token without `jti` can only be revoked through its
 * `sub`: add `'jti'` to `requiredClaims` to refuse such tokens.
 *
 * @example
 * jwt: { publicKey, algorithms: ['ES256'], issuer, audience, requiredClaims: ['jti'], isRevoked: jtiRevocation(store) }
 */
export function jtiRevocation (store: TokenStore): (claims: Readonly<Record<string, unknown>>, request: FastifyRequest) => Promise<boolean> {
  if (typeof store?.isJwtRevoked !== 'function') throw new TypeError('jtiRevocation needs a token store')
  return function isRevoked (claims) {
    return store.isJwtRevoked(claims)
  }
}
