/**
 * End-to-end, every engine: the back/forward cache. The plugin must not keep a page out of it (a
 * page with nothing left to send holds no Web Lock: Firefox keeps no page that holds one), and a
 * page restored from it must not send what another page took over meanwhile (WebKit takes a cached
 * page's Web Lock away, so the next page may adopt its records).
 *
 * This spec serves its pages without `Cache-Control: no-store` (the other specs' site sends it, and
 * Chromium keeps no such page); the Chromium driver runs with its back/forward cache on, as Chrome does.
 */
import { allArrived, CSP, expect, expectExactlyOnce, pageUrl, settle, tallyIds, test as base, trackMany, waitUntilReady, type Tab } from './engine'
import { startSite, type SiteHandle } from '../demo/server/site.mjs'

const test = base.extend<object, { site: SiteHandle }>({
  site: [
    async ({}, use) => {
      const site = await startSite({ headers: { 'Content-Security-Policy': CSP, 'Cache-Control': 'no-cache' } })
      await use(site)
      await site.close()
    },
    { scope: 'worker' },
  ],
})

const SETTINGS = { flushIntervalMs: 100 }

/** Marks the page, so that going back tells a page restored from the cache (mark kept) from a new load. */
async function markPage(tab: Tab): Promise<number> {
  return tab.evaluate(() => {
    const mark = Math.random()
    ;(window as any).pageMark = mark
    addEventListener('pageshow', (event) => {
      ;(window as any).shownFromCache = event.persisted
    })
    return mark
  })
}

/** Goes to another page of the site, then back; resolves with what the page shown then knows. */
async function awayAndBack(tab: Tab, otherUrl: string) {
  // goto without a referer: the drivers make a referer with an extra history entry
  await tab.goto(otherUrl)
  await tab.evaluateAndLeave(() => history.back())
  await tab.waitForFunction(() => location.pathname.endsWith('/index.html') && document.readyState === 'complete', undefined, 15_000)
  return tab.evaluate(() => ({
    mark: (window as any).pageMark as number | undefined,
    shownFromCache: (window as any).shownFromCache as boolean | undefined,
    // Chromium names what kept a page out of the cache
    notRestoredReasons: JSON.stringify((performance.getEntriesByType('navigation')[0] as any)?.notRestoredReasons ?? null),
  }))
}

/** The names of the Web Locks the page's origin holds now. */
function heldLocks(tab: Tab): Promise<string[]> {
  return tab.evaluate(async () => ((await navigator.locks?.query())?.held ?? []).map((lock) => lock.name as string))
}

test.describe('back/forward cache', () => {
  test('a page whose events were all delivered holds no lock, and going back restores it from the cache', async ({ tab, api, open, site }) => {
    await open(tab, { settings: SETTINGS })
    const mark = await markPage(tab)
    const ids = await trackMany(tab, 'bfcache', 3)
    ids.push(await settle(tab, api))
    // the tab lets its lock go once its records are deleted, right after the answer
    await expect.poll(() => heldLocks(tab), { message: 'the locks the page holds once everything was delivered' }).toEqual([])
    const back = await awayAndBack(tab, `${site.origin}/e2e/other.html`)
    expect(back, 'the page shown after going back').toEqual({ mark, shownFromCache: true, notRestoredReasons: 'null' })
    // the restored page goes on delivering
    ids.push(await settle(tab, api))
    expectExactlyOnce(api, tallyIds(api, ids), 'restored page')
  })

  test('a page left with events pending (API down), then shown again: every event arrives once, whichever way it comes back', async ({ tab, api, open, site }) => {
    // a bound for a hang, not a speed check: the page may adopt its old records only when it looks again (5 s)
    test.setTimeout(90_000)
    api.setFault({ down: true })
    await open(tab, { settings: SETTINGS })
    await markPage(tab)
    const ids = await trackMany(tab, 'pending', 4)
    await api.waitFor((a) => a.requests.some((r) => r.status === 0), 10_000)
    // a page without the plugin in between
    const back = await awayAndBack(tab, pageUrl(site, api, { mode: 'none', path: 'other.html' }))
    await waitUntilReady(tab)
    // restored (Chromium keeps the page and its lock; WebKit keeps the page and takes the lock, which
    // the page asks for again) or loaded again (Firefox caches no page holding a lock; the new page
    // adopts the old one's records)
    const restored = back.shownFromCache === true
    console.log(`${tab.engine}: the page left with events pending was ${restored ? 'restored from the cache' : 'loaded again'}`)
    api.setFault(null)
    await api.waitFor((a) => allArrived(a, ids), 30_000)
    ids.push(await settle(tab, api, 30_000))
    expectExactlyOnce(api, tallyIds(api, ids), 'page shown again')
  })
})
