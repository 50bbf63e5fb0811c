/**
 * Fetches one published version of @segment/analytics-next for the version tests, without touching
 * package.json or the lockfile: `npm pack` downloads the package's tarball (no dependencies: only its
 * standalone build in dist/umd/ is served to the browser) and it is unpacked into a cache directory,
 * node_modules/.cache/analytics-next/<version>/package. A version already there is not fetched again.
 *
 *   node scripts/analytics-next.mjs 1.62.1    prints the package directory
 *   node scripts/analytics-next.mjs lowest    the same for the lowest supported version (peerDependencies)
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const CACHE = join(root, 'node_modules/.cache/analytics-next')

/** The lowest supported analytics-next: the version of the `^x.y.z` range in peerDependencies. */
export function lowestSupported() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const range = pkg.peerDependencies['@segment/analytics-next']
  const match = /^\^(\d+\.\d+\.\d+)$/.exec(range)
  if (!match) throw new Error(`analytics-next: peerDependencies "${range}" is not of the form ^x.y.z`)
  return match[1]
}

/** The directory of @segment/analytics-next@`version` (an exact version), fetched on first use. */
export function analyticsNextDir(version) {
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`analytics-next: "${version}" is not an exact version`)
  const target = join(CACHE, version)
  const packageDir = join(target, 'package')
  if (existsSync(join(packageDir, 'dist/umd/standalone.js'))) return packageDir
  mkdirSync(CACHE, { recursive: true })
  // unpacked beside the cache entry, then renamed into place: an interrupted fetch leaves no half entry
  const work = mkdtempSync(join(CACHE, '.fetch-'))
  try {
    execFileSync('npm', ['pack', `@segment/analytics-next@${version}`, '--pack-destination', work, '--silent'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'))
    if (!tarball) throw new Error(`analytics-next: npm pack gave no tarball for ${version}`)
    execFileSync('tar', ['-xzf', join(work, tarball), '-C', work])
    rmSync(target, { recursive: true, force: true })
    mkdirSync(target)
    renameSync(join(work, 'package'), packageDir)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  if (!existsSync(join(packageDir, 'dist/umd/standalone.js'))) throw new Error(`analytics-next ${version} has no dist/umd/standalone.js`)
  return packageDir
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const version of process.argv.slice(2)) console.log(analyticsNextDir(version == 'lowest' ? lowestSupported() : version))
}
