/**
 * WebKit: WebKitGTK's MiniBrowser driven by WebKitWebDriver (WebDriver classic) through webdriverio,
 * under Xvfb. A driver process serves one session at a time, and a new session is a fresh profile.
 *
 * About one session start in 250 hangs (MiniBrowser cannot open the display): each start is guarded
 * by a 15 s timeout, after which the driver process is replaced and the start tried once more.
 * MiniBrowser's user agent says "Version/60.5 Safari"; the real version is in the capabilities.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { remote } from 'webdriverio'
import { ignoreNavigation, poll } from './index.mjs'

const SESSION_TIMEOUT_MS = 15_000

const CAPABILITIES = {
  browserName: 'MiniBrowser',
  'wdio:enforceWebDriverClassic': true,
  'webkitgtk:browserOptions': { args: ['--automation'] },
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** WebKitWebDriver on a free port of 127.0.0.1, with its own X server; resolves once it answers. */
async function startDriverProcess() {
  const port = await freePort()
  const child = spawn('xvfb-run', ['-a', 'WebKitWebDriver', `--port=${port}`], { stdio: 'ignore', detached: true })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  await poll(
    async () => {
      const answer = await fetch(`http://127.0.0.1:${port}/status`)
      return answer.ok
    },
    15_000,
    'WebKitWebDriver to answer',
  )
  return {
    port,
    async stop() {
      try {
        // the whole group: xvfb-run, Xvfb, the driver and its MiniBrowser
        process.kill(-child.pid, 'SIGTERM')
      } catch {
        return
      }
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))])
    },
  }
}

function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** The script that runs `source(arg)` in the page and hands back its awaited result or error. */
const ASYNC_SCRIPT = `
const done = arguments[arguments.length - 1];
const arg = arguments[0];
Promise.resolve()
  .then(() => (%SOURCE%)(arg))
  .then((value) => done({ value: value === undefined ? null : value }), (error) => done({ error: String((error && error.stack) || error) }));
`

function webkitProfile(session) {
  const open = new Set()
  let spare = null
  let current = null
  // one WebDriver command at a time: each runs in the window it belongs to
  let queue = Promise.resolve()
  const exclusive = (fn) => {
    const run = queue.then(fn, fn)
    queue = run.catch(() => {})
    return run
  }
  const focus = async (handle) => {
    if (current !== handle) {
      await session.switchToWindow(handle)
      current = handle
    }
  }

  function tab(handle) {
    const inTab = (fn) =>
      exclusive(async () => {
        if (!open.has(handle)) throw new Error('the tab has been closed')
        await focus(handle)
        return fn()
      })
    const evaluate = async (fn, arg) => {
      const script = ASYNC_SCRIPT.replace('%SOURCE%', fn.toString())
      const answer = await inTab(() => session.executeAsync(script, arg === undefined ? null : arg))
      if (answer && answer.error !== undefined) throw new Error(`evaluate failed in WebKit: ${answer.error}`)
      return answer ? (answer.value === null ? undefined : answer.value) : undefined
    }
    return {
      engine: 'webkit',
      handle,
      async goto(url, options = {}) {
        if (options.referer) {
          // WebDriver classic sets no referrer: open the referer page and follow a link from there
          await inTab(() => session.url(options.referer))
          await inTab(() =>
            session.execute((next) => {
              setTimeout(() => {
                location.href = next
              })
            }, url),
          )
          await poll(async () => (await inTab(() => session.getUrl())) === url, 15_000, `navigation to ${url}`)
          await poll(async () => (await evaluate(() => document.readyState)) === 'complete', 15_000, `load of ${url}`)
          return
        }
        await inTab(() => session.url(url))
      },
      url: () => inTab(() => session.getUrl()),
      evaluate,
      async evaluateAndLeave(fn, arg) {
        // a synchronous script: an asynchronous one would wait for a callback the next page never calls
        const script = `(${fn.toString()})(arguments[0]);`
        await inTab(() => session.execute(script, arg === undefined ? null : arg)).catch(ignoreNavigation)
      },
      async waitForFunction(fn, arg, timeoutMs = 10_000) {
        await poll(async () => await evaluate(fn, arg), timeoutMs, 'a function to return true in WebKit')
      },
      reload: () => inTab(() => session.refresh()),
      close: () =>
        exclusive(async () => {
          if (!open.has(handle)) return
          // closing a session's last window ends the session: keep a blank tab for the next one
          if (open.size === 1 && !spare) {
            const created = await session.createWindow('tab')
            spare = created.handle
            open.add(spare)
          }
          await focus(handle)
          await session.closeWindow()
          open.delete(handle)
          current = null
          await focus([...open][0])
        }),
    }
  }

  return {
    engine: 'webkit',
    session,
    async newTab() {
      const handle = await exclusive(async () => {
        if (open.size === 0) {
          const first = await session.getWindowHandle()
          open.add(first)
          return first
        }
        if (spare) {
          const reused = spare
          spare = null
          return reused
        }
        const created = await session.createWindow('tab')
        open.add(created.handle)
        return created.handle
      })
      return tab(handle)
    },
    requests: () => null,
    close: () => exclusive(() => session.deleteSession()),
  }
}

export async function launchWebKit() {
  let driver = await startDriverProcess()
  let busy = Promise.resolve()

  /** A new session (fresh profile), guarded against the rare hang by a timeout and one retry. */
  async function newSession() {
    for (let attempt = 1; ; attempt++) {
      const start = remote({
        hostname: '127.0.0.1',
        port: driver.port,
        logLevel: 'error',
        connectionRetryCount: 0,
        capabilities: CAPABILITIES,
      })
      try {
        return await withTimeout(start, SESSION_TIMEOUT_MS, 'starting a WebKit session')
      } catch (e) {
        start.then(
          (late) => late.deleteSession().catch(() => {}),
          () => {},
        )
        if (attempt >= 2) throw e
        // the driver may still wait for the MiniBrowser that hung: start a fresh one
        await driver.stop()
        driver = await startDriverProcess()
      }
    }
  }

  const probe = await newSession()
  const version = `WebKitGTK ${probe.capabilities.browserVersion} (MiniBrowser)`
  await probe.deleteSession()

  return {
    engine: 'webkit',
    version,
    async newProfile() {
      // one session per driver process: wait for the previous profile to close
      const previous = busy
      let release
      busy = new Promise((resolve) => {
        release = resolve
      })
      await previous
      let profile
      try {
        profile = webkitProfile(await newSession())
      } catch (e) {
        release()
        throw e
      }
      const close = profile.close
      profile.close = () => close().finally(release)
      return profile
    },
    close: () => driver.stop(),
  }
}
