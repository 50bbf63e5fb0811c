/**
 * The navigation storm in every engine (e2e/drivers/): `navs` navigations between the two e2e pages,
 * each right after a `track` made in the same task of the page, then one more visit that delivers
 * what is left. Each page runs with `trace=<visit>` (e2e/site/boot.js): every step of every event
 * is noted synchronously in localStorage, so that each event lost or duplicated is attributed:
 *
 *   hook       analytics-next called the plugin's hook on the page that made the call (else the
 *              page went away first: the host's loss, unless analytics-next's persisted queue
 *              replays it on the next page: `ajs-queue` at its start, then `hook` there)
 *   beacon     the plugin handed it to sendBeacon (`beacon-accepted` / `beacon-refused` after it;
 *              a `beacon` without either: the unload was stopped inside sendBeacon)
 *   keepalive  / fetch: a request to the API carried it
 *   journal    it was in the plugin's unload journal when the next page started
 *   adopted    the next page sent it (a `fetch` of that page carried it)
 */
import { startApi } from '../demo/server/api.mjs'
import { startSite } from '../demo/server/site.mjs'
import { launchDriver } from '../e2e/drivers/index.mjs'

export const TOKEN = '3f2c1a9e-8b7d-4c6e-a5f4-0d1e2b3c4a5f'
const WRITE_KEY = 'bench-write-key'
/** the e2e pages' policy: no inline scripts, no eval, connections only to 127.0.0.1 */
const CSP = "default-src 'self'; script-src 'self'; connect-src 'self' http://127.0.0.1:*; img-src 'self' data:; style-src 'self'"
const FILES = ['index.html', 'other.html']

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function pageUrl(site, api, path, visit) {
  const query = new URLSearchParams({ mode: 'register', key: WRITE_KEY, token: TOKEN, api: api.url, trace: String(visit) })
  return `${site.origin}/e2e/${path}?${query}`
}

async function waitUntilReady(tab, url) {
  const until = Date.now() + 20_000
  for (;;) {
    const here = await tab.url().catch(() => '')
    if (here === url) {
      const state = await tab.evaluate(() => window.e2e && window.e2e.state).catch(() => undefined)
      if (state === 'ready') return
      if (state && state !== 'loading') throw new Error(`the page failed to load: ${state}`)
    }
    if (Date.now() >= until) throw new Error(`${url} did not get ready within 20 s (at ${here}; ${await describePage(tab)})`)
    await sleep(25)
  }
}

/** How far a page that does not get ready got: for the error message. */
async function describePage(tab) {
  const seen = await tab
    .evaluate(() => ({
      document: document.readyState,
      state: window.e2e ? window.e2e.state : 'no e2e',
      analytics: Boolean(window.analytics && window.analytics.initialized),
      plugin: typeof window.InfinarioDestination,
      stub: Array.isArray(window.analytics),
      // what the page fetched, and which of those never finished
      resources: performance
        .getEntriesByType('resource')
        .map((entry) => `${entry.name.replace(location.origin, '')} ${Math.round(entry.responseEnd)}`),
      registered: Boolean(
        window.analytics &&
        window.analytics.queue &&
        window.analytics.queue.plugins &&
        window.analytics.queue.plugins.some((plugin) => plugin.name == 'Infinario'),
      ),
    }))
    .catch((error) => ({ error: String(error) }))
  return JSON.stringify(seen)
}

/** Every trace entry the profile's pages left in localStorage. */
const readTraces = (tab) =>
  tab.evaluate(() => {
    const entries = []
    for (let i = 0; i < localStorage.length; i++) {
      const name = localStorage.key(i)
      if (name.startsWith('e2e-trace:')) entries.push(JSON.parse(localStorage.getItem(name)))
    }
    return entries
  })

/** What happened to the event `key` made on visit `visit`, from the traces and the API's record. */
function attribute(key, visit, traces, api) {
  const steps = (where, what) => traces.filter((t) => t.visit === String(where) && t.what === what && t.keys.includes(key)).length
  const next = visit + 1
  const replayedOn = [
    ...new Set(traces.filter((t) => t.what === 'hook' && t.keys.includes(key) && t.visit !== String(visit)).map((t) => t.visit)),
  ]
  const carried = api.requests.filter(
    (r) => r.status === 200 && r.commands.some((c, i) => c?.data?.properties?.key === key && r.results[i]?.status === 'ok'),
  )
  return {
    key,
    visit,
    arrived: api.events('nav').filter((e) => String(e.properties.key) === key).length,
    hook: steps(visit, 'hook'),
    beacon: steps(visit, 'beacon'),
    accepted: steps(visit, 'beacon-accepted'),
    refused: steps(visit, 'beacon-refused'),
    keepalive: steps(visit, 'keepalive'),
    fetch: steps(visit, 'fetch'),
    journal: steps(next, 'journal') > 0,
    ajsQueue: steps(next, 'ajs-queue') > 0,
    replayedOn,
    adopted: traces.filter((t) => t.what === 'fetch' && t.keys.includes(key) && t.visit !== String(visit)).length,
    beacons: carried.filter((r) => r.headers['sec-fetch-mode'] === 'no-cors').length,
    requests: carried.length,
  }
}

/** One sentence: why `a` was lost or duplicated. */
export function cause(a) {
  if (a.arrived === 0) {
    if (a.hook === 0 && a.replayedOn.length === 0)
      return `host: analytics-next never called the plugin's hook (the page went away first; ${a.ajsQueue ? 'in its persisted queue on the next page, not replayed' : 'not in its persisted queue on the next page'})`
    if (a.hook === 0) return `host: analytics-next replayed it on visit ${a.replayedOn.join(', ')}, and the plugin did not deliver it there`
    if (a.beacon > 0 && a.accepted > 0) return 'plugin → browser: sendBeacon accepted it, the beacon never reached the API'
    if (a.beacon > 0 && a.accepted === 0 && a.refused === 0)
      return 'plugin: the unload stopped inside sendBeacon and the beacon never left; the journal did not keep it'
    if (a.refused > 0)
      return `plugin: the beacon was refused; ${a.journal ? 'journaled but' : 'not journaled and'} not adopted by the next page`
    return `plugin: no beacon at unload; ${a.journal ? 'journaled but' : 'not journaled and'} not adopted by the next page`
  }
  const parts = []
  if (a.beacon > 1) parts.push(`${a.beacon} beacons from its page (${a.accepted} returned: the unload was stopped inside sendBeacon)`)
  if (a.beacon > 0 && a.adopted > 0) parts.push('a beacon at unload and again a request of a later page (adoption)')
  if (a.replayedOn.length && a.hook > 0)
    parts.push(`analytics-next handed it to the plugin on its page and again on visit ${a.replayedOn.join(', ')} (replay)`)
  if (a.keepalive > 0 && a.beacon > 0) parts.push('a keepalive request and a beacon')
  if (parts.length) return parts.join('; ')
  // no step of the plugin sent it twice: say what the traces saw
  return (
    `not attributed: arrived ${a.arrived}× in ${a.requests} requests (${a.beacons} beacons); its page traced hook ×${a.hook}, ` +
    `beacon ×${a.beacon}, keepalive ×${a.keepalive}, fetch ×${a.fetch}; later pages: fetch ×${a.adopted}, hook on ${a.replayedOn.join(', ') || 'none'}`
  )
}

/** One storm in a fresh profile of `driver`. */
async function storm(driver, api, site, navs, log) {
  api.reset()
  const profile = await driver.newProfile()
  const started = Date.now()
  try {
    const tab = await profile.newTab()
    let url = pageUrl(site, api, FILES[0], 0)
    await tab.goto(url)
    await waitUntilReady(tab, url)
    const keys = []
    for (let i = 0; i < navs; i++) {
      const next = pageUrl(site, api, FILES[(i + 1) % 2], i + 1)
      const key = `nav-${i}`
      keys.push(key)
      await tab.evaluateAndLeave(
        ({ key, next }) => {
          window.analytics.track('nav', { key })
          location.href = next
        },
        { key, next },
      )
      await waitUntilReady(tab, next)
      url = next
      if ((i + 1) % 50 === 0) log(`    ${i + 1}/${navs} navigations`)
    }
    const arrived = () => new Set(api.events('nav').map((e) => String(e.properties.key)))
    await api.waitFor(() => keys.every((k) => arrived().has(k)), 20_000).catch(() => 0)
    // one more visit: whatever was left behind is delivered, and nothing may arrive a second time
    const last = pageUrl(site, api, FILES[navs % 2], 'final')
    await tab.goto(last)
    await waitUntilReady(tab, last)
    const settle = await tab.evaluate(async () => (await window.analytics.track('settle', {})).event.messageId)
    await api.waitFor((a) => a.byMessageId().has(settle), 20_000).catch(() => 0)
    const traces = await readTraces(tab)
    const all = keys.map((key, visit) => attribute(key, visit, traces, api))
    const lost = all.filter((a) => a.arrived === 0)
    const duplicated = all.filter((a) => a.arrived > 1)
    return {
      navs,
      ms: Date.now() - started,
      lost: lost.map((a) => ({ ...a, cause: cause(a) })),
      duplicated: duplicated.map((a) => ({ ...a, cause: cause(a) })),
      requests: api.requests.length,
      beacons: api.requests.filter((r) => r.headers['sec-fetch-mode'] === 'no-cors').length,
      // the host's share: events the page made that analytics-next had not handed to the plugin when
      // the page went away; replayed: how many of them its persisted queue handed over on a later page
      notDispatched: all.filter((a) => a.hook === 0).length,
      replayed: all.filter((a) => a.hook === 0 && a.replayedOn.length > 0).length,
      replayedOnce: all.filter((a) => a.hook === 0 && a.replayedOn.length > 0 && a.arrived === 1).length,
      stoppedInBeacon: all.filter((a) => a.beacon > a.accepted + a.refused).length,
      adopted: all.filter((a) => a.beacon === 0 && a.adopted > 0).length,
      foreign: (profile.requests() ?? []).filter((u) => !/^(https?:\/\/(127\.0\.0\.1|localhost)[:/]|data:|blob:|about:)/.test(u)),
      seesRequests: profile.requests() !== null,
    }
  } finally {
    await profile.close()
  }
}

/**
 * `runs` storms of `navs` navigations in `engine`, each in a fresh profile.
 * @returns {Promise<{engine: string, version: string, runs: object[]}>}
 */
export async function navigationStorms(engine, { navs = 200, runs = 3, log = () => {} } = {}) {
  const driver = await launchDriver(engine)
  const api = await startApi({ token: TOKEN })
  const site = await startSite({ headers: { 'Content-Security-Policy': CSP } })
  try {
    const results = []
    for (let r = 0; r < runs; r++) {
      log(`  ${engine} (${driver.version}), storm ${r + 1}/${runs}`)
      const result = await storm(driver, api, site, navs, log)
      log(`    lost ${result.lost.length}, duplicated ${result.duplicated.length}, ${(result.ms / 1000).toFixed(0)} s`)
      results.push(result)
    }
    return { engine, version: driver.version, runs: results }
  } finally {
    await driver.close().catch(() => {})
    await Promise.all([api.close(), site.close()])
  }
}

// `node bench/storm.mjs [engine …] [--navs N] [--runs N]`: the storms alone, printed as JSON
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const argv = process.argv.slice(2)
  const option = (name, fallback) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback)
  const engines = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'))
  for (const engine of engines.length ? engines : ['chromium', 'firefox', 'webkit']) {
    const result = await navigationStorms(engine, { navs: option('--navs', 200), runs: option('--runs', 3), log: console.error })
    console.log(JSON.stringify({ engine: result.engine, version: result.version, runs: result.runs.map((r) => ({ ...r })) }, null, 1))
  }
}
