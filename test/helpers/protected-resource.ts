// A fresh Fastify with protectedResource (RFC 9728) and an HS256 JWT scheme of ISSUER, whose
// tokens carry the resource as their audience unless a test says otherwise, on a clock fixed at NOW.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { ProtectedRoutesOptions, SchemeOptions } from '../../lib/index.js'
import type { ProtectedResourceOptions } from '../../lib/protected-resource.js'
import protectedRoutes from '../../lib/index.js'
import { fresh } from './app.js'
import { kJwtInternals } from '../../lib/verifiers/jwt.js'
import { claims, ISSUER, NOW, secret, sign } from './jwt.js'

export const RESOURCE = 'https://api.example/mcp'
export const METADATA_URL = 'https://api.example/.well-known/oauth-protected-resource/mcp'
export const METADATA = `resource_metadata="${METADATA_URL}"`
export const BEARER = `Bearer realm="api", ${METADATA}`

export interface ResourceHarness {
  readonly app: FastifyInstance
  readonly hs: Uint8Array
  /** A JWT of ISSUER for the resource (its `aud`), with `extra` claims. */
  token: (extra?: Record<string, unknown>) => Promise<string>
  /** GET `url` with `Authorization: Bearer <token>`, or with no credential. */
  get: (url: string, token?: string) => Promise<LightMyRequestResponse>
}

export interface ResourceHarnessOptions {
  readonly protectedResource?: Partial<ProtectedResourceOptions>
  /** More plugin options. */
  readonly plugin?: Partial<ProtectedRoutesOptions>
  /** More schemes beside `bearerAuth`. */
  readonly schemes?: Record<string, SchemeOptions>
  /** Options of bearerAuth's jwt (no audience by default: the resource is). */
  readonly jwt?: Record<string, unknown>
  /** Runs on the fresh app before the plugin is registered. */
  readonly before?: (app: FastifyInstance) => void
  /** The HS256 secret. @default a fresh one */
  readonly secret?: Uint8Array
}

export async function resourceApp (t: Test, options: ResourceHarnessOptions = {}): Promise<ResourceHarness> {
  const hs = options.secret ?? secret()
  const app = fresh(t)
  options.before?.(app)
  await app.register(protectedRoutes, {
    ...options.plugin,
    schemes: { bearerAuth: { type: 'bearer', jwt: { secret: hs, algorithms: ['HS256'], issuer: ISSUER, [kJwtInternals]: { now: () => NOW * 1000 }, ...options.jwt } }, ...options.schemes },
    protectedResource: { resource: RESOURCE, ...options.protectedResource }
  } as ProtectedRoutesOptions)
  return {
    app,
    hs,
    token: async (extra = {}) => await sign(hs, 'HS256', claims({ aud: RESOURCE, ...extra })),
    get: async (url, token) => await app.inject({ url, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  }
}
