/**
 * Sizes of the builds (SPEC §7): raw, gzip -9 and brotli (quality 11) bytes. Bytes are deterministic
 * for a given build, so the IIFE budget can be checked anywhere (see size-check.mjs).
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** `dist/infinario.min.js`, gzip, idb-keyval included */
export const IIFE_GZIP_BUDGET = 4096

/** The files measured, relative to the repository; `budget` is the gzip budget where there is one. */
export const FILES = [
  { label: 'IIFE `dist/infinario.min.js`', path: 'dist/infinario.min.js', budget: IIFE_GZIP_BUDGET },
  { label: 'ESM `dist/index.mjs`', path: 'dist/index.mjs' },
  { label: 'CJS `dist/index.cjs`', path: 'dist/index.cjs' },
  {
    label: 'analytics-next `standalone.js` (comparison)',
    path: 'node_modules/@segment/analytics-next/dist/umd/standalone.js',
  },
]

/** { raw, gzip, brotli } bytes of a buffer or string. */
export function sizes(data) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data)
  return {
    raw: buf.length,
    gzip: gzipSync(buf, { level: 9 }).length,
    brotli: brotliCompressSync(buf, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: buf.length,
      },
    }).length,
  }
}

/** Sizes of `path` (relative to the repository); throws with a hint when it is missing. */
export function fileSizes(path) {
  let data
  try {
    data = readFileSync(join(ROOT, path))
  } catch (e) {
    throw new Error(`${path}: ${e.code === 'ENOENT' ? 'missing (run `npm run build` / `npm install` first)' : e.message}`)
  }
  return sizes(data)
}

/** Every file of FILES with its sizes. */
export const measureAll = () => FILES.map((f) => ({ ...f, ...fileSizes(f.path) }))
