import t, { type Test } from 'tap'
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildServer } from '../../examples/server.js'

// Swagger UI in a real browser: Debian's chromium, driven by playwright-core (which brings no
// browser of its own). Nothing is skipped when chromium is missing: the test fails and says how
// to install it. Every wait is on a selector or a response, bounded; no sleeps.

const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))

// Headless, and quiet on the network: without the background-networking flags chromium keeps
// opening connections of its own (and this machine refuses everything but loopback).
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
]

/** Chromium with a fresh profile, closed (and the profile removed) when the test ends. */
async function launch (t: Test): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'fastify-protected-routes-chromium-'))
  let context: BrowserContext | undefined
  t.teardown(async () => {
    await context?.close()
    await rm(profile, { recursive: true, force: true })
  })
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 20_000 })
  } catch (err) {
    const reason = String((err as Error).message).split('\n')[0]
    throw new Error(`Chromium could not be started from ${CHROMIUM} (${reason}). Install it with: apt-get install chromium (as root, after apt-get update)`)
  }
  return context
}

/** Opens an operation, turns on "Try it out", executes it, and reads the status and body of the live response. */
async function execute (operation: Locator): Promise<{ status: string, body: string }> {
  await operation.locator('.opblock-summary-control').click()
  await operation.getByRole('button', { name: 'Try it out' }).click()
  await operation.getByRole('button', { name: 'Execute' }).click()
  const row = operation.locator('.live-responses-table tr.response')
  const status = row.locator('.response-col_status')
  await status.filter({ hasText: /\d{3}/ }).waitFor()
  const body = row.locator('.response-col_description .highlight-code pre').first()
  await body.waitFor()
  return { status: (await status.innerText()).trim().slice(0, 3), body: await body.innerText() }
}

t.test('Swagger UI: log in through the password flow as alice, call /users/me and /protected', { timeout: 55_000 }, async (t) => {
  const app = await buildServer()
  t.teardown(() => app.close())
  const base = await app.listen({ port: 0, host: '127.0.0.1' })

  const context = await launch(t)
  const page: Page = context.pages()[0] ?? await context.newPage()
  page.setDefaultTimeout(15_000)
  page.setDefaultNavigationTimeout(20_000)
  const requested: string[] = []
  page.on('request', (request) => { requested.push(request.url()) })
  await mkdir(ARTIFACTS, { recursive: true })

  try {
    await page.goto(`${base}/documentation`)
    await page.locator('.information-container .title', { hasText: 'fastify-protected-routes example' }).waitFor()

    // A lock on the protected operations, none on the public one.
    const operation = (id: string): Locator => page.locator(`#operations-default-${id}`)
    await operation('get_public').waitFor()
    t.equal(await operation('get_public').locator('.authorization__btn').count(), 0, '/public shows no lock')
    t.equal(await operation('get_users_me').locator('.authorization__btn').count(), 1, '/users/me shows a lock')
    t.equal(await operation('get_protected').locator('.authorization__btn').count(), 1, '/protected shows a lock')

    // The Authorize dialog: the password flow at /token with its scopes described, and the X-Token key.
    await page.locator('.auth-wrapper .authorize').click()
    const dialog = page.locator('.modal-ux')
    const oauth = dialog.locator('.auth-container', { hasText: 'bearerAuth (OAuth2, password)' })
    const apiKey = dialog.locator('.auth-container', { hasText: 'tokenHeader' })
    await oauth.waitFor()
    const oauthText = (await oauth.innerText()).replace(/\s+/g, ' ')
    t.match(oauthText, 'Token URL: /token', 'the password flow gets its tokens from POST /token')
    t.match(oauthText, 'Flow: password')
    for (const scope of ['me:read Read your own account (GET /users/me)', 'items:read List the items (GET /items)', 'items:write Create items (POST /items)']) {
      t.match(oauthText, scope, `the dialog offers ${scope}`)
    }
    const apiKeyText = (await apiKey.innerText()).replace(/\s+/g, ' ')
    t.match(apiKeyText, 'Name: X-Token In: header', 'the dialog offers the X-Token key')
    await oauth.locator('h4').first().scrollIntoViewIfNeeded()
    await page.screenshot({ path: join(ARTIFACTS, 'swagger-ui-authorize.png') })

    await oauth.locator('#oauth_username').fill('alice')
    await oauth.locator('#oauth_password').fill('wonderland')
    await oauth.locator('label[for="me:read-password-checkbox-bearerAuth"]').click()
    const tokenResponse = page.waitForResponse((response) => response.url() === `${base}/token`)
    await oauth.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click()
    const token = await tokenResponse
    t.equal(token.status(), 200, 'POST /token issued a token')
    t.equal((await token.json() as { scope: string }).scope, 'me:read', 'for the scope ticked in the dialog')
    await oauth.getByRole('button', { name: 'Remove authorization' }).waitFor()
    await dialog.locator('.close-modal').click()
    await dialog.waitFor({ state: 'detached' })

    // GET /users/me with the token.
    const meRequest = page.waitForRequest((request) => request.url() === `${base}/users/me`)
    const me = await execute(operation('get_users_me'))
    t.match((await meRequest).headers().authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/, 'sent with the access token')
    t.equal(me.status, '200', 'GET /users/me answered 200')
    t.same(JSON.parse(me.body) as unknown, { username: 'alice', full_name: 'Alice Liddell', email: 'alice@example.com', scopes: ['me:read', 'items:read', 'items:write'] }, 'with alice in the response panel')

    // GET /protected without the X-Token.
    const protectedRequest = page.waitForRequest((request) => request.url() === `${base}/protected`)
    const refused = await execute(operation('get_protected'))
    t.equal((await protectedRequest).headers()['x-token'], undefined, 'sent without the key')
    t.equal(refused.status, '401', 'GET /protected answered 401')
    t.same(JSON.parse(refused.body) as unknown, { statusCode: 401, code: 'FST_PROTECTED_ROUTES_MISSING_CREDENTIALS', error: 'Unauthorized', message: 'Authentication is required' }, 'with the error body in the response panel')

    // Swagger UI's assets are served by the app itself: the page asked nothing of anyone else.
    t.same(requested.filter((url) => !url.startsWith(`${base}/`)), [], 'every request went to the app')
  } finally {
    // Also on failure, to show where it stopped.
    await page.screenshot({ path: join(ARTIFACTS, 'swagger-ui.png'), fullPage: true }).catch(() => {})
  }
})
