/**
 * Firefox on puppeteer-core over WebDriver BiDi (Playwright 1.65 cannot drive the system Firefox).
 * One browser per driver; a profile is a fresh browser context (its own storage).
 */
import puppeteer from 'puppeteer-core'
import { FIREFOX_PATH, gotoFrom, ignoreNavigation } from './index.mjs'

function firefoxTab(page, urls) {
  page.on('request', (request) => urls.push(request.url()))
  const tab = {
    engine: 'firefox',
    page,
    async goto(url, options = {}) {
      // BiDi navigation takes no referrer: open the referer page and follow a link from there
      if (options.referer) return gotoFrom(tab, url, options.referer)
      await page.goto(url)
    },
    async url() {
      return page.url()
    },
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    async evaluateAndLeave(fn, arg) {
      await page.evaluate(fn, arg).catch(ignoreNavigation)
    },
    async waitForFunction(fn, arg, timeoutMs = 10_000) {
      await page.waitForFunction(fn, { timeout: timeoutMs, polling: 50 }, arg)
    },
    async reload() {
      await page.reload()
    },
    async close() {
      // as a user closes a tab: beforeunload, pagehide and unload handlers run
      await page.close({ runBeforeUnload: true })
    },
  }
  return tab
}

export async function launchFirefox() {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    extraPrefsFirefox: {
      // nothing but the local servers: no update checks, telemetry or remote settings
      'network.dns.localDomains': 'localhost',
      'intl.accept_languages': 'en-US',
      'intl.locale.requested': 'en-US',
    },
  })
  const version = (await browser.version()).replace(/^firefox\//i, 'Firefox ')
  return {
    engine: 'firefox',
    version,
    async newProfile() {
      const context = await browser.createBrowserContext()
      const urls = []
      return {
        engine: 'firefox',
        context,
        async newTab() {
          const page = await context.newPage()
          await page.setViewport({ width: 1280, height: 720 })
          return firefoxTab(page, urls)
        },
        requests: () => urls,
        close: () => context.close(),
      }
    },
    close: () => browser.close(),
  }
}
