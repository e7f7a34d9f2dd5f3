// DPoP proofs (RFC 9449 §4) for tests that craft what a client never would. Interop tests make
// theirs with oauth4webapi; these are signed with jose, header and claims as the test says.
import { createHash, randomUUID } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { calculateJwkThumbprint, SignJWT, type JWK, type JWTPayload } from 'jose'
import type { Test } from 'tap'
import protectedRoutes, { type DpopOptions, type JwtOptions, type ProtectedRoutesOptions } from '../../lib/index.js'
import { kDpopInternals } from '../../lib/dpop/proof.js'
import { kJwtInternals } from '../../lib/verifiers/jwt.js'
import { fresh } from './app.js'
import { AUDIENCE, claims, Clock, ISSUER, keyPair, NOW, secret, sign, type KeyPair } from './jwt.js'

export const ALGS = 'ES256 PS256 EdDSA RS256'
export const BEARER = 'Bearer realm="api"'
export const DPOP = `DPoP algs="${ALGS}"`
export const ORIGIN = 'http://localhost:80'

/** A client's DPoP key: its pair and its RFC 7638 thumbprint. */
export interface ClientKey extends KeyPair {
  readonly jkt: string
}

export async function clientKey (alg = 'ES256'): Promise<ClientKey> {
  const pair = await keyPair(alg)
  return { ...pair, jkt: await calculateJwkThumbprint(pair.publicJwk, 'sha256') }
}

/** base64url(SHA-256(token)): a proof's `ath` (RFC 9449 §4.2). */
export function ath (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

export interface ProofOptions {
  readonly htm?: string
  readonly htu?: string
  /** The access token, for `ath`; `undefined` leaves ath out unless `claims.ath` says otherwise. */
  readonly token?: string
  /** Seconds. @default NOW */
  readonly iat?: number
  /** Claims added or overridden (`undefined` removes one). */
  readonly claims?: Record<string, unknown>
  /** Header members added or overridden. */
  readonly header?: Record<string, unknown>
}

/** A DPoP proof signed with `key`: typ dpop+jwt, its public jwk, a fresh jti. */
export async function proof (key: ClientKey, options: ProofOptions = {}): Promise<string> {
  const all: Record<string, unknown> = {
    jti: randomUUID(),
    htm: options.htm ?? 'GET',
    htu: options.htu ?? `${ORIGIN}/me`,
    iat: options.iat ?? NOW,
    ...(options.token === undefined ? {} : { ath: ath(options.token) }),
    ...options.claims
  }
  const payload = Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined)) as JWTPayload
  return await new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.publicJwk as JWK, ...options.header } as never)
    .sign(key.privateKey)
}

export interface DpopHarness {
  readonly app: FastifyInstance
  readonly clock: Clock
  readonly key: ClientKey
  /** A JWT access token bound to `key` (cnf.jkt), with `extra` claims. */
  token: (extra?: Record<string, unknown>) => Promise<string>
  /** A JWT access token with no cnf: a bearer token. */
  bearerToken: () => Promise<string>
  /** `url` (default /me) with `Authorization: DPoP <token>` and a DPoP proof for it. */
  call: (token: string, options?: ProofOptions & { url?: string, method?: string }) => Promise<LightMyRequestResponse>
}

export interface DpopHarnessOptions {
  readonly dpop?: DpopOptions
  /** More plugin options (schemes are replaced by the harness's). */
  readonly plugin?: Partial<ProtectedRoutesOptions>
  readonly server?: Parameters<typeof fresh>[1]
}

/**
 * A fresh Fastify with one HS256 JWT bearer scheme with `dpop`, on a controlled clock shared by
 * the token and proof checks, and GET /me (auth: true), GET /admin (scope admin) answering
 * `{ user, auth }`.
 */
export async function dpopApp (t: Test, options: DpopHarnessOptions = {}): Promise<DpopHarness> {
  const clock = new Clock()
  const key = await clientKey()
  const hs = secret()
  const app = fresh(t, options.server)
  const jwt = { secret: hs, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, [kJwtInternals]: { now: clock.now } } as unknown as JwtOptions
  const dpop = { ...options.dpop, [kDpopInternals]: { now: clock.now } } as DpopOptions
  await app.register(protectedRoutes, { ...options.plugin, schemes: { bearerAuth: { type: 'bearer', jwt, dpop } } } as ProtectedRoutesOptions)
  const handler = async (request: { user: unknown, auth: unknown }) => ({ user: request.user, auth: request.auth })
  app.get('/me', { config: { auth: true } }, handler)
  app.post('/me', { config: { auth: true } }, handler)
  app.get('/admin', { config: { auth: { scopes: ['admin'] } } }, handler)
  return {
    app,
    clock,
    key,
    token: async (extra = {}) => await sign(hs, 'HS256', claims({ cnf: { jkt: key.jkt }, ...extra })),
    bearerToken: async () => await sign(hs, 'HS256', claims()),
    call: async (token, { url = '/me', method = 'GET', ...rest } = {}) => await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: method, htu: `${ORIGIN}${url.split('?')[0]!}`, token, ...rest }) }
    })
  }
}

/** The exact 401 challenge lines of a DPoP refusal with `error`, beside the plain Bearer one. */
export function dpopRefusal (error: string, description: string): string[] {
  return [BEARER, `${DPOP}, error="${error}", error_description="${description}"`]
}

export { NOW }
