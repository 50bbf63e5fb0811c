import { defineConfig } from 'vitest/config'

export default defineConfig({
  define: { __VERSION__: JSON.stringify('test') },
  // the timeout only catches a hang: property-based tests on a busy shared machine can take many seconds
  test: { include: ['test/**/*.test.ts'], environment: 'node', testTimeout: 60_000 },
})
