/**
 * End-to-end: browsers without Web Locks (SPEC §6). `navigator.locks` is removed by an init script, so
 * the plugin tells live tabs by their heartbeat in localStorage, and checks in IndexedDB that it still
 * owns its records right before each send.
 *
 *   two tabs, an outage in between: neither sends the other's records; everything arrives once
 *   the first tab's JavaScript paused (in the debugger, between two tasks, with none of its IndexedDB
 *   transactions open) for longer than a heartbeat stays fresh: the second tab adopts its records;
 *   once resumed, the first tab does not send them again
 */
import type { BrowserContext, Page } from '@playwright/test'
import { allArrived, expect, expectExactlyOnce, settle, tallyIds, test, TOKEN, trackMany, type ApiHandle, type OpenPage } from './fixtures'

const DB = `infinario-${TOKEN}`
const HEARTBEAT = `${DB}:tab:v1:`

/** Runs before any page script: this browser has no Web Locks. */
function removeWebLocks() {
  delete (Navigator.prototype as any).locks
}

/**
 * Runs before any page script: counts the page's IndexedDB transactions that have not finished, in
 * `window.openTransactions`. A page paused while one of its transactions waits for its next event
 * holds that transaction open, and every other tab's transaction on the store waits behind it.
 */
function countOpenTransactions() {
  const open = { count: 0 }
  ;(window as any).openTransactions = open
  const transaction = IDBDatabase.prototype.transaction
  IDBDatabase.prototype.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
    const created = transaction.apply(this, args)
    open.count++
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      open.count--
    }
    created.addEventListener('complete', finish)
    created.addEventListener('abort', finish)
    return created
  }
}

/**
 * Pauses `page`'s JavaScript in the debugger as a frozen tab stops: between two tasks, never inside
 * one (a `Debugger.pause` stops at any statement, even between a send's ownership check and its
 * request, which no browser does), and with none of its IndexedDB transactions open (which would
 * keep every other tab out of the store). Resolves once it is paused; `resume` lets it run again.
 */
async function pauseBetweenTasks(context: BrowserContext, page: Page): Promise<{ resume: () => Promise<unknown> }> {
  const cdp = await context.newCDPSession(page)
  await cdp.send('Debugger.enable')
  const paused = new Promise((resolve) => cdp.once('Debugger.paused', resolve))
  await page.evaluate(() => {
    const waiting = setInterval(() => {
      if ((window as any).openTransactions.count > 0) return
      clearInterval(waiting)
      debugger
    }, 5)
  })
  await paused
  return { resume: () => cdp.send('Debugger.resume') }
}

async function openTab(context: BrowserContext, openPage: OpenPage): Promise<Page> {
  const page = await context.newPage()
  await openPage(page, { settings: { flushIntervalMs: 100 } })
  expect(await page.evaluate(() => 'locks' in navigator), 'navigator.locks removed').toBe(false)
  return page
}

/** This tab's id: the heartbeat it writes (the only one while it is the only tab). */
async function tabIds(page: Page): Promise<string[]> {
  return page.evaluate(
    (prefix) =>
      Object.keys(localStorage)
        .filter((key) => key.startsWith(prefix))
        .map((key) => key.slice(prefix.length)),
    HEARTBEAT,
  )
}

/** The owners of the outbox records in IndexedDB, one per record. */
function owners(page: Page): Promise<string[]> {
  return page.evaluate(async (name) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(name)
      request.onsuccess = () => resolve(request.result)
      request.onerror = () => reject(request.error)
    })
    const request = db.transaction('kv').objectStore('kv').getAll()
    const values = await new Promise<any[]>((resolve) => (request.onsuccess = () => resolve(request.result)))
    db.close()
    return values.filter((v) => v && typeof v.owner === 'string').map((v) => v.owner)
  }, DB)
}

const failedRequests = (api: ApiHandle) => api.requests.filter((r) => r.status === 0).length

test.describe('without Web Locks', () => {
  test.beforeEach(async ({ context }) => {
    await context.addInitScript(removeWebLocks)
    await context.addInitScript(countOpenTransactions)
  })

  test('two tabs with an outage in between: each event arrives exactly once', async ({ context, api, openPage }) => {
    api.setFault({ down: true })
    const first = await openTab(context, openPage)
    const early = await trackMany(first, 'no-locks', 5, 'a-')
    await api.waitFor((a) => failedRequests(a) >= 1, 10_000)
    const second = await openTab(context, openPage)
    const late = await trackMany(second, 'no-locks', 4, 'b-')
    // both tabs tried and failed while the API was down
    await api.waitFor((a) => failedRequests(a) >= 3, 10_000)
    api.setFault(null)
    const ids = [...early, ...late]
    await api.waitFor((a) => allArrived(a, ids), 20_000)
    ids.push(await settle(first, api), await settle(second, api))
    expectExactlyOnce(api, tallyIds(api, ids), 'two tabs without Web Locks')
  })

  test("the first tab's JavaScript paused: the second adopts its records, the first does not send them when it resumes", async ({
    context,
    api,
    openPage,
  }) => {
    // bounds for a hang, not speed checks: the adoption may wait for a 35 s lease, then for a heartbeat
    test.setTimeout(240_000)
    api.setFault({ down: true })
    const first = await openTab(context, openPage)
    const [firstTab] = await tabIds(first)
    const early = await trackMany(first, 'paused', 6, 'p-')
    await api.waitFor((a) => failedRequests(a) >= 1, 10_000)
    await expect.poll(() => owners(first), { message: "the first tab's records are stored" }).toEqual(early.map(() => firstTab))

    const firstPaused = await pauseBetweenTasks(context, first)

    const second = await openTab(context, openPage)
    // the first tab's heartbeat goes stale: the second adopts its records (if the first was paused
    // inside a send, only once that send's 35 s lease ended)
    await expect
      .poll(() => owners(second), { message: 'every record adopted by the second tab', timeout: 150_000 })
      .toEqual(early.map(() => expect.not.stringMatching(`^${firstTab}$`)))
    api.setFault(null)
    await api.waitFor((a) => allArrived(a, early), 20_000)

    await firstPaused.resume()
    // the first tab runs again: its next event arrives, so its outbox went past the adopted records
    const ids = [...early, await settle(first, api), await settle(second, api)]
    expectExactlyOnce(api, tallyIds(api, ids), 'paused tab without Web Locks')
  })
})
