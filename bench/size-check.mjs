/**
 * Size budget (SPEC §7): exits 1 when `dist/infinario.min.js` is over 4 096 bytes gzip -9.
 * Fast (no browser), for `npm test` after `npm run build`:  node bench/size-check.mjs
 */
import { IIFE_GZIP_BUDGET, fileSizes } from './sizes.mjs'

const path = 'dist/infinario.min.js'
try {
  const s = fileSizes(path)
  const within = s.gzip <= IIFE_GZIP_BUDGET
  const line = `${path}: ${s.raw} bytes, ${s.gzip} bytes gzip -9 (budget ${IIFE_GZIP_BUDGET}), ${s.brotli} bytes brotli`
  if (within) console.log(`size: ${line}: within budget`)
  else {
    console.error(`size: ${line}: OVER budget by ${s.gzip - IIFE_GZIP_BUDGET} bytes`)
    process.exitCode = 1
  }
} catch (e) {
  console.error(`size: ${e.message}`)
  process.exitCode = 1
}
