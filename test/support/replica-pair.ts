// The set-up the multi-replica e2e files share: two servers on one PostgreSQL store — B in the
// test's process (its app can be inspected), A a separate server process on B's database — both
// with one fake model server as their default provider.

import type { EngineTarget } from './engines.js';
import { startFakeModelServer, type FakeModelServer } from './fake-model-server.js';
import { startTestServer, type TestServer } from './server.js';
import { killAllChildServers, startChildServer, type ChildServer } from './child-server.js';

export interface ReplicaPair {
  a: ChildServer;
  b: TestServer;
  fake: FakeModelServer;
}

/** A server's environment in the pair: the fake model as its default provider, then `extra`. */
export function replicaEnv(fake: FakeModelServer, extra: Record<string, string> = {}): Record<string, string> {
  return { OPENAI_BASE_URL: fake.url, LASH_DEFAULT_PROVIDER: 'openai-compatible', LASH_DEFAULT_MODEL: 'fake-model', ...extra };
}

/** Starts the fake model, B on a fresh store of `engine`, then A on B's database; stops what started if one fails. */
export async function startReplicaPair(engine: EngineTarget, extra: Record<string, string> = {}): Promise<ReplicaPair> {
  const started: Partial<ReplicaPair> = {};
  try {
    started.fake = await startFakeModelServer();
    started.b = await startTestServer(engine, replicaEnv(started.fake, extra));
    started.a = await startChildServer({ ...replicaEnv(started.fake, extra), DATABASE_URL: started.b.databaseUrl! });
    return started as ReplicaPair;
  } catch (err) {
    await stopReplicaPair(started);
    throw err;
  }
}

/** Stops A gracefully (and any other child server left), then B and the fake model. */
export async function stopReplicaPair(p: Partial<ReplicaPair>): Promise<void> {
  await p.a?.kill('SIGTERM');
  killAllChildServers();
  await p.b?.close();
  await p.fake?.close();
}
