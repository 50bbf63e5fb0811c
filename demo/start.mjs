/**
 * `npm start`: the demo shop with a live view of what reaches Infinario.
 *
 * Starts, on free ports of 127.0.0.1:
 *   - the local Infinario-compatible API (demo/server/api.mjs), which the plugin sends to and the
 *     live view watches; and
 *   - the demo site (demo/server/site.mjs): the shop pages of demo/site/, analytics-next served
 *     locally, dist/infinario.min.js, all under a strict Content-Security-Policy.
 * Prints the URL and runs until Ctrl-C (SIGINT) or SIGTERM, then closes both servers and exits.
 *
 * Environment:
 *   PORT                     the demo site's port [a free one]
 *   API_PORT                 the local API's port [a free one]
 *   INFINARIO_PROJECT_TOKEN  with INFINARIO_API_URL: send to that API with that token instead of the
 *   INFINARIO_API_URL        local one (no local API is started; the live view then lists the requests
 *                            the page made, without their contents)
 *   INFINARIO_CUSTOMER_IDS   the plugin's customerIds setting, as JSON [DEMO_CUSTOMER_IDS locally,
 *                            the plugin's default { registered: userId, cookie: anonymousId } with a remote API]
 *
 * In the default (local) mode nothing leaves the machine: the page may only connect to its own
 * origin and to the local API.
 */
import { pathToFileURL } from 'node:url'
import { startApi } from './server/api.mjs'
import { startSite } from './server/site.mjs'

/** The project token of the local API (any non-empty string works; Infinario's are UUIDs). */
export const DEMO_TOKEN = '5e1d7c2a-9b4f-4e8a-b3c6-0d2f1a7e9c54'
/**
 * The customer ids of the local demo (SPEC §4.1): Infinario's default hard id and cookie, plus the
 * e-mail trait as a second id, as many projects have.
 */
export const DEMO_CUSTOMER_IDS = { registered: 'userId', cookie: 'anonymousId', email_id: 'traits.email' }
/** The plugin's own default: for a real project, whose id names the demo cannot know. */
const DEFAULT_CUSTOMER_IDS = { registered: 'userId', cookie: 'anonymousId' }

/** Sessions end after this much inactivity in the demo, so that a visitor sees them close. */
export const DEMO_SESSION_TIMEOUT_MS = 30_000

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

/**
 * The demo's Content-Security-Policy: scripts only from its own origin, no inline code, Trusted Types
 * required for script sinks (demo/site/trusted-types.js defines the one policy), connections only to
 * its own origin and the API.
 */
export function demoCsp(apiOrigin) {
  return [
    "default-src 'self'",
    "script-src 'self'",
    `connect-src 'self' ${apiOrigin}`,
    "img-src 'self'",
    "style-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    'trusted-types default',
  ].join('; ')
}

/**
 * Reads INFINARIO_PROJECT_TOKEN / INFINARIO_API_URL: `null` for the local mode, else the remote target.
 * Throws when only one of them is set, or the URL is not usable.
 */
export function remoteFromEnv(env = process.env) {
  const token = env.INFINARIO_PROJECT_TOKEN?.trim()
  const url = env.INFINARIO_API_URL?.trim()
  if (!token && !url) return null
  if (!token || !url)
    throw new Error(
      `set both INFINARIO_PROJECT_TOKEN and INFINARIO_API_URL to send to another API (${token ? 'INFINARIO_API_URL' : 'INFINARIO_PROJECT_TOKEN'} is missing)`,
    )
  let u
  try {
    u = new URL(url)
  } catch {
    throw new Error(`INFINARIO_API_URL is not a URL: ${JSON.stringify(url)}`)
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.test(u.hostname)))
    throw new Error(`INFINARIO_API_URL must be https: (http: only for localhost), got ${JSON.stringify(url)}`)
  return { token, apiUrl: url.replace(/\/+$/, '') }
}

/**
 * Starts the demo. `remote`: `{ token, apiUrl }` to send there instead of a local API [local].
 * @param {import('./start.d.mts').DemoOptions} [options]
 * @returns {Promise<import('./start.d.mts').DemoHandle>}
 */
export async function startDemo({
  host = '127.0.0.1',
  port = 0,
  apiPort = 0,
  remote = null,
  sessionTimeoutMs = DEMO_SESSION_TIMEOUT_MS,
  customerIds = remote ? DEFAULT_CUSTOMER_IDS : DEMO_CUSTOMER_IDS,
} = {}) {
  const api = remote ? null : await startApi({ port: apiPort, host, token: DEMO_TOKEN })
  const apiUrl = remote ? remote.apiUrl : api.url
  const token = remote ? remote.token : DEMO_TOKEN
  let site
  try {
    site = await startSite({
      port,
      host,
      headers: {
        'Content-Security-Policy': demoCsp(new URL(apiUrl).origin),
        'Referrer-Policy': 'strict-origin-when-cross-origin',
      },
      vars: {
        API_URL: apiUrl,
        PROJECT_TOKEN: token,
        SESSION_TIMEOUT_MS: String(sessionTimeoutMs),
        // a string as it is: the plugin rejects an invalid mapping (load() fails, naming customerIds, on the page's console)
        CUSTOMER_IDS: typeof customerIds == 'string' ? customerIds : JSON.stringify(customerIds),
        // the live view watches the local API's control endpoints; a remote API has none
        LIVE_API: api ? api.url : '',
      },
    })
  } catch (e) {
    await api?.close()
    throw e
  }
  let closed
  return {
    url: site.origin + '/',
    mode: remote ? 'remote' : 'local',
    apiUrl,
    token,
    api,
    site,
    close() {
      closed ??= Promise.all([site.close(), api?.close()]).then(() => {})
      return closed
    },
  }
}

const port = (name, value) => {
  if (value === undefined || value === '') return 0
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number, got ${JSON.stringify(value)}`)
  return n
}

async function main() {
  let demo
  try {
    demo = await startDemo({
      port: port('PORT', process.env.PORT),
      apiPort: port('API_PORT', process.env.API_PORT),
      remote: remoteFromEnv(),
      customerIds: process.env.INFINARIO_CUSTOMER_IDS?.trim() || undefined,
    })
  } catch (e) {
    console.error(`demo: ${e.message}`)
    process.exit(1)
  }
  const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s)
  const lines = ['', bold('Infinario destination demo'), '', `  Open  ${bold(demo.url)}`, '']
  if (demo.mode === 'local')
    lines.push(`  Local Infinario-compatible API: ${demo.apiUrl} (project token ${demo.token})`, '  Nothing leaves this machine.')
  else
    lines.push(
      `  Sending to ${demo.apiUrl} with the project token from INFINARIO_PROJECT_TOKEN.`,
      '  The live view lists the requests; see their contents in your Infinario project.',
    )
  lines.push('  Press Ctrl-C to stop.', '')
  console.log(lines.join('\n'))

  let stopping = false
  const stop = (signal) => {
    if (stopping) {
      console.log('demo: stopping now')
      process.exit(130)
    }
    stopping = true
    console.log(`\ndemo: ${signal}, stopping…`)
    const force = setTimeout(() => process.exit(1), 3000)
    force.unref()
    demo.close().then(
      () => {
        console.log('demo: stopped')
        process.exit(0)
      },
      (e) => {
        console.error(`demo: ${e.message}`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main()
