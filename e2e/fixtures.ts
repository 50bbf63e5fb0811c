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

export { expect }
export type { ApiHandle, SiteHandle }

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
export async function waitUntilReady(page: Page, timeout = 10_000): Promise<void> {
  const state = () => page.evaluate(() => (window as any).e2e?.state as string | undefined)
  try {
    await page.waitForFunction(() => (window as any).e2e && (window as any).e2e.state !== 'loading', null, { timeout })
  } catch {
    throw new Error(`the e2e page did not get ready within ${timeout} ms (window.e2e.state: ${await state().catch(() => '?')})`)
  }
  const s = await state()
  if (s !== 'ready') throw new Error(`the e2e page failed to load: ${s}`)
}

const isLocal = (url: string): boolean => {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return false
  }
  if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return true
  return /^(https?|wss?):$/.test(u.protocol) && (u.hostname === '127.0.0.1' || u.hostname === 'localhost')
}

export const test = base.extend<{ api: ApiHandle; openPage: OpenPage; requests: string[] }, { site: SiteHandle }>({
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
      const foreign = [...new Set(urls.filter((u) => !isLocal(u)))]
      expect(foreign, 'requests to hosts other than 127.0.0.1 / localhost').toEqual([])
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
export function call(page: Page, method: string, ...args: unknown[]): Promise<Called> {
  return page.evaluate(
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
