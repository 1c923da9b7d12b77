// Two server processes on one PostgreSQL: one writer per session across replicas (turns and
// admin writes), cancel that reaches the replica running the turn (scenario 21), running status
// seen from the other one.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { StopReason } from '../../gen/lash/v1/turn.js';
import { ToolAvailability } from '../../gen/lash/v1/tool.js';
import { engines } from '../support/engines.js';
import type { FakeModelServer } from '../support/fake-model-server.js';
import { rejection, type TestServer } from '../support/server.js';
import type { ChildServer } from '../support/child-server.js';
import { startReplicaPair, stopReplicaPair } from '../support/replica-pair.js';
import { startRunTurn, textInput, until } from '../support/turns.js';
import { observe, payloadCase, sequenceProblems } from '../support/observe.js';

const pg = engines.find((e) => e.name === 'postgresql')!;

describe.skipIf(!pg.enabled)('two server processes on one PostgreSQL', () => {
  let a: ChildServer;
  let b: TestServer;
  let fake: FakeModelServer;
  // Replica B runs in this process, replica A is a separate server process on the same database.
  beforeAll(async () => ({ a, b, fake } = await startReplicaPair(pg, { LASH_TOOLS: 'calculate' })));
  afterAll(() => stopReplicaPair({ a, b, fake }));
  beforeEach(() => fake.reset());

  it('21: CancelTurn sent to replica B cancels the turn running on replica A', async () => {
    await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'r21' }));
    fake.script({ steps: [{ hang: true }] });
    const running = startRunTurn(a.clients, { sessionId: 'r21', turnId: 't', input: textInput('hang on A') });
    await until(() => fake.requests.length === 1);
    expect((await b.clients.sessions.getSession({ sessionId: 'r21' })).session?.status).toBe(2 /* RUNNING */);
    expect((await b.clients.turns.cancelTurn({ sessionId: 'r21', turnId: 't' })).signalled).toBe(true);
    const t = await running.done;
    expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
  });

  it('CancelRunningTurns on B counts and cancels the turn holding the writer on A', async () => {
    await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'stop-all' }));
    fake.script({ steps: [{ hang: true }] });
    const running = startRunTurn(a.clients, { sessionId: 'stop-all', input: textInput('hang') });
    await until(() => fake.requests.length === 1);
    expect((await b.clients.turns.cancelRunningTurns({ sessionId: 'stop-all' })).cancelledCount).toBe(1);
    expect((await running.done).result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
  });

  it('39: an observer on replica B sees the events of a turn running on replica A, in the same order', async () => {
    await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'r39' }));
    const o = observe(b.clients, 'r39');
    await o.waitFor((m) => m.length >= 1);
    fake.script({ steps: [{ text: 'one ' }, { delayMs: 50 }, { text: 'two ' }, { delayMs: 50 }, { text: 'three' }] });
    const t = await startRunTurn(a.clients, { sessionId: 'r39', turnId: 'x', input: textInput('count') }).done;
    await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
    const seen = o
      .events()
      .filter((m) => payloadCase(m) === 'turnActivity')
      .map((m) => (m.kind as { value: { payload: { value: { event: { id: string } } } } }).value.payload.value.event.id);
    expect(seen).toEqual(t.events.map((e) => e.id));
    expect(sequenceProblems(o.messages)).toEqual([]);
    o.close();
  });

  it('two turns of one session on two replicas never overlap: the second waits for the first commit', async () => {
    await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'one-writer' }));
    fake.script({ steps: [{ text: 'first ' }, { delayMs: 400 }, { text: 'done' }] }, { steps: [{ text: 'second' }] });
    const first = startRunTurn(a.clients, { sessionId: 'one-writer', turnId: '1', input: textInput('one') });
    await until(() => fake.requests.length === 1);
    const second = startRunTurn(b.clients, { sessionId: 'one-writer', turnId: '2', input: textInput('two') });
    const r1 = await first.done;
    const r2 = await second.done;
    expect(r1.result?.turnIndex).toBe(1n);
    expect(r2.result?.turnIndex).toBe(2n);
    // The second model call saw the first turn's committed answer: it ran on the newer state.
    const messages = fake.requests[1]!.body.messages as { role: string; content: unknown }[];
    expect(JSON.stringify(messages)).toContain('first done');
    expect(fake.requests[1]!.receivedAt).toBeGreaterThan(fake.requests[0]!.receivedAt);
  });

  it('an admin write on B waits for the turn running on A, then lands on top of its commit', async () => {
    await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'admin-across' }));
    fake.script({ steps: [{ text: 'slow ' }, { delayMs: 400 }, { text: 'turn' }] });
    const running = startRunTurn(a.clients, { sessionId: 'admin-across', input: textInput('go') });
    await until(() => fake.requests.length === 1);
    const write = b.clients.admin.setToolAvailability({ sessionId: 'admin-across', availability: { calculate: ToolAvailability.TOOL_AVAILABILITY_OFF } });
    // While the write waits for the writer, the session still reads as running (a turn holds it).
    expect((await b.clients.sessions.getSession({ sessionId: 'admin-across' })).session?.status).toBe(2 /* RUNNING */);
    const t = await running.done;
    expect((await write).generation).toBe(1n);
    const head = (await b.clients.sessions.getSession({ sessionId: 'admin-across' })).session!;
    expect(head.headRevision).toBe(t.result!.headRevision + 1n);
    expect(head.status).not.toBe(2 /* RUNNING */);
  });

  it("an admin write on B whose caller gives up while A's turn runs changes nothing", async () => {
    await a.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'admin-gives-up' }));
    fake.script({ steps: [{ text: 'slow ' }, { delayMs: 600 }, { text: 'turn' }] });
    const running = startRunTurn(a.clients, { sessionId: 'admin-gives-up', input: textInput('go') });
    await until(() => fake.requests.length === 1);
    const late = await rejection(
      b.clients.admin.setToolAvailability(
        { sessionId: 'admin-gives-up', availability: { calculate: ToolAvailability.TOOL_AVAILABILITY_OFF } },
        { deadlineMs: 150 },
      ),
    );
    expect(late.code).toBe(status.DEADLINE_EXCEEDED);
    const t = await running.done;
    // The next write on B queues behind anything B still had pending for the session: had the
    // abandoned write landed after all, this one would be generation 2.
    expect(
      (await b.clients.admin.setToolAvailability({ sessionId: 'admin-gives-up', availability: { calculate: ToolAvailability.TOOL_AVAILABILITY_SHOWCASED } }))
        .generation,
    ).toBe(1n);
    expect((await b.clients.sessions.getSession({ sessionId: 'admin-gives-up' })).session?.headRevision).toBe(t.result!.headRevision + 1n);
  });
});
