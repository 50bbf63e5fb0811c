/**
 * The package as a user installs it, outside this repository's module graph: a fresh project in the
 * system's temporary directory installs the packed tarball (not the source) and @segment/analytics-next,
 *   1. type-checks a strict consumer with this repository's TypeScript under `moduleResolution`
 *      `bundler`, `node16` from ESM (.mts) and `node16` from CommonJS (.cts); `@ts-expect-error` lines
 *      prove that settings of the wrong type are errors;
 *   2. bundles the README's npm usage snippet (extracted from README.md, only its placeholder values
 *      replaced) with esbuild, serves it, runs it in Chromium against the local Infinario-compatible API,
 *      and checks that identify, page and track each arrive exactly once, with the session page opens.
 * analytics-next stays offline as it does for a site behind a CDN proxy: the page sets
 * `window.analytics._cdn` to its own origin, which serves the CDN settings, and those point the Segment.io
 * destination at a local endpoint. No request leaves 127.0.0.1.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { build } from 'esbuild'
import { chromium } from '@playwright/test'
import { startApi } from '../../demo/server/api.mjs'
import { CHROMIUM_ARGS, findChromium } from '../../e2e/chromium.mjs'
import { pack, root } from './pack.mjs'

const TOKEN = '7d1f3a52-6c0e-4b8a-9e2d-5f4c3b2a1e0d'
const WRITE_KEY = 'consumer-write-key'
const TSC = join(root, 'node_modules/typescript/bin/tsc')
const repoPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

/** The placeholders of the README snippet, each replaced by the test's own value. */
const PLACEHOLDERS = {
  writeKey: "'YOUR_SEGMENT_WRITE_KEY'",
  projectToken: "'YOUR_PROJECT_TOKEN'",
  apiUrl: "'https://api.exponea.com'",
}

/** The README's npm usage snippet: the ```ts block right after the marker comment. */
export function readmeSnippet() {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const match = /<!-- npm usage: test\/package\/consumer\.test\.mjs runs this snippet -->\s*```ts\n([\s\S]*?)```/.exec(readme)
  if (!match) throw new Error('README.md: the npm usage snippet (after its marker comment) is missing')
  return match[1]
}

/** `snippet` with each placeholder (which must occur exactly once) replaced by `values[name]`, quoted. */
function fillPlaceholders(snippet, values) {
  let code = snippet
  for (const [name, placeholder] of Object.entries(PLACEHOLDERS)) {
    const count = code.split(placeholder).length - 1
    if (count != 1) throw new Error(`README snippet: ${placeholder} (${name}) occurs ${count} times, expected once`)
    code = code.replace(placeholder, JSON.stringify(values[name]))
  }
  return code
}

/** What a strict consumer writes, and what must not compile (the same text under every resolution). */
const TYPE_CHECKS = `import type { Plugin } from '@segment/analytics-next'
import { infinarioDestination, version, type Settings } from 'analytics-next-infinario'

const settings: Settings = {
  projectToken: 'token',
  apiUrl: 'https://api.exponea.com',
  sessionTimeoutMs: 1_200_000,
  flushIntervalMs: 1000,
  maxBatchSize: 50,
  eventNames: { 'Order Completed': 'purchase' },
  consentCategories: ['analytics'],
  debug: false,
}
export const plugin: Plugin = infinarioDestination(settings)
export const onlyToken: Plugin = infinarioDestination({ projectToken: 'token' })
export const pluginName: string = plugin.name
export const packageVersion: string = version

// @ts-expect-error projectToken is required
infinarioDestination({})
// @ts-expect-error projectToken is a string
infinarioDestination({ projectToken: 42 })
// @ts-expect-error apiUrl is a string
infinarioDestination({ projectToken: 'token', apiUrl: 443 })
// @ts-expect-error sessionTimeoutMs is a number
infinarioDestination({ projectToken: 'token', sessionTimeoutMs: '20 minutes' })
// @ts-expect-error maxBatchSize is a number
infinarioDestination({ projectToken: 'token', maxBatchSize: '50' })
// @ts-expect-error eventNames maps names to strings
infinarioDestination({ projectToken: 'token', eventNames: { 'Order Completed': 1 } })
// @ts-expect-error consentCategories is an array of strings
infinarioDestination({ projectToken: 'token', consentCategories: 'analytics' })
// @ts-expect-error debug is a boolean
infinarioDestination({ projectToken: 'token', debug: 'yes' })
// @ts-expect-error a misspelt setting is an error, not ignored
infinarioDestination({ projectToken: 'token', apiURL: 'https://api.exponea.com' })
// @ts-expect-error version is a string
export const wrongVersion: number = version
`

const STRICT = {
  strict: true,
  noEmit: true,
  target: 'ES2022',
  lib: ['ES2022', 'DOM', 'DOM.Iterable'],
  types: [],
  // the installed packages' declarations are checked too, ours among them
  skipLibCheck: false,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
}

/** The consumer projects to type-check: tsconfig name -> compiler options, files. */
const PROJECTS = {
  'tsconfig.bundler.json': {
    compilerOptions: { ...STRICT, module: 'ESNext', moduleResolution: 'bundler' },
    files: ['src/check.ts', 'src/app.ts'],
    declarations: 'dist/index.d.ts',
  },
  'tsconfig.node16-esm.json': {
    compilerOptions: { ...STRICT, module: 'node16', moduleResolution: 'node16' },
    files: ['src/check.mts'],
    declarations: 'dist/index.d.ts',
  },
  'tsconfig.node16-cjs.json': {
    compilerOptions: { ...STRICT, module: 'node16', moduleResolution: 'node16' },
    files: ['src/check.cts'],
    declarations: 'dist/index.d.cts',
  },
}

let project
let api
let server
let browser

before(async () => {
  project = mkdtempSync(join(tmpdir(), 'infinario-consumer-'))
  const { tarball } = pack(project)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '1.0.0' }, null, 2))
  const analyticsNext = repoPackage.devDependencies['@segment/analytics-next']
  execFileSync(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, `@segment/analytics-next@${analyticsNext}`],
    {
      cwd: project,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
  api = await startApi({ token: TOKEN })
})

after(async () => {
  await browser?.close()
  await api?.close()
  await new Promise((done) => (server ? server.close(done) : done()))
  if (project) rmSync(project, { recursive: true, force: true })
})

test('the installed package resolves from the consumer project, not from this repository', () => {
  const resolved = execFileSync(process.execPath, ['-p', "require.resolve('analytics-next-infinario')"], {
    cwd: project,
    encoding: 'utf8',
  }).trim()
  assert.equal(resolved, join(project, 'node_modules/analytics-next-infinario/dist/index.cjs'))
})

test('a strict TypeScript consumer compiles under bundler, node16 ESM and node16 CommonJS; wrong settings are errors', () => {
  mkdirSync(join(project, 'src'), { recursive: true })
  for (const file of ['check.ts', 'check.mts', 'check.cts']) writeFileSync(join(project, 'src', file), TYPE_CHECKS)
  // the app that the browser test runs, type-checked too
  writeFileSync(
    join(project, 'src/app.ts'),
    fillPlaceholders(readmeSnippet(), { writeKey: WRITE_KEY, projectToken: TOKEN, apiUrl: api.url }),
  )
  for (const [name, { compilerOptions, files, declarations }] of Object.entries(PROJECTS)) {
    writeFileSync(join(project, name), JSON.stringify({ compilerOptions, files }, null, 2))
    let output
    try {
      output = execFileSync(process.execPath, [TSC, '-p', name, '--listFiles', '--pretty', 'false'], { cwd: project, encoding: 'utf8' })
    } catch (error) {
      const errors = String(error.stdout)
        .split('\n')
        .filter((line) => line.includes('error TS'))
      assert.fail(`${name}: tsc failed\n${errors.join('\n')}${error.stderr}`)
    }
    // the declarations came from the installed tarball, in the format this resolution asks for
    const listed = output.split('\n').filter((line) => line.includes('/analytics-next-infinario/'))
    assert.deepEqual(listed, [join(project, 'node_modules/analytics-next-infinario', declarations)], `${name}: declarations used`)
  }
})

test('a type error in the consumer is reported (the check above is not vacuous)', () => {
  writeFileSync(
    join(project, 'src/broken.ts'),
    "import { infinarioDestination } from 'analytics-next-infinario'\ninfinarioDestination({ projectToken: 42 })\n",
  )
  const tsconfig = { compilerOptions: PROJECTS['tsconfig.bundler.json'].compilerOptions, files: ['src/broken.ts'] }
  writeFileSync(join(project, 'tsconfig.broken.json'), JSON.stringify(tsconfig))
  let output = ''
  try {
    execFileSync(process.execPath, [TSC, '-p', 'tsconfig.broken.json', '--pretty', 'false'], { cwd: project, encoding: 'utf8' })
  } catch (error) {
    output = String(error.stdout)
  }
  assert.match(output, /src\/broken\.ts\(2,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/)
})

/** A static server for the bundled app: the page, the bundle, CDN settings and a Segment.io endpoint. */
async function startAppServer(bundle) {
  const segmentCalls = []
  const html = '<!doctype html><meta charset="utf-8"><title>consumer</title><script src="/cdn.js"></script><script src="/app.js"></script>'
  // what a site behind a CDN proxy sets: analytics-next then asks this origin for its settings
  const cdnScript = 'window.analytics = { _cdn: location.origin }\n'
  const handle = (req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    const send = (status, type, body) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' })
      res.end(body)
    }
    if (req.method == 'POST' && path.startsWith('/segment/')) {
      let body = ''
      req.on('data', (chunk) => (body += chunk))
      req.on('end', () => {
        segmentCalls.push({ path, body })
        send(200, 'application/json', '{}')
      })
      return
    }
    if (path == '/') return send(200, 'text/html; charset=utf-8', html)
    if (path == '/cdn.js') return send(200, 'text/javascript', cdnScript)
    if (path == '/app.js') return send(200, 'text/javascript', bundle)
    if (path == `/v1/projects/${WRITE_KEY}/settings`) {
      const host = `127.0.0.1:${server.address().port}/segment/v1`
      const settings = {
        integrations: { 'Segment.io': { apiKey: WRITE_KEY, apiHost: host, protocol: 'http' } },
        metrics: { sampleRate: 0 },
      }
      return send(200, 'application/json', JSON.stringify(settings))
    }
    send(404, 'text/plain', 'not found')
  }
  server = createServer(handle)
  await new Promise((listening) => server.listen(0, '127.0.0.1', listening))
  return { origin: `http://127.0.0.1:${server.address().port}`, segmentCalls }
}

/** The commands that reached the API, as (name, type) lines with the ids they carried. */
const described = (commands) =>
  commands.map((command) => {
    const ids = command.name == 'crm/customers' ? command.data.ids : command.data.customer_ids
    const what = command.name == 'crm/customers' ? 'crm/customers' : `crm/events ${command.data.type}`
    return `${what} registered=${ids.registered} cookie=${ids.cookie ? 'anonymousId' : 'none'}`
  })

test('the README snippet, bundled with esbuild, delivers identify, page and track exactly once in Chromium', async () => {
  const result = await build({
    absWorkingDir: project,
    entryPoints: ['src/app.ts'],
    bundle: true,
    format: 'iife',
    // the snippet's exports (`analytics`) become window.consumerApp, for the settle call below
    globalName: 'consumerApp',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    write: false,
    logLevel: 'silent',
  })
  const app = await startAppServer(result.outputFiles[0].text)
  browser = await chromium.launch({ executablePath: await findChromium(), args: CHROMIUM_ARGS })
  const context = await browser.newContext()
  const requested = []
  context.on('request', (request) => requested.push(request.url()))
  const page = await context.newPage()
  const pageErrors = []
  page.on('pageerror', (error) => pageErrors.push(String(error)))
  await page.goto(app.origin + '/')

  // everything made before a last track has arrived once that track has (the outbox sends in order)
  const settle = await page.evaluate(async () => (await window.consumerApp.analytics.track('settle')).event.messageId)
  await api.waitFor((a) => a.byMessageId().has(settle), 15_000)

  const anonymousId = await page.evaluate(async () => (await window.consumerApp.analytics.user()).anonymousId())
  const commands = api.commands.filter((command) => command.data.properties?.message_id != settle)
  assert.deepEqual(
    described(commands),
    [
      'crm/customers registered=user-42 cookie=anonymousId',
      'crm/events session_start registered=user-42 cookie=anonymousId',
      'crm/events page_visit registered=user-42 cookie=anonymousId',
      'crm/events Signed Up registered=user-42 cookie=anonymousId',
    ],
    api.summary(),
  )
  for (const command of commands) {
    const ids = command.name == 'crm/customers' ? command.data.ids : command.data.customer_ids
    assert.equal(ids.cookie, anonymousId)
  }
  assert.deepEqual(commands[0].data.properties, { email: 'jane@example.com' })
  assert.equal(commands[3].data.properties.plan, 'pro')
  assert.deepEqual(api.duplicates(), [])
  assert.deepEqual(pageErrors, [])
  const foreign = requested.filter((url) => !url.startsWith('http://127.0.0.1:'))
  assert.deepEqual(foreign, [], 'requests to hosts other than 127.0.0.1')
})
