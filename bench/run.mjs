/**
 * `npm run bench` (after `npm run build`): measures what SPEC §7 budgets, prints one table and writes
 * it, with the details, the date, the machine and the command, to bench/results.md (and into the
 * README between `<!-- bench:start -->` and `<!-- bench:end -->`).
 *
 *   1. size          dist/infinario.min.js, dist/index.mjs, dist/index.cjs and analytics-next's
 *                    standalone build: raw, gzip -9, brotli                         (sizes.mjs)
 *   2. main thread   2 000 `track` calls, plugin vs a do-nothing destination, alternating rounds
 *   3. network       bulk requests and bytes for 1 000 tracks, in one burst and spread over time
 *   4. navigations   200 navigations, each right after a track, three times in each engine
 *                    (Chromium, Firefox, and WebKit where its driver is installed): events lost /
 *                    duplicated, each one attributed to the step that lost or doubled it
 *                                                                                   (storm.mjs)
 *   5. retry herd    10 000 simulated clients through a 60 s outage, with src/delivery/retry.ts
 *                                                                                   (herd.mjs)
 *
 * Options: --quick (fewer rounds and navigations, one storm per engine; writes nothing), --rounds N,
 * --navs N, --storms N (storms per engine), --engines chromium,firefox,webkit.
 * Exits 1 when a part could not run; figures over budget are reported, not failed on
 * (the size budget is also checked by bench/size-check.mjs).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { join } from 'node:path'
import { unavailable } from '../e2e/drivers/index.mjs'
import { mainThread, network, startBench } from './browser.mjs'
import { navigationStorms } from './storm.mjs'
import { HERD, runHerd } from './herd.mjs'
import { IIFE_GZIP_BUDGET, ROOT, measureAll } from './sizes.mjs'

const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(name)
  return i >= 0 ? Number(argv[i + 1]) : fallback
}
const quick = argv.includes('--quick')
const ROUNDS = opt('--rounds', quick ? 2 : 8)
const NAVS = opt('--navs', quick ? 30 : 200)
const STORMS = opt('--storms', quick ? 1 : 3)
const engineList = argv.includes('--engines') ? argv[argv.indexOf('--engines') + 1].split(',') : ['chromium', 'firefox', 'webkit']
/** the engines whose storms run: WebKit only where WebKitWebDriver and xvfb-run are installed */
const ENGINES = engineList.filter((engine) => engine !== 'webkit' || !unavailable('webkit') || argv.includes('--engines'))
const TRACKS = 2000
const NET_N = 1000
const NET_GAP_MS = 5

const BUDGET = { gzip: IIFE_GZIP_BUDGET, ratio: 1.25, bulk: 21, lost: 0, herd: 2, foreign: 0 }

const started = Date.now()
const log = (...a) => console.error(...a)
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`

// ---------------------------------------------------------------------------------------------
// formatting

/** 6401 -> "6 401" */
const int = (n) =>
  Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ' ')
const fix = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : String(n))
/** `+12` or `−3`: the change per event, with its sign */
const signed = (n) => (n < 0 ? '−' + fix(-n, 0) : '+' + fix(n, 0))
const kb = (n) => `${int(n / 1024)} KiB`
const mark = (ok) => (ok ? 'within' : '**over**')

function table(rows) {
  const head = ['#', 'figure', 'measured', 'budget', 'verdict']
  const lines = [head, head.map(() => '---'), ...rows.map((r) => [r.n, r.figure, r.measured, r.budget, r.status])]
  return lines.map((l) => `| ${l.join(' | ')} |`).join('\n')
}

// ---------------------------------------------------------------------------------------------
// the runs

const results = {}
const failures = []
async function part(name, fn) {
  log(`bench: ${name} … (${elapsed()})`)
  try {
    results[name] = await fn()
  } catch (e) {
    failures.push(name)
    results[name] = { error: String(e?.stack ?? e) }
    log(`bench: ${name} failed: ${e?.message ?? e}`)
  }
}

await part('size', () => measureAll())
await part('herd', () => runHerd())

let bench
await part('browser', async () => {
  bench = await startBench()
  return { version: bench.version, executablePath: bench.executablePath }
})
if (bench) {
  try {
    await part('mainThread', () => mainThread(bench, { rounds: ROUNDS, n: TRACKS, log }))
    await part('network', () => network(bench, { n: NET_N, gapMs: NET_GAP_MS }))
  } finally {
    await bench.close().catch(() => {})
  }
}
for (const engine of ENGINES) await part(`storms-${engine}`, () => navigationStorms(engine, { navs: NAVS, runs: STORMS, log }))

// ---------------------------------------------------------------------------------------------
// the table

const rows = []
const failed = (n, figure, budget, name) =>
  rows.push({ n, figure, measured: `not measured: ${String(results[name]?.error ?? '').split('\n')[0]}`, budget, status: 'failed' })

if (results.size?.error) failed(1, 'size', `gzip ≤ ${int(BUDGET.gzip)} B`, 'size')
else
  for (const f of results.size) {
    const measured = `${int(f.raw)} B raw, **${int(f.gzip)} B gzip -9**, ${int(f.brotli)} B brotli`
    rows.push({
      n: 1,
      figure: `size: ${f.label}`,
      measured,
      budget: f.budget ? `gzip ≤ ${int(f.budget)} B` : '—',
      status: f.budget ? mark(f.gzip <= f.budget) : '—',
    })
  }

const mt = results.mainThread
if (!mt || mt.error) failed(2, 'main-thread cost, plugin vs no-op destination', `≤ ${BUDGET.ratio}×`, 'mainThread')
else {
  rows.push({
    n: 2,
    figure: `main thread: pipeline time of ${int(mt.n)} \`track\` calls, plugin vs no-op destination (median of ${mt.rounds} alternating rounds)`,
    measured: `**${fix(mt.wallRatio)}×**, ${signed(mt.wallAddedUs)} µs per event (${int(mt.wall.plugin)} vs ${int(mt.wall.noop)} ms)`,
    budget: `≤ ${BUDGET.ratio}×`,
    status: mark(mt.wallRatio <= BUDGET.ratio),
  })
  rows.push({
    n: 2,
    figure: `main thread: CPU of the renderer's main thread (CDP TaskDuration) until all was delivered`,
    measured: `**${fix(mt.cpuRatio)}×**, ${signed(mt.cpuAddedUs)} µs per event (${int(mt.cpu.plugin)} vs ${int(mt.cpu.noop)} ms)`,
    budget: `≤ ${BUDGET.ratio}×`,
    status: mark(mt.cpuRatio <= BUDGET.ratio),
  })
  const lt = mt.longTasks
  rows.push({
    n: 2,
    figure: 'long tasks (≥ 50 ms) during the run, median count / longest: plugin vs no-op',
    measured: `${fix(lt.plugin.count, 1)} / ${int(lt.plugin.longest)} ms vs ${fix(lt.noop.count, 1)} / ${int(lt.noop.longest)} ms`,
    budget: '—',
    status: '—',
  })
}

const nw = results.network
if (!nw || nw.error) failed(3, 'bulk requests for 1 000 tracks', `≤ ${BUDGET.bulk}`, 'network')
else {
  for (const r of [nw.burst, nw.spread]) {
    const how = r.gapMs ? `spread over ${fix(r.callsMs / 1000, 1)} s (${r.gapMs} ms apart)` : 'in one burst'
    rows.push({
      n: 3,
      figure: `network: bulk requests for ${int(r.n)} \`track\` calls ${how}`,
      measured: `**${r.requests}** (${fix(r.requests / r.limit)}× ceil(N/50) = ${r.limit}), ${kb(r.wire)} on the wire (${kb(r.body)} of bodies), ${r.failed} failed`,
      budget: `≤ ${BUDGET.bulk}`,
      status: mark(r.requests <= BUDGET.bulk && r.arrived === r.n),
    })
  }
}

const storms = ENGINES.map((engine) => ({ engine, result: results[`storms-${engine}`] }))
for (const { engine, result } of storms) {
  if (!result || result.error) {
    failed(4, `delivery: events lost / duplicated over navigations, ${engine}`, '0 / 0', `storms-${engine}`)
    continue
  }
  const runs = result.runs
  const lost = runs.reduce((sum, r) => sum + r.lost.length, 0)
  const duplicated = runs.reduce((sum, r) => sum + r.duplicated.length, 0)
  const causes = [...new Set(runs.flatMap((r) => [...r.lost, ...r.duplicated].map((a) => a.cause)))]
  const host = runs.reduce((sum, r) => sum + r.notDispatched, 0)
  const replayed = runs.reduce((sum, r) => sum + r.replayed, 0)
  rows.push({
    n: 4,
    figure: `delivery: events lost / duplicated over ${runs.length} × ${int(NAVS)} navigations, an event fired right before each: **${result.version}**`,
    measured:
      `**${lost} / ${duplicated}** (per run ${runs.map((r) => `${r.lost.length}/${r.duplicated.length}`).join(', ')}); ` +
      `not yet handed to the plugin when the page went away: ${host}, of them replayed by analytics-next on the next page: ${replayed}` +
      (causes.length ? `; causes: ${causes.join('; ')}` : ''),
    budget: '0 / 0',
    status: mark(lost === 0 && duplicated === 0),
  })
}

const hd = results.herd
if (!hd || hd.error) failed(5, 'retry herd: peak-to-mean request rate after recovery', `≤ ${BUDGET.herd}`, 'herd')
else {
  const [f1, f10] = hd.fixed
  rows.push({
    n: 5,
    figure: `retry herd: peak-to-mean request rate in the minute after a ${hd.options.outageS} s outage, ${int(hd.options.clients)} clients (simulated)`,
    measured: `**${fix(hd.project.peakToMean)}** with src/delivery/retry.ts; fixed 1 s retry: ${fix(f1.peakToMean)}, fixed 10 s: ${fix(f10.peakToMean)}`,
    budget: `≤ ${BUDGET.herd} (goal)`,
    status: mark(hd.project.peakToMean <= BUDGET.herd),
  })
}

const stormRuns = storms.flatMap(({ result }) =>
  result && !result.error ? result.runs.map((r) => ({ foreign: r.foreign, apiOther: 0 })) : [],
)
const browserRuns = [mt, nw?.burst, nw?.spread, ...stormRuns].filter((x) => x && !x.error)
if (browserRuns.length) {
  const foreign = [...new Set(browserRuns.flatMap((r) => r.foreign))]
  const apiOther = browserRuns.reduce((s, r) => s + r.apiOther, 0)
  const extra = mt && !mt.error ? mt.pluginSiteExtra : []
  const total = foreign.length + apiOther + extra.length
  rows.push({
    n: '2–4',
    figure: 'requests to any host other than `apiUrl`, or to `apiUrl` other than `POST /bulk` (all browser runs)',
    measured: `**${total}**${total ? ` (${[...foreign, ...extra].slice(0, 5).join(', ')}${apiOther ? `, ${apiOther} other to apiUrl` : ''})` : ''}`,
    budget: '0',
    status: mark(total === 0),
  })
}

// ---------------------------------------------------------------------------------------------
// the report

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
const ajs = JSON.parse(readFileSync(join(ROOT, 'node_modules/@segment/analytics-next/package.json'), 'utf8'))
let commit = 'unknown'
try {
  const git = (...a) => execFileSync('git', a, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  commit =
    git('rev-parse', '--short', 'HEAD') +
    (git('status', '--porcelain', '--', 'src', 'package.json', 'rollup.config.mjs') ? ' + uncommitted changes' : '')
} catch {}
const cpu = cpus()
const command =
  process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : `node bench/run.mjs${argv.length ? ' ' + argv.join(' ') : ''}`
const date = new Date()
const seconds = (Date.now() - started) / 1000
const main = table(rows)

const machine = [
  `${cpu.length} CPUs (${cpu[0]?.model?.trim() ?? 'unknown'}), ${fix(totalmem() / 2 ** 30, 1)} GiB, ${process.platform} ${release()}`,
  `load average at the end ${loadavg()
    .map((x) => fix(x))
    .join(' ')}`,
  `Node ${process.version}`,
  `Chromium ${results.browser?.version ?? 'not started'} (headless)`,
  ...storms.filter(({ result }) => result && !result.error).map(({ result }) => `storms: ${result.version}`),
  `@segment/analytics-next ${ajs.version}`,
].join(' · ')

const details = []
if (results.size && !results.size.error) {
  details.push('### 1. Size', '', '| file | raw | gzip -9 | brotli |', '|---|---:|---:|---:|')
  for (const f of results.size) details.push(`| \`${f.path}\` | ${int(f.raw)} | ${int(f.gzip)} | ${int(f.brotli)} |`)
  details.push('', 'Bytes; brotli at quality 11. The IIFE includes idb-keyval; the ESM/CJS entries leave it as a dependency.', '')
}
if (mt && !mt.error) {
  details.push(
    '### 2. Main thread',
    '',
    `The e2e page (\`e2e/site/index.html\`, real analytics-next ${ajs.version}, Segment.io off) in a fresh browser context per run, ` +
      `once with the plugin (\`mode=register\`) and once with a destination plugin that does nothing, in alternating order (ABBA). ` +
      `Each run: ${int(300)} warm-up calls (delivered), then ${int(mt.n)} \`analytics.track()\` calls with nested properties made in one loop; ` +
      '*pipeline* is `performance.now()` around `await Promise.all(calls)`; *CPU* is the CDP `Performance.getMetrics` `TaskDuration` ' +
      `(${mt.timeDomain === 'threadTicks' ? 'thread time' : 'wall time of tasks'}) from the first call until the plugin had delivered everything, plus 1.2 s; ` +
      'long tasks are PerformanceObserver `longtask` entries over the same span. Ratios and µs per event are medians of the per-round values. ' +
      `The calls are made in one loop inside a timer task of the page; the loop alone took ${int(mt.loop.plugin)} ms with the plugin and ${int(mt.loop.noop)} ms without ` +
      "(median): most of analytics-next's work per call is synchronous, so the burst is one long task in both variants.",
    '',
    '| round | pipeline plugin / no-op (ms) | ratio | CPU plugin / no-op (ms) | ratio | long tasks plugin / no-op | bulk requests |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...mt.runs.map(
      (p, i) =>
        `| ${i + 1} | ${int(p.plugin.wall)} / ${int(p.noop.wall)} | ${fix(p.plugin.wall / p.noop.wall)} | ${int(p.plugin.taskMs)} / ${int(p.noop.taskMs)} | ${fix(
          p.plugin.taskMs / p.noop.taskMs,
        )} | ${p.plugin.longTasks} (${int(p.plugin.longTaskMs)} ms) / ${p.noop.longTasks} (${int(p.noop.longTaskMs)} ms) | ${p.plugin.bulk} |`,
    ),
    '',
  )
}
if (nw && !nw.error) {
  details.push('### 3. Network', '')
  for (const r of [nw.burst, nw.spread])
    details.push(
      `- ${int(r.n)} tracks ${r.gapMs ? `${r.gapMs} ms apart (calls took ${fix(r.callsMs / 1000, 1)} s)` : 'in one loop'}: ` +
        `${r.requests} requests (commands per request: ${r.perRequest.join(' ')}), all delivered ${fix(r.deliveredMs / 1000, 1)} s after the first call, ` +
        `${int(r.body)} B of bodies, ${int(r.wire)} B with request lines and headers (${int(r.wire / r.n)} B per event), ` +
        `${r.preflights} CORS preflights, ${r.duplicates} duplicates.`,
    )
  details.push('')
}
if (storms.some(({ result }) => result && !result.error)) {
  details.push(
    '### 4. Navigations',
    '',
    `In each engine (e2e/drivers/: Chromium on Playwright, Firefox on puppeteer-core over WebDriver BiDi, WebKitGTK's MiniBrowser on webdriverio under Xvfb), ` +
      `${STORMS} storms, each in a fresh profile: ${int(NAVS)} navigations alternating between \`e2e/site/index.html\` and \`other.html\`; before each, ` +
      '`analytics.track()` and `location.href = next` in the same task of the page; then one more visit and a last track, to deliver what was left behind. ' +
      "Every page runs with `trace=<visit>` (e2e/site/boot.js), which notes synchronously in localStorage each step of each event: the plugin's hook called " +
      '(`hook`), handed to sendBeacon (`beacon`, then `beacon-accepted` / `beacon-refused`: a `beacon` without either is an unload stopped inside the call), ' +
      "a keepalive or normal request carrying it, and at the next page's start the plugin's unload journals and analytics-next's persisted queues. " +
      "*Not handed over*: events whose hook had not been called when the page went away (the host's share); *replayed*: those that analytics-next's " +
      'persisted queue handed to the plugin on a later page.',
    '',
    '| engine | run | lost / duplicated | time | requests (beacons) | not handed over / replayed (arrived once) | unloads stopped inside sendBeacon | delivered by adoption |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  )
  for (const { result } of storms) {
    if (!result || result.error) continue
    result.runs.forEach((r, i) =>
      details.push(
        `| ${result.version} | ${i + 1} | ${r.lost.length} / ${r.duplicated.length} | ${fix(r.ms / 1000, 0)} s | ${r.requests} (${r.beacons}) | ${r.notDispatched} / ${r.replayed} (${r.replayedOnce}) | ${r.stoppedInBeacon} | ${r.adopted} |`,
      ),
    )
  }
  const each = storms.flatMap(({ result }) =>
    result && !result.error
      ? result.runs.flatMap((r, i) =>
          [...r.lost, ...r.duplicated].map((a) => `- ${result.version}, run ${i + 1}, \`${a.key}\` (arrived ${a.arrived}×): ${a.cause}`),
        )
      : [],
  )
  details.push('', each.length ? 'Every event lost or duplicated, with its cause:' : 'No event was lost or duplicated.', '', ...each, '')
}
if (hd && !hd.error) {
  const o = hd.options
  details.push(
    '### 5. Retry herd',
    '',
    `\`bench/herd.mjs\`: ${int(o.clients)} clients that each track an event every ${o.eventGapS} s on average (Poisson), and send like the outbox ` +
      `(one request at a time, ≤ ${o.maxBatch} commands, flush after ${int(o.flushIntervalMs)} ms); on \`verdict(status) === 'retry'\` they wait ` +
      '`max(retryAfter(header), backoff(attempt, random))`, imported from `src/delivery/retry.ts`. ' +
      `The API answers 503 to every request for ${o.outageS} s (after ${o.warmupS} s of normal traffic), ${o.latencyMs} ms after it. ` +
      'Requests per second are counted in the minute after the API recovers.',
    '',
    '| retry | steady rate before (req/s) | requests during the outage | peak after (req/s, second) | mean after (req/s) | peak / mean | peak / steady | last failed client delivered after |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...[hd.project, ...hd.fixed].map(
      (s) =>
        `| ${s.policy} | ${int(s.steadyRate)} | ${int(s.requestsInOutage)} | ${int(s.afterPeak)} (second ${s.afterPeakSecond + 1}) | ${int(s.afterMean)} | ${fix(
          s.peakToMean,
        )} | ${fix(s.peakToSteady)} | ${fix(s.drainedAfterS, 1)} s |`,
    ),
    '',
    `First 10 s after recovery, requests per second: ${[hd.project, ...hd.fixed]
      .map((s) => `${s.policy.replace(/ \(.*\)/, '')}: ${s.afterPerSecond.slice(0, 10).join(' ')}`)
      .join('; ')}.`,
    '',
  )
}
for (const name of failures) details.push(`### ${name}: could not run`, '', '```', results[name].error, '```', '')

const header = [
  `Measured by \`${command}\` on ${date.toISOString().replace(/\.\d+Z$/, 'Z')} in ${fix(seconds, 0)} s.`,
  '',
  `Machine: ${machine}.`,
  '',
  `Plugin: ${pkg.name} ${pkg.version}, commit ${commit}. Figures over budget are marked **over**. ` +
    'The machine may be shared: the main-thread figures are medians over alternating rounds.',
].join('\n')

const report = `# Benchmark results\n\n${header}\n\n${main}\n\n## Details\n\n${details.join('\n')}`
console.log(`\n${main}\n`)
console.log(`${machine}\n${command}: ${fix(seconds, 0)} s`)

if (!quick) {
  writeFileSync(join(ROOT, 'bench/results.md'), report.trimEnd() + '\n')
  log('bench: wrote bench/results.md')
  const readme = join(ROOT, 'README.md')
  try {
    const text = readFileSync(readme, 'utf8')
    const re = /(<!-- bench:start -->\n)[\s\S]*?(<!-- bench:end -->)/
    if (re.test(text)) {
      const block = `${header.split('\n')[0]} Machine: ${machine}. Details: [bench/results.md](bench/results.md).\n\n${main}\n\n`
      writeFileSync(
        readme,
        text.replace(re, (_, a, b) => a + block + b),
      )
      log('bench: updated the table in README.md')
    }
  } catch {}
}
if (failures.length) {
  log(`bench: could not run: ${failures.join(', ')}`)
  process.exitCode = 1
}
