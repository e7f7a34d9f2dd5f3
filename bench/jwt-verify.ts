/**
 * Cost of one JWT verification, in one process: jose's jwtVerify (uncached), the plugin's
 * JWT verifier with its cache off (uncached) and with its cache on (a hit), for HS256 and
 * RS256, with the static-token verifier as the reference for "a lookup". Several alternating
 * rounds; the medians are printed.
 *
 *   npx tsx bench/jwt-verify.ts [opsPerRound=20000] [rounds=7]
 */
import { webcrypto } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { generateKeyPair, importSPKI, exportSPKI, jwtVerify, SignJWT, type JWTVerifyOptions } from 'jose'
import { jwtVerifier } from '../lib/verifiers/jwt.js'
import { staticTokensVerifier } from '../lib/verifiers/static-tokens.js'
import type { Verifier } from '../lib/verifiers/verifier.js'

const ops = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 7)
const issuer = 'https://issuer.example/'
const audience = 'https://api.example/'
// Only the JWKS path logs; nothing here reaches it.
const request = { log: { warn () {} } } as unknown as FastifyRequest

type Case = readonly [name: string, run: () => unknown, opsPerRound: number]

async function token (key: Parameters<SignJWT['sign']>[0], alg: string): Promise<string> {
  return await new SignJWT({ scope: 'read write' })
    .setProtectedHeader({ alg, typ: 'at+jwt' })
    .setIssuer(issuer).setAudience(audience).setSubject('bench')
    .setIssuedAt().setExpirationTime('2h').setJti('bench')
    .sign(key)
}

function viaVerifier (verifier: Verifier, jwt: string): () => unknown {
  return () => verifier(jwt, request)
}

async function time (run: () => unknown, count: number): Promise<number> {
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    const result = run()
    // Hits answer synchronously; only a promise is awaited.
    if (result instanceof Promise) await result
  }
  return Number(process.hrtime.bigint() - start) / 1000 / count
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function main (): Promise<void> {
  const secret = webcrypto.getRandomValues(new Uint8Array(32))
  const hmacKey = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
  const rsa = await generateKeyPair('RS256', { extractable: true })
  const pem = await exportSPKI(rsa.publicKey)
  const rsaKey = await importSPKI(pem, 'RS256')
  const hsToken = await token(secret, 'HS256')
  const rsToken = await token(rsa.privateKey, 'RS256')
  const joseOptions = (alg: string): JWTVerifyOptions => ({ algorithms: [alg], issuer, audience, requiredClaims: ['exp'], clockTolerance: 30 })

  const base = { issuer, audience }
  const hsUncached = await jwtVerifier('bench', { ...base, secret, algorithms: ['HS256'], cache: false })
  const hsCached = await jwtVerifier('bench', { ...base, secret, algorithms: ['HS256'] })
  const rsUncached = await jwtVerifier('bench', { ...base, publicKey: pem, algorithms: ['RS256'], cache: false })
  const rsCached = await jwtVerifier('bench', { ...base, publicKey: pem, algorithms: ['RS256'] })
  const staticToken = 'static-token-0123456789abcdefghijklmnopqrstuvwxyz'
  const tokens = staticTokensVerifier('bench', { [staticToken]: { username: 'bench' } }, () => true, () => [], 8192)
  // Warm the caches, and prove every case accepts its token.
  for (const [verifier, jwt] of [[hsUncached, hsToken], [hsCached, hsToken], [rsUncached, rsToken], [rsCached, rsToken], [tokens, staticToken]] as const) {
    if (await verifier(jwt, request) === null) throw new Error('a bench token was refused')
  }

  // RSA verification is far slower: fewer operations keep the rounds short.
  const slow = Math.max(1, Math.floor(ops / 10))
  const cases: Case[] = [
    ['HS256 jose jwtVerify (uncached)', () => jwtVerify(hsToken, hmacKey, joseOptions('HS256')), ops],
    ['HS256 verifier, cache off', viaVerifier(hsUncached, hsToken), ops],
    ['HS256 verifier, cache hit', viaVerifier(hsCached, hsToken), ops * 10],
    ['RS256 jose jwtVerify (uncached)', () => jwtVerify(rsToken, rsaKey, joseOptions('RS256')), slow],
    ['RS256 verifier, cache off', viaVerifier(rsUncached, rsToken), slow],
    ['RS256 verifier, cache hit', viaVerifier(rsCached, rsToken), ops * 10],
    ['static token lookup (reference)', viaVerifier(tokens, staticToken), ops * 10]
  ]
  const results = new Map<string, number[]>(cases.map(([name]) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so no case always runs first (or last) in a round.
    const order = round % 2 === 0 ? cases : [...cases].reverse()
    for (const [name, run, count] of order) results.get(name)!.push(await time(run, count))
  }

  console.log(`node ${process.version}, ${rounds} rounds, median µs/op`)
  for (const [name, , count] of cases) {
    console.log(`${name.padEnd(34)} ${median(results.get(name)!).toFixed(2).padStart(9)} µs/op  (${count} ops/round)`)
  }
}

await main()
