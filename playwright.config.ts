import { existsSync } from 'node:fs'
import { defineConfig } from '@playwright/test'
import { CHROMIUM_ARGS } from './e2e/chromium.mjs'
import { unavailable, type Engine } from './e2e/drivers/index.mjs'

/** $CHROMIUM_PATH, else Debian's /usr/bin/chromium, else Playwright's own Chromium (see e2e/chromium.mjs). */
const executablePath = process.env.CHROMIUM_PATH || (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined)

/** The specs that run in every engine (e2e/engine.ts fixtures); the others are Chromium-only. */
const EVERY_ENGINE = /\/(calls|sessions|delivery|unload|bfcache)\.spec\.ts$/

/**
 * Firefox always (npm test fails without it: `.ci/run` installs it); WebKit where WebKitWebDriver and
 * xvfb-run are installed. E2E_ENGINES=chromium,firefox picks engines (e.g. one lane per CI job).
 */
const wanted = (process.env.E2E_ENGINES ?? 'chromium,firefox,webkit').split(',').map((e) => e.trim())
const webkitMissing = unavailable('webkit')
if (wanted.includes('webkit') && webkitMissing && process.env.E2E_ENGINES)
  throw new Error(`E2E_ENGINES asks for webkit, but ${webkitMissing}`)
const engines = (['chromium', 'firefox', 'webkit'] as Engine[]).filter(
  (engine) => wanted.includes(engine) && !(engine === 'webkit' && webkitMissing),
)

export default defineConfig<{ engine: Engine }>({
  testDir: 'e2e',
  outputDir: 'test-results',
  fullyParallel: true,
  workers: 2,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  reporter: 'list',
  use: {
    viewport: { width: 1280, height: 720 },
    locale: 'en-US',
    timezoneId: 'Europe/Prague',
    trace: 'off',
    screenshot: 'off',
    video: 'off',
    launchOptions: {
      executablePath,
      args: CHROMIUM_ARGS,
    },
  },
  projects: engines.map((engine) =>
    engine === 'chromium'
      ? { name: 'chromium', use: { browserName: 'chromium', engine } }
      : // a bound for hangs: WebKit under Xvfb answers each WebDriver command in turn, slowly on a loaded machine
        { name: engine, testMatch: EVERY_ENGINE, use: { engine }, timeout: engine === 'webkit' ? 90_000 : 30_000 },
  ),
})
