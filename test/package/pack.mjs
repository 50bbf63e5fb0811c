/**
 * `npm pack` of this repository into a directory, as a user's `npm install` would get it.
 * The build must have run first (`npm test` runs `npm run build` before these tests): packing
 * does not rebuild (`--ignore-scripts` skips the `prepack` build), so the tests check what was built.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** What the tarball must hold, and nothing else. */
export const PACKAGE_FILES = [
  'CHANGELOG.md',
  'LICENSE',
  'README.md',
  'dist/index.cjs',
  'dist/index.d.cts',
  'dist/index.d.ts',
  'dist/index.mjs',
  'dist/infinario.min.js',
  'package.json',
]

/** Packs the package into `directory`; returns the tarball's path and the file list npm reported. */
export function pack(directory) {
  for (const file of PACKAGE_FILES.filter((name) => name.startsWith('dist/'))) {
    if (!existsSync(join(root, file))) throw new Error(`${file} is missing: run "npm run build" first`)
  }
  const output = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', directory], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const [report] = JSON.parse(output)
  return { tarball: join(directory, report.filename), files: report.files.map((file) => file.path).sort() }
}
