/**
 * The packed tarball, as published: it holds only what a user needs, and publint and
 * @arethetypeswrong/cli (attw) find no problem in it. Their reports are printed.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'
import { PACKAGE_FILES, pack, root } from './pack.mjs'

let directory
let packed

before(() => {
  directory = mkdtempSync(join(tmpdir(), 'infinario-pack-'))
  packed = pack(directory)
})

after(() => rmSync(directory, { recursive: true, force: true }))

test('the tarball holds the builds, their declarations, README, LICENSE and CHANGELOG, nothing else', () => {
  assert.deepEqual(packed.files, PACKAGE_FILES)
})

test('publint: no error, no warning, no suggestion', async () => {
  const tarball = readFileSync(packed.tarball)
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const { messages } = await publint({ pack: { tarball: tarball.buffer.slice(tarball.byteOffset, tarball.byteOffset + tarball.length) } })
  const lines = messages.map((message) => `publint ${message.type}: ${formatMessage(message, pkg, { color: false })}`)
  console.log(lines.length > 0 ? lines.join('\n') : 'publint: All good!')
  assert.deepEqual(lines, [])
})

/**
 * `./infinario.min.js` is left out: it is the script-tag build, a classic script that defines
 * window.InfinarioDestination, not a module. It has no exports to type, and Node cannot require() it;
 * it is in `exports` only so that a bundler or a CDN can reach the file.
 */
const ATTW_ARGS = ['--format', 'table', '--no-color', '--no-emoji', '--exclude-entrypoints', './infinario.min.js']

test('attw: types resolve under node10, node16 (CommonJS and ESM) and bundler, with no problem', () => {
  let output
  let failed = false
  try {
    output = execFileSync(join(root, 'node_modules/.bin/attw'), [packed.tarball, ...ATTW_ARGS], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  } catch (error) {
    failed = true
    output = String(error.stdout) + String(error.stderr)
  }
  console.log(output.trim())
  assert.equal(failed, false, 'attw reported problems (above)')
  assert.match(output, /No problems found/)
})
