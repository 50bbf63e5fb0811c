/**
 * End-to-end hardening (SPEC §2, §5, §6), in Chromium through the standard snippet and the real
 * analytics-next, against the local Infinario API:
 *
 *   storage    IndexedDB missing, open() throwing / failing / hanging, quota exceeded on write, the
 *              database deleted or force-closed while in use: every event of the page still reaches
 *              the API exactly once (by message_id), and the next normal load persists again
 *   security   strict CSP (and Trusted Types) with the script-tag bundle, no cookies, no event data on
 *              the console without `debug`, the token only ever sent to apiUrl, apiUrl validation
 *   consent    consentCategories gating through analytics-next's own `context.consent`
 *
 * Every test asserts what reached the API: which message_ids, how many times.
 */
import type { ConsoleMessage, Page, Request } from '@playwright/test'
import { startSite } from '../demo/server/site.mjs'
import {
  allArrived,
  expect,
  expectExactlyOnce,
  pageUrl,
  settle,
  tallyIds,
  test as base,
  TOKEN,
  trackMany,
  waitUntilReady,
  type ApiHandle,
  type SiteHandle,
} from './fixtures'

/** The plugin's IndexedDB database (`infinario-<token>`, object store `kv`). */
const DB = `infinario-${TOKEN}`
/** Fast delivery, debug on: the storage fallback must say why on the console. */
const FAST = { flushIntervalMs: 50, debug: true }

const test = base.extend<{ cspSite: (csp: string) => Promise<SiteHandle> }>({
  /** Starts a site (e2e pages, analytics-next, dist/) whose HTML is served with this Content-Security-Policy. */
  cspSite: async ({}, use) => {
    const sites: SiteHandle[] = []
    await use(async (csp) => {
      const site = await startSite({ headers: { 'Content-Security-Policy': csp } })
      sites.push(site)
      return site
    })
    await Promise.all(sites.map((s) => s.close()))
  },
})

// ---------------------------------------------------------------------------------------------
// helpers

/** `analytics[method](...args)` in the page; resolves with the event's messageId. */
function call(page: Page, method: string, ...args: unknown[]): Promise<string> {
  return page.evaluate(async ({ method, args }) => (await (window as any).analytics[method](...args)).event.messageId as string, {
    method,
    args,
  })
}

interface Logged {
  type: string
  text: string
  /** the message's arguments as JSON (objects included), where they serialize */
  args: string
}

/** Records every console message of the page, with its arguments serialized (objects are not in `text()`). */
function recordConsole(page: Page) {
  const pending: Promise<Logged>[] = []
  page.on('console', (m: ConsoleMessage) =>
    pending.push(
      Promise.all(
        m.args().map((a) =>
          a.jsonValue().then(
            (v) => JSON.stringify(v),
            () => String(a),
          ),
        ),
      ).then(
        (args) => ({ type: m.type(), text: m.text(), args: args.join(' ') }),
        () => ({ type: m.type(), text: m.text(), args: '' }),
      ),
    ),
  )
  return () => Promise.all(pending)
}

/** The outbox records (their message_ids) in the plugin's IndexedDB database; null when the database does not exist. */
function storedMessageIds(page: Page): Promise<string[] | null> {
  return page.evaluate(async (name) => {
    if (!(await indexedDB.databases()).some((d) => d.name === name)) return null
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open(name)
      r.onsuccess = () => resolve(r.result)
      r.onerror = () => reject(r.error)
    })
    try {
      const values = await new Promise<any[]>((resolve, reject) => {
        const r = db.transaction('kv', 'readonly').objectStore('kv').getAll()
        r.onsuccess = () => resolve(r.result)
        r.onerror = () => reject(r.error)
      })
      return values.map((v) => v?.command?.data?.properties?.message_id).filter((id): id is string => typeof id === 'string')
    } finally {
      db.close()
    }
  }, DB)
}

/**
 * The next normal load persists again: offline, tracks are kept in IndexedDB (read back directly); back
 * online, the page delivers them exactly once. Pages opened with FAST (debug) settings.
 *
 * The same tab goes back online rather than a new tab adopting the records: closing a tab while a send
 * may be in flight, or while offline, can deliver twice or lose (see the report), which is not what
 * these tests are about.
 */
async function expectPersistenceResumes(page: Page, api: ApiHandle, url: string) {
  const failed: string[] = []
  page.on('console', (m) => /send failed/.test(m.text()) && failed.push(m.text()))
  await page.goto(url)
  await waitUntilReady(page)
  await page.context().setOffline(true)
  const pending = await trackMany(page, 'kept while offline', 3)
  await expect.poll(() => failed.length, { message: 'a send failed while offline' }).toBeGreaterThan(0)
  await expect
    .poll(async () => ((await storedMessageIds(page)) ?? []).filter((id) => pending.includes(id)).sort(), {
      message: `the pending events are in IndexedDB "${DB}"`,
    })
    .toEqual([...pending].sort())
  expect(api.commands.filter((c: any) => pending.includes(c.data.properties?.message_id))).toEqual([])
  await page.context().setOffline(false)
  await api.waitFor((a) => allArrived(a, pending), 10_000)
  await settle(page, api)
  expectExactlyOnce(api, tallyIds(api, pending), 'kept in IndexedDB, delivered back online')
  // and once delivered, they leave IndexedDB
  await expect
    .poll(async () => ((await storedMessageIds(page)) ?? []).filter((id) => pending.includes(id)), {
      message: 'delivered records removed from IndexedDB',
    })
    .toEqual([])
}

// ---------------------------------------------------------------------------------------------
// A. storage failures

/**
 * Breaks IndexedDB for pages whose URL has `?storage=<mode>` (init script: runs before any page script).
 * Counters in `window.__storage`: `opens` (indexedDB.open calls), `failures` (writes made to fail), `openAt`.
 */
function breakStorage(mode: string) {
  if (new URLSearchParams(location.search).get('storage') !== mode) return
  const w = window as any
  const state = (w.__storage = { mode, opens: 0, failures: 0, openAt: 0 })
  const quota = () => new DOMException('The quota has been exceeded.', 'QuotaExceededError')
  /** an IDBOpenDBRequest look-alike that fires `error` after a tick (or never, `hang`) */
  const request = (hang: boolean) => {
    const r: any = {
      result: undefined,
      error: null,
      readyState: 'pending',
      onsuccess: null,
      onerror: null,
      onupgradeneeded: null,
      onblocked: null,
    }
    if (!hang)
      setTimeout(() => {
        r.readyState = 'done'
        r.error = new DOMException('Internal error opening backing store for indexedDB.open.', 'UnknownError')
        r.onerror?.(new Event('error'))
      })
    return r
  }
  const open = (fn: () => unknown) =>
    function () {
      state.opens++
      state.openAt ||= Date.now()
      return fn()
    }
  if (mode === 'blocked') {
    // storage blocked for the site (as with cookies blocked): localStorage throws, IndexedDB is refused
    Object.defineProperty(window, 'localStorage', {
      configurable: true,
      get() {
        state.failures++
        throw new DOMException(
          "Failed to read the 'localStorage' property from 'Window': Access is denied for this document.",
          'SecurityError',
        )
      },
    })
    IDBFactory.prototype.open = open(() => {
      throw new DOMException('The user denied permission to access the database.', 'SecurityError')
    }) as any
  } else if (mode === 'deleted') delete w.indexedDB
  else if (mode === 'undefined') Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true })
  else if (mode === 'open-throws')
    IDBFactory.prototype.open = open(() => {
      throw new DOMException('The user denied permission to access the database.', 'SecurityError')
    }) as any
  else if (mode === 'open-error') IDBFactory.prototype.open = open(() => request(false)) as any
  else if (mode === 'open-hangs') IDBFactory.prototype.open = open(() => request(true)) as any
  else if (mode === 'quota-put') {
    // the write itself throws
    IDBObjectStore.prototype.put = function () {
      state.failures++
      throw quota()
    }
  } else if (mode === 'quota-commit') {
    // the write is accepted, then its transaction aborts with QuotaExceededError (as at commit time)
    const put = IDBObjectStore.prototype.put
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: any[]) {
      const r = put.apply(this, args as any)
      const tx: any = this.transaction
      if (!tx.__aborting) {
        tx.__aborting = true
        state.failures++
        Object.defineProperty(tx, 'error', { value: quota() })
        queueMicrotask(() => {
          try {
            tx.abort()
          } catch {
            /* already finished */
          }
        })
      }
      return r
    } as any
  }
}

const STORAGE_CASES: { mode: string; title: string }[] = [
  { mode: 'deleted', title: 'window.indexedDB deleted' },
  { mode: 'undefined', title: 'window.indexedDB defined as undefined' },
  { mode: 'open-throws', title: 'indexedDB.open() throws a SecurityError' },
  { mode: 'open-error', title: 'indexedDB.open() fires an error' },
  { mode: 'open-hangs', title: 'indexedDB.open() never answers' },
  { mode: 'quota-put', title: 'every write throws QuotaExceededError' },
  { mode: 'quota-commit', title: 'every write transaction aborts with QuotaExceededError' },
  { mode: 'blocked', title: 'storage blocked: localStorage throws SecurityError, indexedDB.open() too' },
]

test.describe('storage failures (SPEC §5, §6): events still go, exactly once; the next normal load persists again', () => {
  for (const { mode, title } of STORAGE_CASES) {
    test(`${title}`, async ({ page, api, site }) => {
      await page.addInitScript(breakStorage, mode)
      const logged = recordConsole(page)
      const pageErrors: Error[] = []
      page.on('pageerror', (e) => pageErrors.push(e))
      const broken = pageUrl(site, api, { settings: FAST, query: { storage: mode } })
      await page.goto(broken)
      await waitUntilReady(page)

      const start = Date.now()
      const pageId = await call(page, 'page', 'Hardening', mode)
      const ids = [pageId, ...(await trackMany(page, `storage ${mode}`, 5))]
      await api.waitFor((a) => allArrived(a, ids), 10_000)
      const delivered = Date.now()
      // the page is hidden with events pending (pagehide; it lives on): the unload path under broken storage
      const hidden = await page.evaluate(async () => {
        const a = (window as any).analytics
        const ctx = await Promise.all([a.track('hidden', { i: 0 }), a.track('hidden', { i: 1 })])
        dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))
        return ctx.map((c: any) => c.event.messageId as string)
      })
      await api.waitFor((a) => allArrived(a, hidden), 10_000)
      ids.push(...hidden, await settle(page, api))
      expectExactlyOnce(api, tallyIds(api, ids), `storage ${mode}`)
      // the memory fallback kept a session too: page opened one, and all of this page's events are in it
      const starts = api.events('session_start')
      expect(starts, 'one session_start').toHaveLength(1)
      const sessionIds = new Set(api.events().map((e) => e.properties.session_id))
      expect([...sessionIds], 'every event carries the one session_id').toEqual([starts[0].properties.session_id])

      // the failure was really injected, and the plugin said why (debug)
      const injected = await page.evaluate(() => ({ indexedDB: typeof indexedDB, ...(window as any).__storage }))
      if (mode === 'deleted' || mode === 'undefined') expect(injected.indexedDB).toBe('undefined')
      else if (mode.startsWith('open')) expect(injected.opens, 'indexedDB.open calls').toBeGreaterThan(0)
      else if (mode === 'blocked') expect([injected.opens, injected.failures > 0], 'open calls, localStorage reads').toEqual([1, true])
      else expect(injected.failures, 'writes made to fail').toBeGreaterThan(0)
      await expect
        .poll(async () => (await logged()).filter((m) => m.text.includes('[Infinario]') && /indexeddb/i.test(m.text)).length, {
          message: 'a debug warning saying IndexedDB is unavailable',
        })
        .toBeGreaterThan(0)
      if (mode === 'open-hangs') {
        // the plugin waited for IndexedDB ~2 s, then fell back to memory
        const waited = api.requests[0].at - injected.openAt
        console.log(
          `[hardening] open() hangs: first request ${waited} ms after open(), all delivered ${delivered - start} ms after the calls`,
        )
        expect(waited, 'ms between indexedDB.open() and the first request').toBeGreaterThanOrEqual(1900)
        expect(waited, 'ms between indexedDB.open() and the first request').toBeLessThan(6000)
      }
      // nothing of this may surface on the host page (uncaught errors, unhandled rejections)
      expect(pageErrors.map(String), 'uncaught errors').toEqual([])

      // the next load, with IndexedDB working: events are persisted again
      await expectPersistenceResumes(page, api, pageUrl(site, api, { settings: FAST }))
      expectExactlyOnce(api, tallyIds(api, ids), `storage ${mode}, after the normal loads`)
    })
  }

  // Offline, sendBeacon accepts data that never leaves: unload must keep everything for the next page.
  // Offline is the browser's offline mode (navigator.onLine false, requests fail) and the API out of
  // reach: Chromium's offline emulation lets a request the page saw fail go out when the page closes,
  // which a browser that is really offline cannot do.
  for (const [when, wait] of [
    ['just before the tab closes', 0],
    ['then a failed send, then the tab closes', 500],
  ] as const)
    test(`offline: events tracked ${when} are delivered by the next tab, once`, async ({ page, context, api, site }) => {
      const url = pageUrl(site, api, { settings: FAST })
      await page.goto(url)
      await waitUntilReady(page)
      await settle(page, api) // the API is healthy
      api.setFault({ down: true })
      await context.setOffline(true)
      const pending = await trackMany(page, 'offline then closed', 3)
      await page.waitForTimeout(wait)
      await page.close()
      await new Promise((r) => setTimeout(r, 500))
      expect(api.byMessageId().size, 'nothing arrived while offline').toBe(1)
      await context.setOffline(false)
      api.setFault(null)
      const next = await context.newPage()
      await next.goto(url)
      await waitUntilReady(next)
      await api.waitFor((a) => allArrived(a, pending), 10_000)
      await settle(next, api)
      expectExactlyOnce(api, tallyIds(api, pending), 'offline, then closed')
    })

  test('the database is deleted by another tab while in use: the first tab keeps delivering, exactly once', async ({
    page,
    context,
    api,
    site,
  }) => {
    const url = pageUrl(site, api, { settings: FAST })
    await page.goto(url)
    await waitUntilReady(page)
    const before = await trackMany(page, 'before delete', 5)
    await api.waitFor((a) => allArrived(a, before))
    expect(await storedMessageIds(page), 'the database exists').not.toBeNull()

    // another tab of the origin (without the plugin) deletes the database
    const other = await context.newPage()
    await other.goto(pageUrl(site, api, { mode: 'none', token: null, apiUrl: null }))
    await other.evaluate((name) => {
      const w = window as any
      w.__deletion = []
      const r = indexedDB.deleteDatabase(name)
      r.onblocked = () => w.__deletion.push('blocked')
      r.onsuccess = () => w.__deletion.push('success')
      r.onerror = () => w.__deletion.push('error: ' + r.error)
    }, DB)
    await expect
      .poll(() => other.evaluate(() => (window as any).__deletion.length), { message: 'the deletion answered' })
      .toBeGreaterThan(0)

    const during = [await call(page, 'page', 'After', 'delete'), ...(await trackMany(page, 'after delete', 10))]
    await api.waitFor((a) => allArrived(a, during), 10_000)
    const deletion = await other.evaluate(() => (window as any).__deletion as string[])
    expect(deletion, 'the plugin closes its connection: the deletion is not blocked').toEqual(['success'])
    console.log(`[hardening] deleteDatabase from another tab while in use: ${deletion.join(', ')}`)
    const ids = [...before, ...during, await settle(page, api)]
    expectExactlyOnce(api, tallyIds(api, ids), 'database deleted by another tab')
    expect(api.events('session_start'), 'one session_start').toHaveLength(1)

    // the first tab navigates: the next load creates the database again and persists
    await expectPersistenceResumes(page, api, url)
    expectExactlyOnce(api, tallyIds(api, ids), 'database deleted by another tab, after the reload')
  })

  test('site data cleared while in use (IndexedDB connections force-closed): the tab keeps delivering, exactly once', async ({
    page,
    context,
    api,
    site,
  }) => {
    const url = pageUrl(site, api, { settings: FAST })
    await page.goto(url)
    await waitUntilReady(page)
    const before = [await call(page, 'page', 'Before', 'clear'), ...(await trackMany(page, 'before clear', 5))]
    await api.waitFor((a) => allArrived(a, before))
    const cdp = await context.newCDPSession(page)
    await cdp.send('Storage.clearDataForOrigin', { origin: site.origin, storageTypes: 'indexeddb' })
    await expect
      .poll(() => page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name)), { message: 'the database is gone' })
      .not.toContain(DB)

    const during = [await call(page, 'page', 'After', 'clear'), ...(await trackMany(page, 'after clear', 10))]
    await api.waitFor((a) => allArrived(a, during), 10_000)
    const ids = [...before, ...during, await settle(page, api)]
    expectExactlyOnce(api, tallyIds(api, ids), 'site data cleared')
    await expectPersistenceResumes(page, api, url)
    expectExactlyOnce(api, tallyIds(api, ids), 'site data cleared, after the reload')
  })
})

// ---------------------------------------------------------------------------------------------
// B. security in the browser

/** Records CSP / Trusted Types violations in `window.__violations` from the first script on. */
function recordViolations() {
  const w = window as any
  w.__violations = []
  w.addEventListener(
    'securitypolicyviolation',
    (e: SecurityPolicyViolationEvent) =>
      w.__violations.push({
        directive: e.violatedDirective,
        blocked: e.blockedURI,
        source: e.sourceFile,
        line: e.lineNumber,
        sample: e.sample,
      }),
    true,
  )
}

/**
 * The page's own Trusted Types default policy (what a site enforcing Trusted Types ships): script URLs
 * of its own origin only, no HTML, no script text. Every call is recorded with its stack in `window.__tt`.
 */
function trustedTypesPolicy() {
  const w = window as any
  w.__tt = []
  const note = (kind: string, value: string, sink: string) => w.__tt.push({ kind, value, sink, stack: String(new Error().stack) })
  w.trustedTypes.createPolicy('default', {
    createScriptURL: (url: string, _type: unknown, sink: string) => {
      note('scriptURL', url, sink)
      const u = new URL(url, document.baseURI)
      return u.origin === location.origin ? u.href : null
    },
    createHTML: (html: string, _type: unknown, sink: string) => (note('html', html, sink), null),
    createScript: (script: string, _type: unknown, sink: string) => (note('script', script, sink), null),
  })
}

/**
 * analytics-next keeps its ids in localStorage / memory instead of cookies: the site passes the load
 * option `storage: { stores: ['localStorage', 'memory'] }` (the snippet hands `_loadOptions` to analytics.js).
 */
function cookielessAnalytics() {
  const w = window as any
  const stub: any = (w.analytics = [])
  let options: unknown
  Object.defineProperty(stub, '_loadOptions', {
    configurable: true,
    get: () => options,
    set: (v) => (options = { ...v, storage: { stores: ['localStorage', 'memory'] } }),
  })
}

interface Six {
  track: string
  page: string
  screen: string
  anonymousId: string
}

/** identify, track, page, screen, alias and group, each awaited. */
function sixCalls(page: Page): Promise<Six> {
  return page.evaluate(async () => {
    const a = (window as any).analytics
    const anonymousId = a.user().anonymousId()
    const track = (await a.track('Hardening Track', { n: 1 })).event.messageId
    const pageId = (await a.page('Docs', 'Hardening Page')).event.messageId
    const screen = (await a.screen('Home', 'Hardening Screen')).event.messageId
    // alias before identify: once a user is identified, analytics-next replaces an alias's userId by it
    await a.alias('hardening-user', anonymousId)
    await a.identify('hardening-user', { plan: 'pro' })
    await a.group('hardening-group', { name: 'Acme' })
    return { track, page: pageId, screen, anonymousId }
  })
}

const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** Exactly the commands of the six calls (and one settle track) reached the API, once each, all accepted. */
function expectSix(api: ApiHandle, six: Six, settleId: string) {
  const summary = api.summary()
  expect(
    api
      .events()
      .map((e) => e.type)
      .sort(),
    summary,
  ).toEqual(['Hardening Track', 'e2e settle', 'page_visit', 'screen_visit', 'session_start'].sort())
  expectExactlyOnce(api, tallyIds(api, [six.track, six.page, six.screen, settleId]), 'six calls')
  expect(api.events('page_visit')[0].properties.message_id).toBe(six.page)
  expect(api.events('screen_visit')[0].properties.message_id).toBe(six.screen)
  expect(api.events('Hardening Track')[0].properties.message_id).toBe(six.track)
  const customers = api.customers()
  expect(customers, summary).toHaveLength(3)
  const ids = { registered: 'hardening-user', cookie: six.anonymousId }
  expect(
    customers.filter((c) => c.properties?.plan === 'pro' && equal(c.ids, ids)),
    'identify',
  ).toHaveLength(1)
  expect(
    customers.filter((c) => Object.keys(c.properties ?? {}).length === 0 && equal(c.ids, ids)),
    'alias',
  ).toHaveLength(1)
  expect(
    customers.filter((c) => c.properties?.group_id === 'hardening-group'),
    'group',
  ).toHaveLength(1)
  expect(api.requests.filter((r) => r.status !== 200 || r.results.some((x) => x.status !== 'ok')).length, summary).toBe(0)
}

/** Loads the bundle and registers the plugin from the page itself, so that the page URL carries no token. */
function registerFromPage(page: Page, apiUrl: string) {
  return page.evaluate(
    async ({ token, apiUrl }) => {
      await new Promise((resolve, reject) => {
        const s = document.createElement('script')
        s.src = '/dist/infinario.min.js'
        s.onload = resolve
        s.onerror = reject
        document.head.appendChild(s)
      })
      const w = window as any
      await w.analytics.register(w.InfinarioDestination.infinarioDestination({ projectToken: token, apiUrl, flushIntervalMs: 50 }))
    },
    { token: TOKEN, apiUrl },
  )
}

const STRICT = (api: ApiHandle) => `default-src 'self'; script-src 'self'; connect-src 'self' ${api.url}`

test.describe('security (SPEC §2)', () => {
  for (const trustedTypes of [false, true]) {
    test(`strict CSP${trustedTypes ? ' + require-trusted-types-for' : ''}: the script-tag bundle registers, all six calls deliver; no violation, no cookie`, async ({
      page,
      context,
      api,
      cspSite,
    }) => {
      // connect-src: 'self' for analytics-next's own settings request, and exactly the API origin
      const csp = STRICT(api) + (trustedTypes ? "; require-trusted-types-for 'script'" : '')
      const site = await cspSite(csp)
      await page.addInitScript(recordViolations)
      await page.addInitScript(cookielessAnalytics)
      if (trustedTypes) await page.addInitScript(trustedTypesPolicy)
      const logged = recordConsole(page)
      const response = await page.goto(pageUrl(site, api, { mode: 'tag', query: { stores: 'localStorage,memory' } }))
      expect(response!.headers()['content-security-policy']).toBe(csp)
      await waitUntilReady(page)
      // the bundle came in by its own <script data-project-token> (under Trusted Types its src is absolute)
      expect(await page.evaluate(() => (document.querySelector('script[data-project-token]') as HTMLScriptElement | null)?.src)).toBe(
        `${site.origin}/dist/infinario.min.js`,
      )
      expect(await page.evaluate(() => (window as any).analytics.failedInitializations ?? [])).toEqual([])

      const six = await sixCalls(page)
      await api.waitFor((a) => allArrived(a, [six.track, six.page, six.screen]), 10_000)
      const settleId = await settle(page, api)
      expectSix(api, six, settleId)

      const violations = await page.evaluate(() => (window as any).__violations)
      expect(violations, 'securitypolicyviolation events').toEqual([])
      const refused = (await logged()).filter((m) => /Content Security Policy|Trusted Type|Refused to/i.test(m.text))
      expect(
        refused.map((m) => m.text),
        'CSP / Trusted Types console messages',
      ).toEqual([])
      if (trustedTypes) {
        const tt: { kind: string; value: string; stack: string }[] = await page.evaluate(() => (window as any).__tt)
        // the page's own loaders went through the policy (it is in force); the plugin never reaches a sink
        expect(
          tt.some((c) => c.value.includes('/dist/infinario.min.js')),
          'the policy saw the bundle being loaded',
        ).toBe(true)
        expect(tt.filter((c) => c.kind !== 'scriptURL' || c.stack.includes('infinario.min.js'))).toEqual([])
      }

      // no cookie, neither in the page nor in the browser context
      expect(await page.evaluate(() => document.cookie)).toBe('')
      expect(await context.cookies()).toEqual([])
    })
  }

  test('without debug the console carries no event data; with debug it logs', async ({ page, api, openPage }) => {
    const marker = `mrk${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
    const logged = recordConsole(page)
    const pageErrors: string[] = []
    page.on('pageerror', (e) => pageErrors.push(String(e)))
    await openPage(page, { settings: { flushIntervalMs: 50 } })
    const ids = [
      await call(page, 'identify', `user-${marker}`, { note: marker, address: { city: marker } }),
      await call(page, 'page', 'Docs', `Page ${marker}`, { q: marker }),
      // mapping warnings (keys with '.' / '$', an over-long string, a circular value) are debug-only
      await page.evaluate(async (marker) => {
        const circular: any = { marker }
        circular.self = circular
        const ctx = await (window as any).analytics.track(`Event ${marker}`, {
          [`key.${marker}`]: marker,
          [`$${marker}`]: 1,
          long: marker.repeat(3000),
          circular,
          nested: { deep: { deeper: marker } },
        })
        return ctx.event.messageId as string
      }, marker),
      await call(page, 'alias', `alias-${marker}`, `not-a-cookie-${marker}`),
      await call(page, 'group', `group-${marker}`, { name: marker }),
    ]
    // a delivery failure (a command answered `error`) is reported, not logged
    await settle(page, api)
    api.setFault({ errorEvery: 1 })
    const rejected = await call(page, 'track', `Rejected ${marker}`, { note: marker })
    await api.waitFor((a) => a.requests.some((r) => r.commands.some((c) => c?.data?.properties?.message_id === rejected)))
    await expect
      .poll(() => page.evaluate(() => (window as any).e2e.errors.length), { message: 'the rejection was reported (analytics error event)' })
      .toBeGreaterThan(0)
    api.setFault(null)
    await settle(page, api)
    expect(tallyIds(api, ids.filter(Boolean)).duplicated).toEqual([])
    expect(api.events(`Event ${marker}`), 'the marked event reached the API').toHaveLength(1)
    await page.waitForTimeout(200)
    const quiet = await logged()
    const leaks = quiet.filter((m) => m.text.includes(marker) || m.args.includes(marker))
    expect(leaks, 'console messages carrying event data without debug').toEqual([])
    expect(
      quiet.filter((m) => m.text.includes('[Infinario]')),
      'plugin console output without debug',
    ).toEqual([])
    expect(pageErrors).toEqual([])

    // the same page with debug: the plugin logs (delivery, mapping warnings)
    const count = quiet.length
    await openPage(page, { settings: { flushIntervalMs: 50, debug: true } })
    await call(page, 'track', `Event ${marker}`, { [`key.${marker}`]: marker })
    await settle(page, api)
    await expect
      .poll(async () => (await logged()).slice(count).filter((m) => m.text.includes('[Infinario]')).length, {
        message: '[Infinario] console output with debug',
      })
      .toBeGreaterThan(0)
  })

  test('the project token is sent only to apiUrl (fetch and beacon)', async ({ page, context, api, openPage }) => {
    // the page URL carries neither token nor apiUrl: the page registers the plugin itself
    const url = await openPage(page, { mode: 'none', token: null, apiUrl: null })
    expect(url).not.toContain(TOKEN)
    const seen: { url: string; where: string[]; kind: string }[] = []
    const inspect = async (r: Request) => {
      const headers = await r.allHeaders().catch(() => r.headers())
      const where = [
        r.url().includes(TOKEN) && 'url',
        JSON.stringify(headers).includes(TOKEN) && 'headers',
        (r.postData() ?? '').includes(TOKEN) && 'body',
      ].filter((x): x is string => !!x)
      seen.push({ url: r.url(), where, kind: r.resourceType() === 'ping' ? 'beacon' : r.resourceType() })
    }
    const pending: Promise<void>[] = []
    context.on('request', (r) => pending.push(inspect(r)))

    await registerFromPage(page, api.url)
    const six = await sixCalls(page)
    const settleId = await settle(page, api)
    expectSix(api, six, settleId)
    // the page is hidden with events pending (pagehide, the page lives on): they leave in a beacon, which
    // the listener sees (a beacon made while the page is being closed is not reported to it)
    const hidden = await page.evaluate(async () => {
      const a = (window as any).analytics
      const ctx = await Promise.all([a.track('hidden', { i: 0 }), a.track('hidden', { i: 1 })])
      dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))
      return ctx.map((c: any) => c.event.messageId as string)
    })
    await api.waitFor((a) => allArrived(a, hidden), 10_000)
    // then it closes with events pending: they leave by beacon / keepalive, or on the next visit
    const last = await trackMany(page, 'leaving', 3)
    await page.close()
    const next = await context.newPage()
    await openPage(next, { mode: 'none', token: null, apiUrl: null })
    await registerFromPage(next, api.url)
    await api.waitFor((a) => allArrived(a, last), 10_000)
    await settle(next, api)
    expectExactlyOnce(api, tallyIds(api, [...hidden, ...last, six.track, six.page, six.screen]), 'token test')
    await Promise.all(pending)

    const carrying = seen.filter((s) => s.where.length)
    const bulk = `${api.url}/bulk`
    console.log(
      `[hardening] requests: ${seen.length}; carrying the token: ${carrying.length} (${[...new Set(carrying.map((c) => c.where.join('+')))].join(', ')});` +
        ` API requests: ${api.requests.length} (${api.requests.map((r) => r.headers['sec-fetch-mode']).join(' ')}),` +
        ` seen by the listener: ${seen
          .filter((s) => s.where.length)
          .map((s) => s.kind)
          .join(' ')}`,
    )
    // the listener saw the API requests, and their bodies: each carried the token
    const toApi = seen.filter((s) => s.url === bulk)
    expect(toApi.length, 'requests to apiUrl seen').toBeGreaterThan(0)
    const beacons = api.requests.filter((r) => r.headers['sec-fetch-mode'] === 'no-cors').length
    if (beacons) expect(toApi.filter((s) => s.kind === 'beacon').length, 'beacons seen by the listener').toBeGreaterThan(0)
    expect(
      toApi.filter((s) => !s.where.includes('body')),
      'requests to apiUrl without the token in their body',
    ).toEqual([])
    expect(
      carrying.filter((s) => s.url !== bulk),
      'requests carrying the token to anything but apiUrl',
    ).toEqual([])
  })

  test('an apiUrl that is not https: or loopback is rejected with a console error naming apiUrl; the page keeps working', async ({
    page,
    api,
    openPage,
  }) => {
    const errors: string[] = []
    const pageErrors: string[] = []
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
    page.on('pageerror', (e) => pageErrors.push(String(e)))
    await openPage(page, { apiUrl: 'http://example.com', settings: { flushIntervalMs: 50 } })
    await expect.poll(() => errors.filter((e) => e.includes('apiUrl')).length, { message: 'a console error naming apiUrl' }).toBe(1)
    await expect.poll(() => page.evaluate(() => (window as any).analytics.failedInitializations)).toEqual(['Infinario'])
    // the page keeps working: calls resolve
    const id = await Promise.race([
      call(page, 'track', 'After Rejection'),
      new Promise<string>((_, reject) => setTimeout(() => reject(new Error('analytics.track did not resolve')), 5000)),
    ])
    expect(id).toBeTruthy()
    await call(page, 'page')

    // more hostile apiUrls, registered on the same page: each rejected, naming apiUrl
    const hostile = [
      'http://example.com/infinario',
      'http://localhost.example.com',
      'http://127.0.0.1.nip.io',
      'http://10.0.0.1',
      'ftp://127.0.0.1',
      'javascript:alert(1)',
      'data:text/plain,x',
      '//api.infinario.com',
      'api.infinario.com',
      '',
    ]
    const before = errors.length
    const failed = await page.evaluate(
      async ({ hostile, token }) => {
        const w = window as any
        for (const apiUrl of hostile)
          await w.analytics.register(w.InfinarioDestination.infinarioDestination({ projectToken: token, apiUrl }))
        return w.analytics.failedInitializations as string[]
      },
      { hostile, token: TOKEN },
    )
    expect(failed).toHaveLength(1 + hostile.length)
    const named = errors.slice(before).filter((e) => e.includes('apiUrl'))
    expect(named, errors.slice(before).join('\n')).toHaveLength(hostile.length)
    await call(page, 'track', 'Still Working')
    await page.waitForTimeout(300) // several flush intervals
    expect(api.requests, 'nothing was sent anywhere').toEqual([])
    expect(pageErrors).toEqual([])
  })

  for (const host of ['localhost', '127.0.0.1']) {
    test(`apiUrl http://${host}:<port> is accepted and delivers`, async ({ page, api, cspSite }) => {
      const apiUrl = `http://${host}:${api.port}`
      const site = await cspSite(`default-src 'self'; script-src 'self'; connect-src 'self' ${apiUrl}`)
      await page.addInitScript(recordViolations)
      await page.goto(pageUrl(site, api, { apiUrl, settings: { flushIntervalMs: 50 } }))
      await waitUntilReady(page)
      expect(await page.evaluate(() => (window as any).analytics.failedInitializations)).toEqual([])
      const ids = [await call(page, 'page', 'Loopback', host), ...(await trackMany(page, `via ${host}`, 3))]
      await api.waitFor((a) => allArrived(a, ids), 10_000)
      ids.push(await settle(page, api))
      expectExactlyOnce(api, tallyIds(api, ids), `apiUrl http://${host}`)
      expect(api.requests.every((r) => r.headers.host === `${host}:${api.port}`)).toBe(true)
      expect(await page.evaluate(() => (window as any).__violations)).toEqual([])
    })
  }
})

// ---------------------------------------------------------------------------------------------
// C. consent

test.describe('consent (SPEC §2 consentCategories) through analytics-next', () => {
  test("consentCategories ['Analytics']: only events with Analytics: true go; a page without consent opens no session", async ({
    page,
    api,
    openPage,
  }) => {
    await openPage(page, { settings: { consentCategories: ['Analytics'], flushIntervalMs: 50 } })
    const prefs = (p: unknown) => ({ context: { consent: { categoryPreferences: p } } })
    /** the call, and the consent analytics-next put on the event */
    const consented = (method: string, ...args: unknown[]) =>
      page.evaluate(
        async ({ method, args }) => {
          const ctx = await (window as any).analytics[method](...args)
          return { id: ctx.event.messageId as string, consent: ctx.event.context?.consent ?? null }
        },
        { method, args },
      )

    // not consented: nothing of these may reach the API
    const denied = [
      await consented('page', 'Docs', 'No Consent'),
      await consented('page', 'Docs', 'Denied', {}, prefs({ Analytics: false })),
      await consented('identify', 'user-no-consent', { plan: 'x' }),
      await consented('track', 'No Consent'),
      await consented('track', 'Denied', {}, prefs({ Analytics: false })),
      await consented('track', 'Other Category', {}, prefs({ Advertising: true })),
      await consented('track', 'Empty Preferences', {}, prefs({})),
      await consented('track', 'No Preferences', {}, { context: { consent: {} } }),
      await consented('track', 'String True', {}, prefs({ Analytics: 'true' })),
      await consented('track', 'Number One', {}, prefs({ Analytics: 1 })),
    ]
    expect(denied[1].consent, 'analytics-next passes context.consent through').toEqual({ categoryPreferences: { Analytics: false } })

    // consented: delivered. First a track: it must not be in a session (the pages above opened none)
    const allowed = await consented('track', 'Allowed', { n: 1 }, prefs({ Analytics: true, Advertising: false }))
    expect(allowed.consent).toEqual({ categoryPreferences: { Analytics: true, Advertising: false } })
    // analytics-next moves an unknown top-level option (consent) into the context too
    const topLevel = await consented('track', 'Allowed Top Level', {}, { consent: { categoryPreferences: { Analytics: true } } })
    expect(topLevel.consent).toEqual({ categoryPreferences: { Analytics: true } })
    await api.waitFor((a) => allArrived(a, [allowed.id, topLevel.id]))
    expect(api.events('session_start'), 'session_start before any consented page').toEqual([])
    expect(api.events('Allowed')[0].properties.session_id, 'no session is open').toBeUndefined()

    const pageAllowed = await consented('page', 'Docs', 'Allowed', {}, prefs({ Analytics: true }))
    const settleId = (await consented('track', 'e2e settle', {}, prefs({ Analytics: true }))).id
    await api.waitFor((a) => allArrived(a, [pageAllowed.id, settleId]))
    await page.waitForTimeout(200) // several flush intervals: anything else pending would have gone

    expectExactlyOnce(api, tallyIds(api, [allowed.id, topLevel.id, pageAllowed.id, settleId]), 'consented')
    const leaked = denied.filter((d) => api.requests.some((r) => r.commands.some((c) => c?.data?.properties?.message_id === d.id)))
    expect(leaked, 'not consented events sent').toEqual([])
    expect(api.customers(), 'identify without consent').toEqual([])
    expect(api.events().map((e) => e.type)).toEqual(['Allowed', 'Allowed Top Level', 'session_start', 'page_visit', 'e2e settle'])
    const start = api.events('session_start')[0]
    expect(api.events('page_visit')[0].properties.session_id).toBe(start.properties.session_id)
    expect(api.events('page_visit')[0].properties.message_id).toBe(pageAllowed.id)
  })
})
