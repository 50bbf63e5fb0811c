/**
 * Playwright fixtures for the end-to-end tests:
 *
 *   api        a fresh local Infinario API (demo/server/api.mjs) per test, project token `TOKEN`
 *   site       the static site (demo/server/site.mjs) per worker, served with a strict CSP
 *   openPage   openPage(page, { mode, settings, key, token, query, path, referer, waitUntilReady })
 *              opens the e2e page (e2e/site/) wired to this test's API and waits until analytics.js
 *              and the plugin are loaded
 *   requests   every request URL the browser context made in this test; after each test, every one of
 *              them must be for 127.0.0.1 / localhost (automatic: the test fails otherwise)
 */
import { test as base, expect, type Page } from '@playwright/test'
import { startApi, type ApiHandle } from '../demo/server/api.mjs'
import { startSite, type SiteHandle } from '../demo/server/site.mjs'
import { chromiumTab } from './drivers/chromium.mjs'
import type { Tab } from './drivers/index.mjs'

export { expect }
export type { ApiHandle, SiteHandle, Tab }

/** Where the helpers below run: a Playwright page (Chromium-only specs) or a driver tab (every engine). */
export type Target = Page | Tab

/** The driver interface of a Playwright page, or the tab itself. */
export function asTab(target: Target): Tab {
  if ('engine' in target) return target
  return chromiumTab(target)
}

/** The project token of every test's API. */
export const TOKEN = '3f2c1a9e-8b7d-4c6e-a5f4-0d1e2b3c4a5f'
export const WRITE_KEY = 'e2e-write-key'

/** The Content-Security-Policy of the e2e pages: no inline scripts, no eval, connections only to 127.0.0.1. */
export const CSP = "default-src 'self'; script-src 'self'; connect-src 'self' http://127.0.0.1:*; img-src 'self' data:; style-src 'self'"

export interface OpenOptions {
  /** how the plugin is added: `tag` (script element with data-*), `register` (analytics.register), `none` ['register'] */
  mode?: 'tag' | 'register' | 'none'
  /** further plugin settings; in `tag` mode they become data-* attributes */
  settings?: Record<string, unknown>
  /** Segment write key [WRITE_KEY] */
  key?: string
  /** project token [TOKEN]; `null` leaves it out */
  token?: string | null
  /** API base URL [this test's api.url]; `null` leaves it out */
  apiUrl?: string | null
  /** extra query parameters (utm_*, page=1, …) */
  query?: Record<string, string>
  /** page under /e2e/ ['index.html'] */
  path?: string
  /** the Referer of the navigation (document.referrer) [<site>/referrer.html] */
  referer?: string
  /** wait for window.e2e.state 'ready' [true] */
  waitUntilReady?: boolean
}

export type OpenPage = (page: Page, options?: OpenOptions) => Promise<string>

/** The URL of the e2e page for these options. */
export function pageUrl(site: SiteHandle, api: ApiHandle, o: OpenOptions = {}): string {
  const q = new URLSearchParams()
  q.set('mode', o.mode ?? 'register')
  q.set('key', o.key ?? WRITE_KEY)
  if (o.token !== null) q.set('token', o.token ?? TOKEN)
  if (o.apiUrl !== null) q.set('api', o.apiUrl ?? api.url)
  if (o.settings) q.set('settings', JSON.stringify(o.settings))
  for (const [k, v] of Object.entries(o.query ?? {})) q.set(k, v)
  return `${site.origin}/e2e/${o.path ?? 'index.html'}?${q}`
}

/** Waits until the e2e page is ready (analytics.js loaded, plugin registered); throws with the page's state otherwise. */
export async function waitUntilReady(target: Target, timeout = 10_000): Promise<void> {
  const tab = asTab(target)
  const state = () => tab.evaluate(() => (window as any).e2e?.state as string | undefined)
  try {
    await tab.waitForFunction(() => (window as any).e2e && (window as any).e2e.state !== 'loading', undefined, timeout)
  } catch {
    throw new Error(`the e2e page did not get ready within ${timeout} ms (window.e2e.state: ${await state().catch(() => '?')})`)
  }
  const s = await state()
  if (s !== 'ready') throw new Error(`the e2e page failed to load: ${s}`)
}

/** A URL that may be requested in a test: 127.0.0.1 / localhost, data:, blob:, about:. */
export const isLocal = (url: string): boolean => {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return false
  }
  if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return true
  return /^(https?|wss?):$/.test(u.protocol) && (u.hostname === '127.0.0.1' || u.hostname === 'localhost')
}

/** Fails the test when any of `urls` went to a host other than 127.0.0.1 / localhost. */
export function expectOnlyLocal(urls: string[]) {
  const foreign = [...new Set(urls.filter((u) => !isLocal(u)))]
  expect(foreign, 'requests to hosts other than 127.0.0.1 / localhost').toEqual([])
}

/** The servers every test needs, whatever drives the browser: the static site and a fresh API. */
export const withServers = base.extend<{ api: ApiHandle }, { site: SiteHandle }>({
  site: [
    async ({}, use) => {
      const site = await startSite({ headers: { 'Content-Security-Policy': CSP } })
      await use(site)
      await site.close()
    },
    { scope: 'worker' },
  ],

  api: async ({}, use) => {
    const api = await startApi({ token: TOKEN })
    await use(api)
    await api.close()
  },
})

/** Chromium-only specs: Playwright's own `page` and `context`, plus `openPage` and `requests`. */
export const test = withServers.extend<{ openPage: OpenPage; requests: string[] }>({
  openPage: async ({ site, api }, use) => {
    await use(async (page, o = {}) => {
      const url = pageUrl(site, api, o)
      await page.goto(url, { referer: o.referer ?? `${site.origin}/referrer.html` })
      if (o.waitUntilReady !== false) await waitUntilReady(page)
      return url
    })
  },

  requests: [
    async ({ context }, use) => {
      const urls: string[] = []
      context.on('request', (r) => urls.push(r.url()))
      await use(urls)
      expectOnlyLocal(urls)
    },
    { auto: true },
  ],
})

/** What a test knows of a call it made in the page. */
export interface Called {
  messageId: string
  /** Date.now() right before and right after the call */
  before: number
  after: number
  anonymousId: string
  userId: string | null
  eventProperties: Record<string, unknown>
  library: { name: string; version: string }
  page: { href: string; pathname: string; search: string; title: string; referrer: string }
  userAgent: string
  language: string
  timezone: string
}

/** Makes `analytics[method](...args)` in the page and returns what the test needs of it. */
export function call(target: Target, method: string, ...args: unknown[]): Promise<Called> {
  return asTab(target).evaluate(
    async ({ method, args }) => {
      const a = (window as any).analytics
      const before = Date.now()
      const ctx = await a[method](...args)
      const after = Date.now()
      return {
        messageId: ctx?.event?.messageId,
        before,
        after,
        anonymousId: a.user().anonymousId(),
        userId: a.user().id(),
        eventProperties: ctx?.event?.properties ?? {},
        library: ctx?.event?.context?.library,
        page: {
          href: location.href,
          pathname: location.pathname,
          search: location.search,
          title: document.title,
          referrer: document.referrer,
        },
        userAgent: navigator.userAgent,
        language: navigator.language,
        timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      }
    },
    { method, args },
  )
}

/** The event type of the marker track that `settle` makes. */
export const SETTLE = 'e2e settle'

/**
 * One more track, awaited until it reached the API: everything the page made before it has then
 * arrived too (the outbox sends in order). Resolves with its messageId.
 */
export async function settle(target: Target, api: ApiHandle, timeoutMs = 10_000): Promise<string> {
  const { messageId } = await call(target, 'track', SETTLE)
  await api.waitFor((a) => a.byMessageId().has(messageId), timeoutMs)
  return messageId
}

/**
 * `count` tracks of `event` made in the page, each with `properties.key = prefix + i`, `gapMs` apart
 * (0: in one synchronous burst); none is awaited before the next. Resolves with their messageIds.
 * The gaps yield to the page's event loop through message events, not timers: a background tab's
 * timers run at most once a second in Firefox, which would turn 15 ms into a second.
 */
export function trackMany(target: Target, event: string, count: number, prefix = '', gapMs = 0): Promise<string[]> {
  return asTab(target).evaluate(
    async ({ event, count, prefix, gapMs }) => {
      const analytics = (window as any).analytics
      const calls: Promise<any>[] = []
      for (let i = 0; i < count; i++) {
        calls.push(analytics.track(event, { key: prefix + i }))
        const until = performance.now() + gapMs
        while (performance.now() < until) {
          await new Promise((resolve) => {
            const channel = new MessageChannel()
            channel.port1.onmessage = resolve
            channel.port2.postMessage(0)
          })
        }
      }
      return (await Promise.all(calls)).map((ctx) => ctx.event.messageId as string)
    },
    { event, count, prefix, gapMs },
  )
}

export interface Tally {
  expected: number
  /** expected events that never arrived */
  lost: string[]
  /** message_ids that arrived more than once */
  duplicated: string[]
}

/** Counts, by message_id, which of `ids` reached the API (answered ok) never or more than once. */
export function tallyIds(api: ApiHandle, ids: string[]): Tally {
  const seen = api.byMessageId()
  return { expected: ids.length, lost: ids.filter((id) => !seen.has(id)), duplicated: api.duplicates() }
}

/** Events among `ids` (message_ids) that reached the API, for waitFor. */
export const arrivedIds = (api: ApiHandle, ids: string[]) => {
  const seen = api.byMessageId()
  return ids.filter((id) => seen.has(id)).length
}

export const allArrived = (api: ApiHandle, ids: string[]) => arrivedIds(api, ids) === ids.length

/**
 * One line per request: status, how it was sent (`sendBeacon` and no-cors requests show as
 * sec-fetch-mode no-cors, `fetch` as cors) and the events it carried (their `key`, else message_id).
 */
function brief(api: ApiHandle): string {
  return api.requests
    .map((r, i) => {
      const what = r.commands.map((c, j) => {
        const p = c?.data?.properties ?? {}
        return `${p.key ?? p.message_id ?? c?.name}${r.results[j] && r.results[j].status !== 'ok' ? `(${r.results[j].status})` : ''}`
      })
      return `  #${i + 1} HTTP ${r.status} ${r.headers['sec-fetch-mode'] === 'no-cors' ? 'beacon' : 'fetch '} ${what.join(' ')}`
    })
    .join('\n')
}

/** Asserts nothing was lost or duplicated, logs the counts, and records them on the test. */
export function expectExactlyOnce(api: ApiHandle, t: Tally, label = 'events') {
  const line = `${label}: expected ${t.expected}, lost ${t.lost.length}, duplicated ${t.duplicated.length}, bulk requests ${api.requests.length}`
  console.log(line)
  test.info().annotations.push({ type: 'delivery', description: line })
  const detail = api.requests.length > 30 ? brief(api) : api.summary()
  expect(t.lost, `${label} lost\n${detail}`).toEqual([])
  expect(t.duplicated, `${label} duplicated\n${detail}`).toEqual([])
}
