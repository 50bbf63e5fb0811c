/**
 * The engine drivers: `launchDriver(engine)` starts a browser of that engine behind the small
 * interface of index.d.mts. Chromium runs on Playwright, Firefox on puppeteer-core (WebDriver BiDi),
 * WebKit on webdriverio (WebDriver classic, WebKitGTK's MiniBrowser under Xvfb).
 */
import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'

export const ENGINES = ['chromium', 'firefox', 'webkit']

export const FIREFOX_PATH = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr'

/** The first `name` on $PATH, or undefined. */
export function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir, name)
    if (dir && existsSync(file)) return file
  }
  return undefined
}

export function unavailable(engine) {
  if (engine === 'firefox' && !existsSync(FIREFOX_PATH)) return `no Firefox at ${FIREFOX_PATH} (set FIREFOX_PATH or install firefox-esr)`
  if (engine === 'webkit') {
    if (!onPath('WebKitWebDriver')) return 'WebKitWebDriver is not installed (webkit2gtk-driver)'
    if (!onPath('xvfb-run')) return 'xvfb-run is not installed (xvfb, xauth)'
  }
  return null
}

export async function launchDriver(engine) {
  const why = unavailable(engine)
  if (why) throw new Error(`${engine}: ${why}`)
  if (engine === 'chromium') return (await import('./chromium.mjs')).launchChromium()
  if (engine === 'firefox') return (await import('./firefox.mjs')).launchFirefox()
  if (engine === 'webkit') return (await import('./webkit.mjs')).launchWebKit()
  throw new Error(`unknown engine ${engine}`)
}

export function isNavigationError(error) {
  return /context was destroyed|navigat|Target closed|has been closed|no such (window|frame)|unload|discarded|detached|Session closed/i.test(
    String(error?.message ?? error),
  )
}

/** A `catch` handler for a script that leaves the page: rethrows anything but the navigation's error. */
export function ignoreNavigation(error) {
  if (!isNavigationError(error)) throw error
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` every 50 ms until it resolves truthy; rejects after `timeoutMs` with `what`. */
export async function poll(check, timeoutMs, what) {
  const until = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      if (await check()) return
    } catch (e) {
      last = e
    }
    if (Date.now() >= until)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message ?? last})` : ''}`)
    await sleep(50)
  }
}

/**
 * Opens `url` with `referer` as document.referrer where the driver cannot set it: opens the referer
 * page first and navigates from there, as a link would.
 */
export async function gotoFrom(tab, url, referer) {
  await tab.goto(referer)
  await tab
    .evaluate((next) => {
      location.href = next
    }, url)
    .catch(ignoreNavigation)
  await poll(
    async () => (await tab.url()) === url && (await tab.evaluate(() => document.readyState)) !== 'loading',
    15_000,
    `navigation to ${url}`,
  )
}
