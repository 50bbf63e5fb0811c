/**
 * Makes sure a Chromium is there for the end-to-end tests (run before `playwright test`).
 *
 * Uses, in this order: $CHROMIUM_PATH, /usr/bin/chromium, Playwright's own Chromium. When none is
 * there and a package installation is running (apt / dpkg), waits for it and looks again. When there
 * is still none and this runs as root, installs Debian's `chromium` package; otherwise, or when that
 * fails, exits with an error that says what to do.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

export const SYSTEM_CHROMIUM = '/usr/bin/chromium'

/** The flags of every Chromium the tests and the benchmark launch. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // nothing but the loopback interface resolves: no request can leave 127.0.0.1
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
]

/** Playwright's own Chromium, when it was installed (`npx playwright install chromium`). */
async function playwrightChromium() {
  try {
    const { chromium } = await import('@playwright/test')
    const path = chromium.executablePath()
    return path && existsSync(path) ? path : undefined
  } catch {
    return undefined
  }
}

/** The Chromium to use, or undefined. */
export async function findChromium() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH
  if (existsSync(SYSTEM_CHROMIUM)) return SYSTEM_CHROMIUM
  return playwrightChromium()
}

/** Whether apt or dpkg is running (another installation, possibly of Chromium itself). */
function packageManagerBusy() {
  let pids = []
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p))
  } catch {
    return false
  }
  return pids.some((pid) => {
    try {
      return /^(apt|apt-get|aptitude|dpkg|unattended-upgr)$/.test(readFileSync(`/proc/${pid}/comm`, 'utf8').trim())
    } catch {
      return false
    }
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export async function ensureChromium({ waitMs = 30 * 60_000, log = console.error } = {}) {
  let found = await findChromium()
  if (found) return found
  if (packageManagerBusy()) {
    log('e2e: a package installation is running; waiting for it to finish before looking for Chromium again')
    const until = Date.now() + waitMs
    while (!(found = await findChromium()) && packageManagerBusy() && Date.now() < until) await sleep(2000)
    if (found) return found
  }
  const fail = (why) => {
    throw new Error(
      `e2e: no Chromium found (${why}). Set CHROMIUM_PATH, install Debian's "chromium" package, ` +
        'or run "npx playwright install chromium".',
    )
  }
  if (process.platform !== 'linux' || typeof process.getuid !== 'function' || process.getuid() !== 0)
    fail('not root, so it cannot be installed with apt-get')
  log("e2e: installing Debian's chromium package")
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const wait = ['-o', 'DPkg::Lock::Timeout=600']
  for (const args of [
    ['update', ...wait],
    ['install', '-y', ...wait, 'chromium'],
  ]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env })
    if (r.error || r.status !== 0) fail(`"apt-get ${args.join(' ')}" failed: ${r.error?.message ?? 'exit status ' + r.status}`)
  }
  if (!(found = await findChromium())) fail('apt-get succeeded but /usr/bin/chromium is missing')
  return found
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  ensureChromium().then(
    (path) => console.log(`e2e: Chromium: ${path}`),
    (e) => {
      console.error(e.message)
      process.exit(1)
    },
  )
}
