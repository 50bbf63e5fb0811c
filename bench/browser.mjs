/**
 * The Chromium runs of the benchmark (Playwright; the navigation storms of every engine are in
 * storm.mjs), on the end-to-end pages (e2e/site/, served offline by demo/server/site.mjs with real
 * analytics-next) against the local Infinario API (demo/server/api.mjs):
 *
 *   mainThread   2 000 `track` calls with nested properties, with the plugin and with a do-nothing
 *                destination, alternating rounds: wall time of the pipeline, main-thread CPU, long tasks
 *   network      bulk requests and bytes for 1 000 `track` calls in one burst and spread over time
 *
 * Every run also counts the requests the page made to hosts other than the site and the API.
 */
import { chromium } from '@playwright/test'
import { startApi } from '../demo/server/api.mjs'
import { startSite } from '../demo/server/site.mjs'
import { CHROMIUM_ARGS, ensureChromium } from '../e2e/chromium.mjs'

export const TOKEN = '3f2c1a9e-8b7d-4c6e-a5f4-0d1e2b3c4a5f'
const WRITE_KEY = 'bench-write-key'
/** the e2e pages' policy: no inline scripts, no eval, connections only to 127.0.0.1 */
const CSP = "default-src 'self'; script-src 'self'; connect-src 'self' http://127.0.0.1:*; img-src 'self' data:; style-src 'self'"

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Starts the API, the site and Chromium. */
export async function startBench() {
  const executablePath = await ensureChromium()
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS })
  const api = await startApi({ token: TOKEN })
  const site = await startSite({ headers: { 'Content-Security-Policy': CSP } })
  return {
    browser,
    api,
    site,
    executablePath,
    version: browser.version(),
    async close() {
      await browser.close()
      await Promise.all([api.close(), site.close()])
    },
  }
}

/** URL of an e2e page: `mode` register (the plugin) or none (analytics-next alone). */
function pageUrl(b, mode, path = 'index.html', settings) {
  const q = new URLSearchParams({ mode, key: WRITE_KEY, token: TOKEN, api: b.api.url })
  if (settings) q.set('settings', JSON.stringify(settings))
  return `${b.site.origin}/e2e/${path}?${q}`
}

async function waitUntilReady(page, timeout = 15_000) {
  await page.waitForFunction(() => window.e2e && window.e2e.state !== 'loading', null, { timeout })
  const state = await page.evaluate(() => window.e2e.state)
  if (state !== 'ready') throw new Error(`the page failed to load: ${state}`)
}

/** Requests of a context, sorted by where they went. */
function watchRequests(context, b) {
  const seen = { site: 0, sitePaths: new Set(), bulk: 0, apiOther: 0, foreign: [] }
  const api = new URL(b.api.url)
  context.on('request', (r) => {
    let u
    try {
      u = new URL(r.url())
    } catch {
      return void seen.foreign.push(r.url())
    }
    if (/^(data|blob|about):$/.test(u.protocol)) return
    if (u.origin === b.site.origin) (seen.site++, seen.sitePaths.add(u.pathname))
    else if (u.origin === api.origin) {
      if (r.method() === 'POST' && u.pathname === '/bulk') seen.bulk++
      else seen.apiOther++
    } else seen.foreign.push(r.url())
  })
  return seen
}

/** A fresh browser context (its own IndexedDB and localStorage) with the long-task observer. */
async function newContext(b) {
  const context = await b.browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'en-US' })
  const requests = watchRequests(context, b)
  await context.addInitScript(() => {
    const bench = (window.__bench = { longtasks: [] })
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) bench.longtasks.push({ start: e.startTime, duration: e.duration })
      }).observe({ type: 'longtask', buffered: true })
    } catch {}
  })
  return { context, requests }
}

async function open(b, mode, path, settings) {
  const { context, requests } = await newContext(b)
  const page = await context.newPage()
  await page.goto(pageUrl(b, mode, path, settings))
  await waitUntilReady(page)
  return { context, page, requests }
}

/** Registers the do-nothing destination (analytics-next alone otherwise has none: Segment.io is off). */
const registerNoop = (page) =>
  page.evaluate(async () => {
    const pass = (ctx) => ctx
    await window.analytics.register({
      name: 'Noop',
      type: 'destination',
      version: '0',
      isLoaded: () => true,
      load: async () => {},
      track: pass,
      identify: pass,
      page: pass,
      screen: pass,
      group: pass,
      alias: pass,
    })
  })

/**
 * `n` tracks of `event` with nested properties, none awaited before the next (`gapMs` apart, 0: in one
 * synchronous loop); resolves when all have gone through the pipeline, with the times (ms). The loop
 * runs in a task of the page's own (a timer), as a site's code would, so that long tasks are seen.
 */
const burst = (page, event, n, gapMs = 0) =>
  page.evaluate(
    async ({ event, n, gapMs }) => {
      const analytics = window.analytics
      const calls = new Array(n)
      let t0 = 0
      let loop = 0
      await new Promise((resolve, reject) =>
        setTimeout(async () => {
          try {
            t0 = performance.now()
            for (let i = 0; i < n; i++) {
              calls[i] = analytics.track(event, {
                key: event + '-' + i,
                order_id: 'o-' + i,
                revenue: 19.99 + i,
                currency: 'EUR',
                product: {
                  sku: 'sku-' + (i % 17),
                  name: 'Widget ' + i,
                  price: 9.99,
                  tags: ['a', 'b'],
                  category: { main: 'tools', sub: 'hand' },
                },
                address: { country: 'UK', city: 'London', 'post.code': 'N1 9GU' },
                coupon: null,
                first: i === 0,
              })
              if (gapMs) await new Promise((r) => setTimeout(r, gapMs))
            }
            loop = performance.now() - t0
            resolve()
          } catch (e) {
            reject(e)
          }
        }),
      )
      await Promise.all(calls)
      return { t0, loop, wall: performance.now() - t0 }
    },
    { event, n, gapMs },
  )

/** Events of `type` that reached the API, distinct by message_id. */
const arrived = (api, type) => new Set(api.events(type).map((e) => e.properties.message_id)).size

/** CDP Performance metrics (seconds) by name. */
async function metrics(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics')
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]))
}

/** One main-thread run of `variant` ('plugin' | 'noop'). */
async function mainThreadRun(b, variant, n, warmup) {
  b.api.reset()
  const { context, page, requests } = await open(b, variant === 'plugin' ? 'register' : 'none')
  try {
    if (variant === 'noop') await registerNoop(page)
    const cdp = await context.newCDPSession(page)
    // thread time (CPU of the renderer's main thread) where available, else wall-clock task time
    const timeDomain = await cdp.send('Performance.enable', { timeDomain: 'threadTicks' }).then(
      () => 'threadTicks',
      () => cdp.send('Performance.enable').then(() => 'timeTicks'),
    )
    // warm-up: the same calls, delivered, so that both variants are measured hot
    await burst(page, 'warmup', warmup)
    if (variant === 'plugin') await b.api.waitFor((a) => arrived(a, 'warmup') >= warmup, 30_000)
    await sleep(300)
    const before = await metrics(cdp)
    const run = await burst(page, 'bench', n)
    // the plugin's deferred work (storage, requests) counts too: until everything was delivered
    if (variant === 'plugin') await b.api.waitFor((a) => arrived(a, 'bench') >= n, 60_000)
    await sleep(1200)
    const after = await metrics(cdp)
    // the long tasks that ended after the calls started (the task of the call loop itself included)
    const long = await page.evaluate((t0) => window.__bench.longtasks.filter((e) => e.start + e.duration > t0), run.t0)
    return {
      variant,
      timeDomain,
      wall: run.wall,
      loop: run.loop,
      taskMs: (after.TaskDuration - before.TaskDuration) * 1000,
      scriptMs: (after.ScriptDuration - before.ScriptDuration) * 1000,
      longTasks: long.length,
      longestTask: long.reduce((m, e) => Math.max(m, e.duration), 0),
      longTaskMs: long.reduce((s, e) => s + e.duration, 0),
      requests,
      preflights: b.api.preflights,
      bulk: b.api.requests.length,
    }
  } finally {
    await context.close()
  }
}

/**
 * Main-thread cost: `rounds` rounds, each one run with the plugin and one with the do-nothing
 * destination, in alternating order (ABBA), `n` tracks per run.
 */
export async function mainThread(b, { rounds = 6, n = 2000, warmup = 300, log = () => {} } = {}) {
  const runs = []
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? ['noop', 'plugin'] : ['plugin', 'noop']
    const pair = {}
    for (const v of order) pair[v] = await mainThreadRun(b, v, n, warmup)
    runs.push(pair)
    log(
      `  round ${r + 1}/${rounds}: pipeline ${pair.plugin.wall.toFixed(0)} vs ${pair.noop.wall.toFixed(0)} ms, ` +
        `CPU ${pair.plugin.taskMs.toFixed(0)} vs ${pair.noop.taskMs.toFixed(0)} ms (plugin vs no-op)`,
    )
  }
  const m = (f) => median(runs.map(f))
  return {
    rounds,
    n,
    runs,
    wallRatio: m((p) => p.plugin.wall / p.noop.wall),
    wallAddedUs: m((p) => ((p.plugin.wall - p.noop.wall) / n) * 1000),
    cpuRatio: m((p) => p.plugin.taskMs / p.noop.taskMs),
    cpuAddedUs: m((p) => ((p.plugin.taskMs - p.noop.taskMs) / n) * 1000),
    wall: { plugin: m((p) => p.plugin.wall), noop: m((p) => p.noop.wall) },
    loop: { plugin: m((p) => p.plugin.loop), noop: m((p) => p.noop.loop) },
    cpu: { plugin: m((p) => p.plugin.taskMs), noop: m((p) => p.noop.taskMs) },
    script: { plugin: m((p) => p.plugin.scriptMs), noop: m((p) => p.noop.scriptMs) },
    longTasks: {
      plugin: { count: m((p) => p.plugin.longTasks), longest: m((p) => p.plugin.longestTask), total: m((p) => p.plugin.longTaskMs) },
      noop: { count: m((p) => p.noop.longTasks), longest: m((p) => p.noop.longestTask), total: m((p) => p.noop.longTaskMs) },
    },
    timeDomain: runs[0].plugin.timeDomain,
    foreign: runs.flatMap((p) => [...p.plugin.requests.foreign, ...p.noop.requests.foreign]),
    apiOther: runs.reduce((s, p) => s + p.plugin.requests.apiOther + p.noop.requests.apiOther + p.plugin.preflights, 0),
    // what the page asked its own origin for with the plugin and not without it (the script itself aside)
    pluginSiteExtra: [
      ...new Set(
        runs.flatMap((p) =>
          [...p.plugin.requests.sitePaths].filter((x) => !p.noop.requests.sitePaths.has(x) && x !== '/dist/infinario.min.js'),
        ),
      ),
    ],
  }
}

/** Bytes of a recorded request: body, and body + request line + headers (as HTTP/1.1 sends them). */
function requestBytes(api) {
  let body = 0
  let wire = 0
  const path = new URL(api.url).pathname.replace(/\/$/, '') + '/bulk'
  for (const r of api.requests) {
    body += r.sizeBytes
    let head = `POST ${path} HTTP/1.1\r\n`.length + 2
    for (const [k, v] of Object.entries(r.headers))
      for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined) head += k.length + 2 + String(x).length + 2
    wire += head + r.sizeBytes
  }
  return { body, wire }
}

/** Bulk requests and bytes for `n` tracks made in one burst (gapMs 0) or `gapMs` apart. */
async function networkRun(b, n, gapMs) {
  const { context, page, requests } = await open(b, 'register')
  try {
    await sleep(300)
    b.api.reset()
    const event = gapMs ? 'spread' : 'burst'
    const started = Date.now()
    await burst(page, event, n, gapMs)
    const callsMs = Date.now() - started
    await b.api.waitFor((a) => arrived(a, event) >= n, 60_000)
    const deliveredMs = Date.now() - started
    await sleep(1500) // anything late is counted too
    const sizes = b.api.requests.map((r) => r.commands.length)
    return {
      n,
      gapMs,
      callsMs,
      deliveredMs,
      requests: b.api.requests.length,
      failed: b.api.requests.filter((r) => r.status !== 200).length,
      preflights: b.api.preflights,
      perRequest: sizes,
      ...requestBytes(b.api),
      arrived: arrived(b.api, event),
      duplicates: b.api.duplicates().length,
      limit: Math.ceil(n / 50),
      foreign: requests.foreign,
      apiOther: requests.apiOther + b.api.preflights,
    }
  } finally {
    await context.close()
  }
}

export async function network(b, { n = 1000, gapMs = 5 } = {}) {
  return { burst: await networkRun(b, n, 0), spread: await networkRun(b, n, gapMs) }
}
