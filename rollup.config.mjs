import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import resolve from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import typescript from '@rollup/plugin-typescript'
import { writeDeclarations } from './scripts/bundle-dts.mjs'

const pkg = JSON.parse(readFileSync('./package.json', 'utf8'))

/** Replaces `__VERSION__` with the package version. */
const version = () => ({
  name: 'version',
  transform: (code) => (code.includes('__VERSION__') ? code.replaceAll('__VERSION__', JSON.stringify(pkg.version)) : null),
})

/** Prints the size of each file written, raw and gzip -9. */
const size = () => ({
  name: 'size',
  writeBundle(options, bundle) {
    for (const [file, chunk] of Object.entries(bundle)) {
      if (chunk.type != 'chunk') continue
      const gz = gzipSync(chunk.code, { level: 9 }).length
      console.log(
        `${options.dir ? options.dir + '/' : options.file.replace(/[^/]*$/, '')}${file}: ${chunk.code.length} bytes, ${gz} bytes gzip`,
      )
    }
  },
})

const ts = () =>
  typescript({
    tsconfig: './tsconfig.json',
    include: ['src/**/*.ts'],
    compilerOptions: { declaration: false, types: [] },
  })

/** Writes dist/index.d.ts and dist/index.d.cts: one self-contained declaration file (scripts/bundle-dts.mjs). */
const declarations = () => ({
  name: 'declarations',
  writeBundle: {
    // once, after the last of the npm builds' outputs
    sequential: true,
    handler(options) {
      if (options.format != 'cjs') return
      writeDeclarations({ entry: 'src/index.ts', tsconfig: './tsconfig.json', outDir: 'dist' })
    },
  },
})

export default [
  {
    // the script-tag build: everything, idb-keyval included
    input: 'src/browser.ts',
    output: { file: 'dist/infinario.min.js', format: 'iife', strict: false },
    plugins: [
      version(),
      resolve({ browser: true }),
      ts(),
      terser({
        ecma: 2020,
        compress: { passes: 3, unsafe_arrows: true },
        // internal option names only: stored and wire field names must keep theirs
        mangle: { properties: { regex: /^(journalPrefix|journalPrefix010|otherKeys|batchSize|flushInterval|retryNow|keyPrefix|activity)$/ } },
        format: { comments: false },
      }),
      size(),
    ],
  },
  {
    // the npm builds: ESM and CommonJS, and their types; idb-keyval stays a dependency
    input: 'src/index.ts',
    external: ['idb-keyval'],
    output: [
      { dir: 'dist', entryFileNames: 'index.mjs', format: 'es' },
      { dir: 'dist', entryFileNames: 'index.cjs', format: 'cjs' },
    ],
    plugins: [version(), ts(), size(), declarations()],
  },
]
