import type { FastifyInstance, FastifyReply } from 'fastify'
import { parse, type ParsedUrlQuery } from 'node:querystring'
import type { TokenStore } from '../lib/index.js'
import { signAccessToken } from './access-token.js'
import { checkTokenRequestProof, ProofRefusal, type ReplayCache } from './dpop-proof.js'
import type { SigningKeys } from './key-set.js'
import type { UserDirectory } from './users.js'

/** Options of {@link tokenEndpoint}. */
export interface TokenEndpointOptions {
  readonly users: UserDirectory
  /** The keys access tokens are signed with: the current one is asked for at each login. */
  readonly signingKeys: SigningKeys
  readonly algorithm: string
  readonly issuer: string
  readonly audience: string
  /** Access-token lifetime in seconds. */
  readonly tokenLifetime: number
  /** Requests per client address per window. */
  readonly rateLimit: { readonly max: number, readonly timeWindow: number }
  /** Issue opaque tokens from this store instead of signed JWTs. */
  readonly opaqueStore?: TokenStore | undefined
  /** Where DPoP proof ids are recorded (the token store, shared by every instance that shares it). */
  readonly replay: ReplayCache
  /** The server's public origin for a proof's htu; `undefined`: request.protocol and request.host. */
  readonly publicOrigin: string | undefined
}

/** RFC 6749 §5.2 error codes this endpoint answers with, and RFC 9449 §5's invalid_dpop_proof. */
type TokenError = 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope' | 'invalid_dpop_proof'

/** The parameters this endpoint reads; any other is ignored (RFC 6749 §3.2). */
type Parameter = 'grant_type' | 'username' | 'password' | 'scope'

// Fixed descriptions: a response never carries a byte of the request (RFC 6749 §5.2 error_description).
const notAForm = 'The request body must be application/x-www-form-urlencoded'
const missing = (name: Parameter): string => `The ${name} parameter is missing`
const repeated = (name: Parameter): string => `The ${name} parameter is repeated`
const unsupportedGrant = 'Only the password grant type is supported'
const badCredentials = 'The username or password is incorrect'
const malformedScope = 'The scope parameter is malformed'
const scopeTooWide = 'The requested scope exceeds the scope granted to the user'

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/
// A token request is a handful of short parameters; nothing bigger is read.
const BODY_LIMIT = 4096

const REPEATED = Symbol('repeated')

/** One parameter: its value, `undefined` when absent or empty (RFC 6749 §3.1), or {@link REPEATED} (§3.2). */
function read (form: ParsedUrlQuery, name: Parameter): string | undefined | typeof REPEATED {
  const value = form[name]
  if (Array.isArray(value)) return REPEATED
  return value === '' ? undefined : value
}

/** Why a token request is refused: an RFC 6749 §5.2 error code and its fixed description. */
class Refusal {
  readonly error: TokenError
  readonly description: string
  constructor (error: TokenError, description: string) {
    this.error = error
    this.description = description
  }
}

function required (form: ParsedUrlQuery, name: Parameter): string | Refusal {
  const value = read(form, name)
  if (value === undefined) return new Refusal('invalid_request', missing(name))
  if (value === REPEATED) return new Refusal('invalid_request', repeated(name))
  return value
}

/** A well-formed password grant request; `scopes` is undefined when the client asked for none. */
interface PasswordGrant {
  readonly username: string
  readonly password: string
  readonly scopes: readonly string[] | undefined
}

/** Reads a token request (RFC 6749 §4.3.2), or says why it is refused. Checks nothing about the user. */
function readGrant (form: ParsedUrlQuery): PasswordGrant | Refusal {
  const grantType = required(form, 'grant_type')
  if (grantType instanceof Refusal) return grantType
  if (grantType !== 'password') return new Refusal('unsupported_grant_type', unsupportedGrant)
  const username = required(form, 'username')
  if (username instanceof Refusal) return username
  const password = required(form, 'password')
  if (password instanceof Refusal) return password
  const scope = read(form, 'scope')
  if (scope === REPEATED) return new Refusal('invalid_request', repeated('scope'))
  if (scope === undefined) return { username, password, scopes: undefined }
  const scopes = scope.split(' ')
  if (!scopes.every((token) => SCOPE_TOKEN.test(token))) return new Refusal('invalid_scope', malformedScope)
  return { username, password, scopes }
}

const tokenResponse = {
  type: 'object',
  required: ['access_token', 'token_type', 'expires_in', 'scope'],
  properties: {
    access_token: { type: 'string' },
    token_type: { type: 'string' },
    expires_in: { type: 'integer' },
    scope: { type: 'string' }
  }
} as const

const errorResponse = {
  type: 'object',
  required: ['error', 'error_description'],
  properties: {
    error: { type: 'string' },
    error_description: { type: 'string' }
  }
} as const

/**
 * POST /token: the OAuth 2.0 resource owner password credentials grant (RFC 6749 §4.3), answering
 * as §5.1 and §5.2 say. With a DPoP proof (RFC 9449 §5) the token is bound to the proof's key:
 * `token_type: "DPoP"`, and `cnf.jkt` in a JWT or `jkt` in the opaque token's record.
 * Registered in a context of its own, where the only body it parses is a form, so that no other
 * route of the app accepts forms and no form reaches another parser.
 */
export async function tokenEndpoint (app: FastifyInstance, options: TokenEndpointOptions): Promise<void> {
  const { users, signingKeys, algorithm, issuer, audience, tokenLifetime, rateLimit, opaqueStore, replay, publicOrigin } = options

  app.removeAllContentTypeParsers()
  // node:querystring keeps a repeated name as an array, so a repeat is seen, never silently resolved.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_request, body, done) => {
    done(null, parse(body as string))
  })
  // Any other body is read (within the limit) and answered as invalid_request, in §5.2 form.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_request, _body, done) => {
    done(null, null)
  })

  // RFC 6749 §5.1: token responses are never cached. Errors and 429s get the same headers.
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    reply.header('pragma', 'no-cache')
  })

  function refuse (reply: FastifyReply, refusal: Refusal): FastifyReply {
    reply.log.info({ error: refusal.error }, 'token request refused')
    return reply.code(400).send({ error: refusal.error, error_description: refusal.description })
  }

  app.post('/token', {
    config: { auth: false, rateLimit: { max: rateLimit.max, timeWindow: rateLimit.timeWindow } },
    schema: { response: { 200: tokenResponse, 400: errorResponse } }
  }, async function token (request, reply) {
    const form = request.body as ParsedUrlQuery | null | undefined
    if (typeof form !== 'object' || form === null) return refuse(reply, new Refusal('invalid_request', notAForm))

    const grant = readGrant(form)
    if (grant instanceof Refusal) return refuse(reply, grant)
    // The proof before the password: a bad proof costs no scrypt and says nothing of the password.
    const jkt = await checkTokenRequestProof(request, { publicOrigin, replay })
    if (jkt instanceof ProofRefusal) return refuse(reply, new Refusal('invalid_dpop_proof', jkt.description))

    const user = await users.authenticate(grant.username, grant.password)
    if (user === null) return refuse(reply, new Refusal('invalid_grant', badCredentials))
    // Checked only once the user is known, so that a refusal says nothing about someone else's scopes.
    const requested = grant.scopes
    if (requested !== undefined && !requested.every((scope) => user.scopes.includes(scope))) {
      return refuse(reply, new Refusal('invalid_scope', scopeTooWide))
    }
    // No scope asked for: the user's full scope (RFC 6749 §3.3 lets the server pick the default).
    // The granted list keeps the user's order, so equal requests get equal answers.
    const granted = requested === undefined ? user.scopes : user.scopes.filter((scope) => requested.includes(scope))

    const scope = granted.join(' ')
    const binding = jkt === undefined ? {} : { jkt }
    const accessToken = opaqueStore !== undefined
      ? (await opaqueStore.issue({ subject: user.username, scopes: granted, expiresIn: tokenLifetime, ...binding })).token
      : await signAccessToken(await signingKeys.current(), {
        algorithm,
        issuer,
        audience,
        subject: user.username,
        expiresIn: tokenLifetime,
        scope,
        ...binding
      })
    const tokenType = jkt === undefined ? 'Bearer' : 'DPoP'
    request.log.info({ username: user.username, scope, tokenType }, 'access token issued')
    return { access_token: accessToken, token_type: tokenType, expires_in: tokenLifetime, scope }
  })
}
