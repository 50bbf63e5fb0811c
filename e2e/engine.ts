/**
 * Fixtures for the specs that run in every engine (calls, sessions, delivery): the same `api` and
 * `site` as e2e/fixtures.ts, and instead of Playwright's `page` a driver tab (e2e/drivers/):
 *
 *   engine   worker option: 'chromium' | 'firefox' | 'webkit' (one Playwright project per engine)
 *   driver   the engine's browser or driver process, one per worker
 *   profile  a fresh browser profile per test (own IndexedDB, localStorage); after the test, every
 *            request its pages made must be for 127.0.0.1 / localhost (where the driver sees them)
 *   tab      the profile's first tab, empty
 *   open     open(tab, options) opens the e2e page wired to this test's API (the options of openPage)
 *   newTab   newTab(options?) opens another tab of the profile; with options, the e2e page in it
 *
 * The helpers of e2e/fixtures.ts (call, settle, trackMany, waitUntilReady, …) take a tab too.
 */
import { expectOnlyLocal, pageUrl, settle, waitUntilReady, withServers, type ApiHandle, type OpenOptions } from './fixtures'
import { launchDriver, type Driver, type Engine, type Profile, type Tab } from './drivers/index.mjs'

export { isNavigationError } from './drivers/index.mjs'

export * from './fixtures'
export type { Driver, Engine, Profile, Tab }

export type Open = (tab: Tab, options?: OpenOptions) => Promise<string>
export type NewTab = (options?: OpenOptions) => Promise<Tab>

export const test = withServers.extend<{ profile: Profile; tab: Tab; open: Open; newTab: NewTab }, { engine: Engine; driver: Driver }>({
  engine: ['chromium', { scope: 'worker', option: true }],

  driver: [
    async ({ engine }, use) => {
      const driver = await launchDriver(engine)
      await use(driver)
      await driver.close()
    },
    { scope: 'worker', timeout: 60_000 },
  ],

  profile: async ({ driver }, use, testInfo) => {
    const profile = await driver.newProfile()
    testInfo.annotations.push({ type: 'browser', description: driver.version })
    await use(profile)
    const urls = profile.requests()
    await profile.close()
    if (urls) expectOnlyLocal(urls)
  },

  tab: async ({ profile }, use) => {
    await use(await profile.newTab())
  },

  open: async ({ site, api }, use) => {
    await use(async (tab, options = {}) => {
      const url = pageUrl(site, api, options)
      await tab.goto(url, { referer: options.referer ?? `${site.origin}/referrer.html` })
      if (options.waitUntilReady !== false) await waitUntilReady(tab)
      return url
    })
  },

  newTab: async ({ profile, open }, use) => {
    await use(async (options) => {
      const tab = await profile.newTab()
      if (options) await open(tab, options)
      return tab
    })
  },
})

/** Resolves after `ms`: time that has to pass (a session to expire), never a wait for an outcome. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Waits until the tab's URL path ends with `suffix` (after a navigation the page made itself). */
export async function waitForPath(tab: Tab, suffix: string, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const url = await tab.url().catch(() => '')
    if (url && new URL(url).pathname.endsWith(suffix)) return
    if (Date.now() >= until) throw new Error(`the tab did not reach …${suffix} within ${timeoutMs} ms (at ${url})`)
    await sleep(50)
  }
}

/** How an event of a closed tab reached the API. */
export interface DeliveryPath {
  /** `unload`: a request of the closing tab (beacon or keepalive); `adoption`: the next page sent the
   * closed tab's records; `replay`: analytics-next's persisted queue handed it to the next page's plugin */
  via: 'unload' | 'adoption' | 'replay' | 'lost'
  /** analytics-next had called the plugin's hook with it before the tab went away */
  hookBeforeClose: boolean
  describe: string
}

/**
 * After a tab (opened with `trace: <visit>`) was closed right after tracking `key`: waits for the
 * closing tab's own requests (10 s at most), then opens the next visit and names the path that
 * delivered `key`, from the API's record and the traces the two pages left (e2e/site/boot.js).
 */
export async function deliveryPath(
  api: ApiHandle,
  newTab: (o?: OpenOptions) => Promise<Tab>,
  visit: string,
  key: string,
): Promise<DeliveryPath> {
  const carries = (r: ApiHandle['requests'][number]) => r.status === 200 && r.commands.some((c) => c?.data?.properties?.key === key)
  const byUnload = await api.waitFor((a) => a.requests.find(carries), 10_000).catch(() => undefined)
  const next = await newTab({ query: { trace: 'next' } })
  await api.waitFor((a) => a.requests.some(carries), 10_000).catch(() => undefined)
  await settle(next, api)
  const traces = await next.evaluate(() => {
    const entries: { visit: string; what: string; keys: string[]; detail?: string }[] = []
    for (let i = 0; i < localStorage.length; i++) {
      const name = localStorage.key(i)!
      if (name.startsWith('e2e-trace:')) entries.push(JSON.parse(localStorage.getItem(name)!))
    }
    return entries
  })
  const stepsOf = (where: string, what: string) => traces.filter((t) => t.visit === where && t.what === what && t.keys.includes(key))
  const stepped = (where: string, what: string) => stepsOf(where, what).length > 0
  const hookBeforeClose = stepped(visit, 'hook')
  /** One step of the closing tab, with how often and (for a beacon) in which event's handler. */
  const describeStep = (what: string) => {
    const steps = stepsOf(visit, what)
    const handlers = [...new Set(steps.map((t) => t.detail).filter((detail) => detail))]
    const times = steps.length > 1 ? ` ×${steps.length}` : ''
    return `${what}${times}${handlers.length ? ` (in ${handlers.join(', ')})` : ''}`
  }
  const steps = ['hook', 'beacon', 'beacon-accepted', 'beacon-refused', 'keepalive', 'fetch']
    .filter((what) => stepped(visit, what))
    .map(describeStep)
  const unloadEvents = ['beforeunload', 'pagehide'].filter((what) => traces.some((t) => t.visit === visit && t.what === what))
  const found = api.requests.find(carries)
  let via: DeliveryPath['via'] = 'lost'
  if (byUnload) via = 'unload'
  else if (stepped('next', 'hook')) via = 'replay'
  else if (found) via = 'adoption'
  let delivered = 'not delivered'
  if (byUnload) {
    const transport = byUnload.headers['sec-fetch-mode'] === 'no-cors' ? 'a beacon' : 'a keepalive request'
    delivered = `delivered by ${transport} of the closing tab`
  } else if (found) delivered = 'delivered by a fetch of the next page'
  const nextSteps = ['journal', 'ajs-queue', 'hook', 'fetch'].filter((what) => stepped('next', what))
  const describe =
    `${via}: ${delivered}; the closing tab's trace: ${steps.join(' → ') || 'nothing'} ` +
    `(${unloadEvents.length ? unloadEvents.join(' and ') + ' ran' : 'no beforeunload or pagehide'}); ` +
    `the next page's: ${nextSteps.join(', ') || 'nothing'}`
  return { via, hookBeforeClose, describe }
}
