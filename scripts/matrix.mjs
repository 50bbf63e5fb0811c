/**
 * `npm run test:matrix`: the call, session, delivery and host end-to-end specs against the analytics-next
 * versions of SPEC §8 — the lowest supported one (peerDependencies), the latest patch of every fifth
 * minor after it, and the latest release — then a table: version × spec → pass/fail.
 *
 * Each version is fetched at run time into node_modules/.cache/analytics-next/ (scripts/analytics-next.mjs),
 * never into package.json. Run `npm run build` first (the npm script does). Exits 1 when any spec failed.
 *
 *   node scripts/matrix.mjs                 the versions above
 *   node scripts/matrix.mjs 1.62.1 1.70.0   just these
 *   node scripts/matrix.mjs --list          prints the versions it would test
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { analyticsNextDir, lowestSupported } from './analytics-next.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const SPECS = ['calls', 'sessions', 'delivery', 'host']
/** every this many minors between the lowest and the latest */
const STEP = 5

const parse = (version) => version.split('.').map(Number)
const compare = (a, b) => {
  const [x, y] = [parse(a), parse(b)]
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i]
  return 0
}

/** The versions to test: the lowest, the latest patch of every STEP-th minor after it, the latest. */
function matrixVersions() {
  const published = JSON.parse(execFileSync('npm', ['view', '@segment/analytics-next', 'versions', '--json'], { encoding: 'utf8' }))
  const lowest = lowestSupported()
  const [major, lowestMinor] = parse(lowest)
  const releases = published.filter((v) => /^\d+\.\d+\.\d+$/.test(v) && parse(v)[0] === major && compare(v, lowest) >= 0).sort(compare)
  const latest = releases.at(-1)
  const chosen = [lowest]
  for (let minor = lowestMinor + STEP; minor < parse(latest)[1]; minor += STEP) {
    // the latest patch of that minor; a minor that was never published gives the next one that was
    const candidates = releases.filter((v) => parse(v)[1] >= minor)
    const firstMinor = parse(candidates[0])[1]
    const pick = candidates.filter((v) => parse(v)[1] === firstMinor).at(-1)
    if (!chosen.includes(pick) && compare(pick, latest) < 0) chosen.push(pick)
  }
  chosen.push(latest)
  return chosen
}

/** Runs the specs against one version; returns spec -> { passed, failed, skipped, skipReasons }. */
function runVersion(version) {
  const packageDir = analyticsNextDir(version)
  const output = mkdtempSync(join(tmpdir(), 'infinario-matrix-'))
  const run = spawnSync(
    join(root, 'node_modules/.bin/playwright'),
    ['test', ...SPECS.map((spec) => `e2e/${spec}.spec.ts`), '--workers=1', '--reporter=json', `--output=${output}`],
    {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      env: { ...process.env, ANALYTICS_NEXT_DIR: packageDir, E2E_ENGINES: process.env.E2E_ENGINES ?? 'chromium' },
    },
  )
  rmSync(output, { recursive: true, force: true })
  let report
  try {
    report = JSON.parse(run.stdout)
  } catch {
    throw new Error(`matrix: playwright gave no JSON report for ${version}:\n${run.stderr}`)
  }
  const results = Object.fromEntries(
    SPECS.map((spec) => [spec, { passed: 0, failed: 0, skipped: 0, failures: [], skipReasons: new Set() }]),
  )
  const visit = (suite, file) => {
    const spec = (file ?? suite.file ?? '').replace(/^.*\//, '').replace(/\.spec\.ts$/, '')
    for (const child of suite.suites ?? []) visit(child, suite.file ?? file)
    for (const specEntry of suite.specs ?? []) {
      for (const entry of specEntry.tests) {
        const tally = results[spec]
        if (entry.status === 'skipped') {
          tally.skipped++
          const notes = [...(entry.annotations ?? []), ...(entry.results ?? []).flatMap((result) => result.annotations ?? [])]
          for (const note of notes) if (note.type === 'skip' && note.description) tally.skipReasons.add(note.description)
        } else if (entry.status === 'expected') tally.passed++
        else {
          tally.failed++
          const error = (entry.results ?? []).at(-1)?.error?.message ?? ''
          // the first line of the error, without colour codes
          const reason = error.replace(/\u001b\[[0-9;]*m/g, '').split('\n')[0]
          tally.failures.push(reason ? `${specEntry.title} (${reason})` : specEntry.title)
        }
      }
    }
  }
  for (const suite of report.suites ?? []) visit(suite)
  return results
}

function cell({ passed, failed, skipped }) {
  const total = passed + failed
  const text = failed === 0 ? `pass ${passed}/${total}` : `FAIL ${failed}/${total}`
  return skipped > 0 ? `${text} (${skipped} skipped)` : text
}

function printTable(rows) {
  const header = ['analytics-next', ...SPECS.map((spec) => `${spec}.spec`)]
  const lines = [header, ...rows.map(({ version, results }) => [version, ...SPECS.map((spec) => cell(results[spec]))])]
  const widths = header.map((_, i) => Math.max(...lines.map((line) => line[i].length)))
  const format = (line) => '| ' + line.map((text, i) => text.padEnd(widths[i])).join(' | ') + ' |'
  console.log(format(header))
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
  for (const line of lines.slice(1)) console.log(format(line))
}

const args = process.argv.slice(2).filter((arg) => arg != '--list')
const versions = args.length > 0 ? args : matrixVersions()
console.log(`analytics-next versions: ${versions.join(', ')}`)
if (process.argv.includes('--list')) process.exit(0)
const rows = []
for (const version of versions) {
  const started = Date.now()
  const results = runVersion(version)
  rows.push({ version, results })
  const failed = SPECS.flatMap((spec) => results[spec].failures.map((title) => `${spec}: ${title}`))
  console.log(`${version}: ${((Date.now() - started) / 1000).toFixed(0)} s${failed.length ? '; failed: ' + failed.join('; ') : ''}`)
}
console.log('')
printTable(rows)
const reasons = new Set(rows.flatMap(({ results }) => SPECS.flatMap((spec) => [...results[spec].skipReasons])))
for (const reason of reasons) console.log(`skipped: ${reason}`)
if (rows.some(({ results }) => SPECS.some((spec) => results[spec].failed > 0))) process.exitCode = 1
