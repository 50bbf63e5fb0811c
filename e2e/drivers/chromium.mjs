/** Chromium on Playwright (e2e/chromium.mjs finds or installs it and holds its flags). */
import { chromium } from '@playwright/test'
import { CHROMIUM_ARGS, ensureChromium } from '../chromium.mjs'
import { ignoreNavigation } from './index.mjs'

/** What every profile of every engine gets, as far as the driver can set it. */
export const CONTEXT = { viewport: { width: 1280, height: 720 }, locale: 'en-US', timezoneId: 'Europe/Prague' }

export function chromiumTab(page) {
  return {
    engine: 'chromium',
    page,
    async goto(url, options = {}) {
      await page.goto(url, options.referer ? { referer: options.referer } : {})
    },
    async url() {
      return page.url()
    },
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    async evaluateAndLeave(fn, arg) {
      await page.evaluate(fn, arg).catch(ignoreNavigation)
    },
    async waitForFunction(fn, arg, timeoutMs = 10_000) {
      await page.waitForFunction(fn, arg, { timeout: timeoutMs })
    },
    async reload() {
      await page.reload()
    },
    async close() {
      await page.close()
    },
  }
}

export async function launchChromium() {
  const executablePath = await ensureChromium()
  // with the back/forward cache on, as in Chrome (Playwright turns it off by default)
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, ignoreDefaultArgs: ['--disable-back-forward-cache'] })
  return {
    engine: 'chromium',
    version: `Chromium ${browser.version()}`,
    async newProfile() {
      const context = await browser.newContext(CONTEXT)
      const urls = []
      context.on('request', (request) => urls.push(request.url()))
      return {
        engine: 'chromium',
        context,
        async newTab() {
          return chromiumTab(await context.newPage())
        },
        requests: () => urls,
        close: () => context.close(),
      }
    },
    close: () => browser.close(),
  }
}
