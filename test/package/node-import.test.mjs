/**
 * Importing the package in Node (server-side rendering) reads no browser global (SPEC §2): the built
 * dist/index.mjs and dist/index.cjs are loaded in a plain Node process whose browser globals are traps
 * that record every read, then infinarioDestination() is called with valid and invalid settings.
 * The plugin needs the browser only once analytics-next loads it, and that never happens on a server.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

/** The globals of a browser page (and a worker) that code might read at import time. */
const BROWSER_GLOBALS = [
  'window',
  'self',
  'document',
  'navigator',
  'location',
  'history',
  'screen',
  'localStorage',
  'sessionStorage',
  'indexedDB',
  'addEventListener',
  'removeEventListener',
  'dispatchEvent',
  'XMLHttpRequest',
  'requestIdleCallback',
  'requestAnimationFrame',
]

/**
 * The program the child process runs: it installs the traps, loads the module (`load` is an
 * expression giving a promise of its exports), uses it, and prints what it saw as JSON.
 */
const program = (load) => `
const reads = []
for (const name of ${JSON.stringify(BROWSER_GLOBALS)}) {
  Object.defineProperty(globalThis, name, {
    configurable: true,
    get() {
      reads.push(name)
      return undefined
    },
  })
}
const exports = await ${load}
const valid = exports.infinarioDestination({ projectToken: 'token-1', apiUrl: 'https://api.example.com' })
let invalid
let invalidThrew = false
try {
  invalid = exports.infinarioDestination({ projectToken: 42 })
} catch {
  invalidThrew = true
}
console.log(JSON.stringify({
  reads,
  exported: Object.keys(exports).sort(),
  version: exports.version,
  plugin: { name: valid.name, type: valid.type, version: valid.version, loaded: valid.isLoaded() },
  invalid: { threw: invalidThrew, loaded: invalid?.isLoaded() },
}))
`

/** Runs `program(load)` in a fresh Node process without any DOM, from the repository root. */
function runInNode(load) {
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', program(load)], { cwd: root, encoding: 'utf8' })
  return JSON.parse(output)
}

const expected = {
  reads: [],
  exported: ['infinarioDestination', 'version'],
  version: pkg.version,
  plugin: { name: 'Infinario', type: 'destination', version: pkg.version, loaded: true },
  // invalid settings never throw at creation: load() rejects later, in the browser (SPEC §2)
  invalid: { threw: false, loaded: false },
}

test('dist/index.mjs: import() in plain Node reads no browser global, infinarioDestination() works', () => {
  const url = pathToFileURL(join(root, 'dist/index.mjs')).href
  assert.deepEqual(runInNode(`import(${JSON.stringify(url)})`), expected)
})

test('dist/index.cjs: require() in plain Node reads no browser global, infinarioDestination() works', () => {
  const path = join(root, 'dist/index.cjs')
  const load = `Promise.resolve((await import('node:module')).createRequire(import.meta.url)(${JSON.stringify(path)}))`
  assert.deepEqual(runInNode(load), expected)
})
