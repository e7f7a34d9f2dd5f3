// The client side of DPoP (RFC 9449) as oauth4webapi, the certified client, does it: a key pair,
// the proofs it signs, and protected resource requests it sends over a real socket on 127.0.0.1,
// with every response header line kept as sent. No proof is assembled by hand here.
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { exportJWK, type JWK } from 'jose'
import * as oauth from 'oauth4webapi'

/**
 * The key types a client may hold. `Ed25519` and `EdDSA` are both Ed25519 keys: oauth4webapi
 * labels their proofs `alg: "Ed25519"` (RFC 9864), `EdDSA` relabels them `alg: "EdDSA"` with the
 * `modifyAssertion` hook its documentation shows for servers that only know the older name.
 */
export type DpopAlg = 'ES256' | 'PS256' | 'RS256' | 'Ed25519' | 'EdDSA'

/** A client's DPoP key pair. */
export interface DpopKey {
  readonly alg: DpopAlg
  readonly keyPair: oauth.CryptoKeyPair
  /** The public half, as the proofs' `jwk` header carries it. */
  readonly publicJwk: JWK
  /**
   * oauth4webapi's handle for this key: it signs a fresh proof per request and remembers the
   * last `DPoP-Nonce` each origin sent, for the next proof to that origin (RFC 9449 §8, §9).
   */
  readonly handle: oauth.DPoPHandle
  /** The handle options every handle of this key is made with. */
  readonly options: oauth.ModifyAssertionOptions
}

/** oauth4webapi's DPoP() reads only the clock skew of the client. */
const client: oauth.Client = { client_id: 'dpop-interop-client' }

function handleOptions (alg: DpopAlg, claims: Readonly<Record<string, unknown>> = {}): oauth.ModifyAssertionOptions {
  return {
    [oauth.modifyAssertion]: (header, payload) => {
      if (alg === 'EdDSA' && header.alg === 'Ed25519') header.alg = 'EdDSA'
      Object.assign(payload, claims)
    }
  }
}

/** A new key pair made by oauth4webapi's generateKeyPair, with its DPoP handle. */
export async function dpopKey (alg: DpopAlg = 'ES256'): Promise<DpopKey> {
  const keyPair = await oauth.generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg)
  const options = handleOptions(alg)
  return {
    alg,
    keyPair,
    publicJwk: await exportJWK(keyPair.publicKey),
    handle: oauth.DPoP(client, keyPair, options),
    options
  }
}

/** What a client on the wire saw. */
export interface WireResponse {
  readonly status: number
  /** Header lines as sent, names lower-cased, in order. */
  readonly headers: ReadonlyArray<readonly [string, string]>
  /** Every value sent for the header `name`, in order: a repeated header line stays repeated. */
  lines: (name: string) => string[]
  readonly body: string
  json: () => unknown
}

const seen = new WeakMap<Response, WireResponse>()

/** Sends over node:http to 127.0.0.1 (`via`: another port than the URL's, as a name resolved to a proxy would). */
function wire (url: URL, method: string, headers: Readonly<Record<string, string>>, body: string | undefined, via: number | undefined): Promise<WireResponse> {
  const port = via ?? Number(url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : url.port)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: `${url.pathname}${url.search}`, headers: { ...headers, host: url.host } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        const raw = res.rawHeaders
        const pairs: Array<[string, string]> = []
        for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!])
        resolve({
          status: res.statusCode ?? 0,
          headers: pairs,
          lines: (name) => pairs.filter(([key]) => key === name.toLowerCase()).map(([, value]) => value),
          body: text,
          json: () => JSON.parse(text) as unknown
        })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Any request, with exactly these headers (and Host from the URL), over the socket. */
export async function wireRequest (method: string, url: string | URL, headers: Readonly<Record<string, string>> = {}, { via }: { via?: number } = {}): Promise<WireResponse> {
  return await wire(new URL(url), method, headers, undefined, via)
}

/** oauth4webapi's customFetch over {@link wire}: the Response it gets is remembered with its raw header lines. */
function customFetch (via: number | undefined): NonNullable<oauth.HttpRequestOptions<string, oauth.ProtectedResourceRequestBody>[typeof oauth.customFetch]> {
  return async (url, init) => {
    const body = init.body === undefined || init.body === null ? undefined : String(init.body)
    const answer = await wire(new URL(url), init.method, init.headers, body, via)
    const headers = new Headers()
    // Headers joins repeated lines with ", " exactly as fetch does: oauth4webapi parses that.
    for (const [name, value] of answer.headers) headers.append(name, value)
    const response = new Response(answer.status === 204 || answer.status === 304 ? null : answer.body, { status: answer.status, headers })
    seen.set(response, answer)
    return response
  }
}

/** A protected resource request's outcome: the answer, and oauth4webapi's challenge error if it raised one. */
export interface ResourceResponse extends WireResponse {
  /** What protectedResourceRequest threw for a WWW-Authenticate answer (isDPoPNonceError takes it). */
  readonly challenge: oauth.WWWAuthenticateChallengeError | undefined
}

export interface ResourceRequestOptions {
  /** Sign a proof with this key's handle and present the token as `DPoP`; without, `Bearer`. */
  readonly key?: DpopKey
  /** Another handle of the key (one with other claims, or a nonce cache of its own). @default key.handle */
  readonly handle?: oauth.DPoPHandle
  /** Connect to this 127.0.0.1 port whatever the URL's host (a proxy in front). */
  readonly via?: number
}

/**
 * oauth4webapi's protectedResourceRequest: `Authorization: DPoP <token>` and a fresh proof for
 * this method and URL (and `ath` of the token) when a key is given, `Bearer <token>` otherwise.
 * The handle caches the answer's DPoP-Nonce, as it does for any request.
 */
export async function resourceRequest (accessToken: string, method: string, url: string | URL, options: ResourceRequestOptions = {}): Promise<ResourceResponse> {
  const handle = options.handle ?? options.key?.handle
  try {
    const response = await oauth.protectedResourceRequest(accessToken, method, new URL(url), undefined, undefined, {
      ...(handle === undefined ? {} : { DPoP: handle }),
      [oauth.customFetch]: customFetch(options.via),
      [oauth.allowInsecureRequests]: true
    })
    return { ...seen.get(response)!, challenge: undefined }
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err
    return { ...seen.get(err.response)!, challenge: err }
  }
}

export interface ProofOptions {
  /** The `nonce` claim (RFC 9449 §9); otherwise none (a proof made here uses no cached nonce). */
  readonly nonce?: string
  /** Other claims put over oauth4webapi's (`iat`, `htu`, …), for proofs a test means to be wrong. */
  readonly claims?: Readonly<Record<string, unknown>>
}

/**
 * The DPoP header value oauth4webapi would send with this token to `method url`, without sending
 * anything: its protectedResourceRequest runs against a fetch that only keeps the header. A new
 * handle signs it, so the key's own nonce cache is neither used nor changed.
 */
export async function dpopProof (key: DpopKey, method: string, url: string | URL, accessToken: string, options: ProofOptions = {}): Promise<string> {
  const claims = { ...options.claims, ...(options.nonce === undefined ? {} : { nonce: options.nonce }) }
  const handle = oauth.DPoP(client, key.keyPair, handleOptions(key.alg, claims))
  let proof: string | undefined
  await oauth.protectedResourceRequest(accessToken, method, new URL(url), undefined, undefined, {
    DPoP: handle,
    [oauth.allowInsecureRequests]: true,
    [oauth.customFetch]: async (_url, init) => {
      proof = init.headers.dpop
      return new Response(null, { status: 204 })
    }
  })
  if (proof === undefined) throw new Error('oauth4webapi sent no DPoP header')
  return proof
}

/** A new handle of `key` signing with extra claims over oauth4webapi's, with a nonce cache of its own. */
export function dpopHandle (key: DpopKey, claims: Readonly<Record<string, unknown>> = {}): oauth.DPoPHandle {
  return oauth.DPoP(client, key.keyPair, handleOptions(key.alg, claims))
}
