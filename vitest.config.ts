// Test runner settings: e2e tests start real servers and databases, so give them room and run
// files in separate forks (PGlite is single-backend per process).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // The runtime `npm start` and the image use (ADR 0080): AsyncLocalStorage without promise hooks.
    execArgv: ['--experimental-async-context-frame'],
  },
});
