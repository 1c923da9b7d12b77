// The setup most end-to-end suites share: a fake model server, a real lash-grpc server of the
// engine whose default model is the fake one, the fake's script reset before each test, both
// closed after the suite, and sessions opened under a per-suite prefix. Call it inside a
// `describe`: it registers the hooks there.

import { afterAll, beforeAll, beforeEach } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import type { EngineTarget } from './engines.js';
import { startFakeModelServer, type FakeModelServer } from './fake-model-server.js';
import { startTestServer, type TestServer, type TestServerOptions } from './server.js';

/** The server environment that makes the fake model server the default model. */
export const fakeModelEnv = (fake: FakeModelServer): Record<string, string> => ({
  OPENAI_BASE_URL: fake.url,
  LASH_DEFAULT_PROVIDER: 'openai-compatible',
  LASH_DEFAULT_MODEL: 'fake-model',
});

export interface FakeModelSuite {
  /** The running server (a test may replace it, e.g. with `await suite.s.restart()`; the last one is closed). */
  s: TestServer;
  fake: FakeModelServer;
  /** The server environment of the suite (the fake model and `env`), for more servers like it. */
  env(): Record<string, string>;
  /** Opens a new session `<prefix>-<n>` (on `server`, default the suite's) and returns its id. */
  open(request?: Partial<OpenSessionRequest>, server?: TestServer): Promise<string>;
}

export interface FakeModelSuiteOptions {
  /** Sessions opened with `open` are `<prefix>-<n>`. */
  prefix: string;
  /** More server environment; a function when it must be computed first (e.g. identity keys). */
  env?: Record<string, string> | (() => Promise<Record<string, string>>);
  server?: TestServerOptions;
  /** Reset the fake's script, default and recorded requests before each test (default true). */
  reset?: boolean;
}

export function fakeModelSuite(engine: EngineTarget, options: FakeModelSuiteOptions): FakeModelSuite {
  let n = 0;
  let extra: Record<string, string> = {};
  const suite = {
    env: () => ({ ...fakeModelEnv(suite.fake), ...extra }),
    async open(request: Partial<OpenSessionRequest> = {}, server?: TestServer) {
      const sessionId = `${options.prefix}-${++n}`;
      await (server ?? suite.s).clients.sessions.openSession(OpenSessionRequest.fromPartial({ ...request, sessionId }));
      return sessionId;
    },
  } as FakeModelSuite;
  beforeAll(async () => {
    suite.fake = await startFakeModelServer();
    extra = typeof options.env === 'function' ? await options.env() : (options.env ?? {});
    suite.s = await startTestServer(engine, suite.env(), options.server);
  });
  afterAll(async () => {
    await suite.s?.close();
    await suite.fake?.close();
  });
  if (options.reset !== false) beforeEach(() => suite.fake.reset());
  return suite;
}
