/**
 * What Firefox lets a closing tab's unload handlers do, without the plugin: a bare page whose
 * `beforeunload`, `pagehide` and `visibilitychange` handlers each send five beacons (and note each
 * step in localStorage), closed the way a user closes a tab, many times, each in a fresh profile.
 * Prints, per handler, how many of its beacons reached the server in each close.
 *
 *   node scripts/firefox-close-probe.mjs [closes] [--second-tab] [--no-abort]
 *
 * --second-tab  another tab of the same site stays open (its process lives on after the close)
 * --no-abort    sets Firefox's preference dom.abort_script_on_child_shutdown to false
 *
 * Seen with Firefox 153 ESR: `beforeunload` always sent its five; `pagehide` and `visibilitychange`
 * sent anything from none to five (the script is aborted wherever it is, inside sendBeacon too), and
 * with --no-abort all five every time. This is why the plugin sends what is pending at beforeunload.
 */
import http from 'node:http'
import puppeteer from 'puppeteer-core'

const FIREFOX_PATH = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr'
const BEACONS_PER_HANDLER = 5
const HANDLERS = ['beforeunload', 'pagehide', 'visibilitychange']

const args = process.argv.slice(2)
const closes = Number(args.find((arg) => /^\d+$/.test(arg)) ?? 20)
const secondTab = args.includes('--second-tab')
const noAbort = args.includes('--no-abort')

const PAGE = `<!doctype html><title>probe</title><script>
function sendAll(event) {
  if (event.type == 'visibilitychange' && document.visibilityState != 'hidden') return
  for (let i = 0; i < ${BEACONS_PER_HANDLER}; i++) {
    navigator.sendBeacon('/beacon?handler=' + event.type + '&i=' + i, 'x'.repeat(200))
  }
}
${JSON.stringify(HANDLERS)}.forEach((type) => addEventListener(type, sendAll))
</script>`

/** Beacons received, as `handler` names, for the close in progress. */
let received = []

const server = http.createServer((request, response) => {
  const url = new URL(request.url, 'http://127.0.0.1')
  if (url.pathname == '/beacon') {
    received.push(url.searchParams.get('handler'))
    request.resume()
    request.on('end', () => response.end())
    return
  }
  response.setHeader('content-type', 'text/html')
  response.end(url.pathname == '/probe' ? PAGE : '<title>other</title>')
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const origin = `http://127.0.0.1:${server.address().port}`

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: FIREFOX_PATH,
  headless: true,
  extraPrefsFirefox: noAbort ? { 'dom.abort_script_on_child_shutdown': false } : {},
})
const version = await browser.version()

/** Per handler: how many closes got 0, 1, … 5 of its beacons out. */
const tally = Object.fromEntries(HANDLERS.map((handler) => [handler, new Array(BEACONS_PER_HANDLER + 1).fill(0)]))

for (let close = 0; close < closes; close++) {
  received = []
  const profile = await browser.createBrowserContext()
  const page = await profile.newPage()
  await page.goto(`${origin}/probe`)
  if (secondTab) {
    const other = await profile.newPage()
    await other.goto(`${origin}/other`)
    // opening it hid the probe page: its visibilitychange beacons left then, not at the close
    await page.bringToFront()
  }
  const before = received.length
  await page.close({ runBeforeUnload: true })
  // beacons leave at once; give a loaded machine time to deliver them
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const atClose = received.slice(before)
  for (const handler of HANDLERS) tally[handler][atClose.filter((name) => name == handler).length]++
  await profile.close()
}

await browser.close()
server.close()

const conditions = [`${closes} closes`]
if (secondTab) conditions.push('a second tab of the site open')
if (noAbort) conditions.push('dom.abort_script_on_child_shutdown=false')
console.log(`${version}: ${conditions.join(', ')}`)
console.log(`| handler | ${Array.from({ length: BEACONS_PER_HANDLER + 1 }, (_, n) => `${n} of ${BEACONS_PER_HANDLER} out`).join(' | ')} |`)
console.log(`|---|${'---:|'.repeat(BEACONS_PER_HANDLER + 1)}`)
for (const handler of HANDLERS) console.log(`| ${handler} | ${tally[handler].join(' | ')} |`)
