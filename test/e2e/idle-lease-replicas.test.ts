// Idle writer leases (ADR 0079) across two server processes on one PostgreSQL, with a linger far
// longer than any test here may take (120 s): a turn or admin write on one replica does not wait
// for the idle lease the other replica kept — it asks over the bus and the holder lets go — so
// turns alternating between the replicas on one session each go on at once (without the
// handover each would wait out the linger and the test would time out). A turn running under its
// replica's idle lease reads as running from the other replica and is cancelled from there. A
// replica stopped gracefully releases its idle leases; one killed holds its lease only until the
// linger expires.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { StopReason } from '../../gen/lash/v1/turn.js';
import { engines } from '../support/engines.js';
import type { FakeModelServer } from '../support/fake-model-server.js';
import type { TestServer } from '../support/server.js';
import { startChildServer, type ChildServer } from '../support/child-server.js';
import { replicaEnv, startReplicaPair, stopReplicaPair } from '../support/replica-pair.js';
import { startRunTurn, textInput, until } from '../support/turns.js';
import type { LashClients } from '../../src/client/promised.js';

const pg = engines.find((e) => e.name === 'postgresql')!;

describe.skipIf(!pg.enabled)('idle writer leases across two replicas on one PostgreSQL', () => {
  let a: ChildServer;
  let b: TestServer;
  let fake: FakeModelServer;
  const env = (lingerMs = '120000') => replicaEnv(fake, { LASH_QUEUE_WORKERS: '0', LASH_WRITER_LINGER_MS: lingerMs });
  const holder = (sessionId: string) => b.app.turns['deps'].leases.holder('default', sessionId);
  const turn = (clients: LashClients, sessionId: string, turnId: string) => startRunTurn(clients, { sessionId, turnId, input: textInput(turnId) }).done;
  beforeAll(async () => ({ a, b, fake } = await startReplicaPair(pg, { LASH_QUEUE_WORKERS: '0', LASH_WRITER_LINGER_MS: '120000' })));
  afterAll(() => stopReplicaPair({ a, b, fake }));
  beforeEach(() => fake.reset());

  it('turns and an admin write alternating between the replicas on one session each go on at once: the idle lease is handed over on request', async () => {
    await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'alternate' }));
    const order: [string, LashClients][] = [
      ['a1', a.clients],
      ['a2', a.clients],
      ['b1', b.clients],
      ['a3', a.clients],
      ['b2', b.clients],
      ['b3', b.clients],
      ['a4', a.clients],
    ];
    for (const [i, [turnId, clients]] of order.entries()) {
      const t = await turn(clients, 'alternate', turnId);
      expect(t.result?.outcome?.$case, turnId).toBe('finished');
      expect(t.result?.turnIndex).toBe(BigInt(i + 1));
      // Each model call saw the previous turn's committed answer (the echo of its input).
      if (i > 0) expect(JSON.stringify(fake.requests.at(-1)!.body.messages)).toContain(order[i - 1]![0]);
      // The replica that wrote last keeps the lease, idle.
      const h = await holder('alternate');
      expect(h?.owner, turnId).toMatch(/\/~idle$/);
      expect(h?.owner.startsWith(`${b.app.replicaId}/`), turnId).toBe(turnId.startsWith('b'));
    }
    // An admin write on B while A keeps the lease idle.
    await b.clients.admin.appendMessages({
      sessionId: 'alternate',
      messages: [{ id: 'm-b', role: 1, parts: [{ kind: { $case: 'text', value: { text: 'from B' } } }] }],
    });
    expect((await holder('alternate'))?.owner).toBe(`${b.app.replicaId}/~idle`);
    const last = await turn(a.clients, 'alternate', 'a5');
    expect(last.result?.turnIndex).toBe(BigInt(order.length + 1));
  });

  it('a turn running under the idle lease its replica kept reads as running on the other replica, which can stop it', async () => {
    await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'idle-running' }));
    await turn(a.clients, 'idle-running', 'first');
    const idleOwner = (await holder('idle-running'))?.owner;
    expect(idleOwner).toMatch(/\/~idle$/);
    fake.script({ steps: [{ text: 'partial ' }, { hang: true }] });
    const running = startRunTurn(a.clients, { sessionId: 'idle-running', turnId: 'second', input: textInput('hang') });
    await until(() => fake.requests.length === 1);
    // It went on under the idle lease: the row still names no turn.
    expect((await holder('idle-running'))?.owner).toBe(idleOwner);
    await until(async () => (await b.clients.sessions.getSession({ sessionId: 'idle-running' })).session?.status === 2 /* RUNNING */);
    await until(async () => (await b.clients.turns.getTurn({ sessionId: 'idle-running', turnId: 'second' })).status === 1 /* RUNNING */);
    expect((await b.clients.turns.cancelRunningTurns({ sessionId: 'idle-running' })).cancelledCount).toBe(1);
    expect((await running.done).result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
    expect((await b.clients.sessions.getSession({ sessionId: 'idle-running' })).session?.status).not.toBe(2 /* RUNNING */);
  });

  it('a replica stopped gracefully releases its idle leases: the other goes on at once', async () => {
    const c = await startChildServer({ ...env(), DATABASE_URL: b.databaseUrl! });
    await c.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'stopped' }));
    await turn(c.clients, 'stopped', 'on-c');
    expect((await holder('stopped'))?.owner).toMatch(/\/~idle$/);
    await c.kill('SIGTERM');
    expect(await holder('stopped')).toBeUndefined();
    expect((await turn(b.clients, 'stopped', 'on-b')).result?.turnIndex).toBe(2n);
  });

  it('a replica killed while holding an idle lease holds the other up only until its linger expires', async () => {
    const d = await startChildServer({ ...env('2000'), DATABASE_URL: b.databaseUrl! });
    await d.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'killed' }));
    await turn(d.clients, 'killed', 'on-d');
    const kept = await holder('killed');
    expect(kept?.owner).toMatch(/\/~idle$/);
    await d.kill('SIGKILL');
    // Nobody answers the request to let go; the lease expires and B takes it.
    const t = await turn(b.clients, 'killed', 'on-b');
    expect(t.result?.turnIndex).toBe(2n);
    expect((await holder('killed'))?.owner).toBe(`${b.app.replicaId}/~idle`);
  });
});
