// The set-up the crash, restart and trigger e2e files share: one fake model server and one provisioned
// store per describe block, child servers pointed at both, and the hooks that kill leftover
// child servers after each test (a failed one must not keep holding the store) and clean up.

import { afterAll, afterEach, beforeAll } from 'vitest';
import type { EngineTarget } from './engines.js';
import { startFakeModelServer, type FakeModelServer } from './fake-model-server.js';
import { killAllChildServers } from './child-server.js';

export interface ChildFixture {
  readonly fake: FakeModelServer;
  readonly target: Awaited<ReturnType<EngineTarget['provision']>>;
  /** A child server's environment: the fake model as its default, the store, then `extra`. */
  env(): Record<string, string>;
}

/** Registers the hooks in the calling describe block; read `fake` and `target` inside tests only. */
export function childFixture(engine: EngineTarget, extra: Record<string, string>): ChildFixture {
  let fake: FakeModelServer | undefined;
  let target: ChildFixture['target'] | undefined;
  beforeAll(async () => {
    fake = await startFakeModelServer();
    target = await engine.provision();
  });
  afterEach(() => killAllChildServers());
  afterAll(async () => {
    killAllChildServers();
    await fake?.close();
    await target?.cleanup();
  });
  return {
    get fake() {
      return fake!;
    },
    get target() {
      return target!;
    },
    env: () => ({
      OPENAI_BASE_URL: fake!.url,
      LASH_DEFAULT_PROVIDER: 'openai-compatible',
      LASH_DEFAULT_MODEL: 'fake-model',
      LASH_DATA_DIR: target!.dataDir,
      DATABASE_URL: target!.databaseUrl ?? '',
      ...extra,
    }),
  };
}
