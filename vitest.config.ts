// Test runner settings: e2e tests start real servers and databases, so give them room and run
// files in separate forks (PGlite is single-backend per process).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Node's on-disk compile cache (V8 code cache, keyed by file content and Node version) for the
// worker forks and every server process the tests start: each of them loads the same modules.
process.env.NODE_COMPILE_CACHE ??= join(tmpdir(), 'lash-test-compile-cache');

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One migrated PGlite data folder per run, copied instead of running initdb per server.
    globalSetup: ['test/support/pglite-template.ts'],
    maxWorkers: 2,
    // The runtime `npm start` and the image use (ADR 0080): AsyncLocalStorage without promise hooks.
    execArgv: ['--experimental-async-context-frame'],
  },
});
