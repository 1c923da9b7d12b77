// Child sessions run inside a parent turn (the run_child tool) over real gRPC: child usage
// streams as child_usage events, lands in the turn result and the parent's usage report
// (grandchildren too), cancels reach the child, and misuse is a tool error, not a broken turn.

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CreateChildSessionRequest } from '../../gen/lash/v1/admin_service.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { OpenMode, SessionMode } from '../../gen/lash/v1/session.js';
import { StopReason, type TurnEvent } from '../../gen/lash/v1/turn.js';
import { MAX_CHILD_DEPTH } from '../../src/domain/tools/run-child.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { rejection } from '../support/server.js';
import { runTurn, startRunTurn, textInput, until } from '../support/turns.js';

const tokens = (input: bigint, output: bigint) => ({
  inputTokens: input,
  outputTokens: output,
  cachedInputTokens: 0n,
  reasoningTokens: 0n,
  cacheWriteTokens: 0n,
});
type EventKind = NonNullable<TurnEvent['kind']>;
type EventValue<K> = Extract<EventKind, { $case: K }>['value'];
function ofKind<K extends EventKind['$case']>(events: TurnEvent[], kind: K): EventValue<K>[] {
  const out: EventValue<K>[] = [];
  for (const e of events) if (e.kind?.$case === kind) out.push(e.kind.value as EventValue<K>);
  return out;
}
const js = (code: string) => ({ steps: [{ text: 'Delegating.\n```js\n' + code + '\n```' }], usage: { input: 5, output: 5 } });

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`child runs inside a parent turn on ${engine.name}`, () => {
    let n = 0;
    const open = async (extra = {}) => {
      const sessionId = `parent-${++n}`;
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, ...extra }));
      return sessionId;
    };
    const suite = fakeModelSuite(engine, {
      prefix: 'child-runs',
      env: {
        LASH_TOOLS: 'run_child',
        LASH_QUEUE_WORKERS: '0',
      },
    });

    it('45: a child run by the parent turn streams child_usage, is split out in the result, and rolls into the parent report', async () => {
      const parent = await open();
      const kid = `${parent}-kid`;
      suite.fake.script(
        { steps: [{ toolCall: { name: 'run_child', args: { child_session_id: kid, task: 'count to three' } } }], usage: { input: 10, output: 2 } },
        { steps: [{ text: 'one two three' }], usage: { input: 7, output: 3 } },
        { steps: [{ text: 'The child counted: one two three.' }], usage: { input: 20, output: 5 } },
      );
      const t = await runTurn(suite.s.clients, { sessionId: parent, input: textInput('ask a child to count') });
      expect(t.error).toBeUndefined();
      const childUsage = ofKind(t.events, 'childUsage');
      expect(childUsage).toEqual([{ sessionId: kid, source: 'child', model: 'fake-model', usage: tokens(7n, 3n), cumulative: tokens(7n, 3n) }]);
      // The report belongs to the tool call that ran the child, between its start and completion.
      const kinds = t.events.map((e) => e.kind?.$case);
      expect(kinds.indexOf('toolCallStarted')).toBeLessThan(kinds.indexOf('childUsage'));
      expect(kinds.indexOf('childUsage')).toBeLessThan(kinds.indexOf('toolCallCompleted'));
      const call = ofKind(t.events, 'toolCallCompleted')[0]!;
      expect(call.isError).toBe(false);
      expect(call.output).toMatchObject({ child_session_id: kid, answer: 'one two three' });
      expect(t.result?.usage).toEqual({
        parent: tokens(30n, 7n),
        children: [{ source: 'child', model: 'fake-model', usage: tokens(7n, 3n) }],
        total: tokens(37n, 10n),
      });
      // The child is a real session: parent link, its own committed turn and conversation.
      const child = (await suite.s.clients.sessions.getSession({ sessionId: kid })).session!;
      expect(child).toMatchObject({ parentSessionId: parent, turnIndex: 1n });
      const view = await suite.s.clients.sessions.getReadView({ sessionId: kid, pageSize: 0, pageToken: '' });
      expect(JSON.stringify(view.messages)).toContain('count to three');
      const report = await suite.s.clients.sessions.getUsageReport({ sessionId: parent });
      expect(report.bySource).toEqual([
        { source: 'child', usage: tokens(7n, 3n) },
        { source: 'turn', usage: tokens(30n, 7n) },
      ]);
      expect(report.total).toEqual(tokens(37n, 10n));
      // A second call reuses the child and its conversation.
      suite.fake.script(
        { steps: [{ toolCall: { name: 'run_child', args: { child_session_id: kid, task: 'and now four' } } }], usage: { input: 1, output: 1 } },
        { steps: [{ text: 'four' }], usage: { input: 2, output: 1 } },
        { steps: [{ text: 'ok' }], usage: { input: 1, output: 1 } },
      );
      const again = await runTurn(suite.s.clients, { sessionId: parent, input: textInput('more') });
      expect(ofKind(again.events, 'childUsage').map((c) => c.cumulative)).toEqual([tokens(2n, 1n)]);
      expect(JSON.stringify(suite.fake.requests[4]!.body.messages)).toContain('one two three');
      expect((await suite.s.clients.sessions.getSession({ sessionId: kid })).session?.turnIndex).toBe(2n);
    });

    it('grandchildren: usage passes through under their own id and rolls into every ancestor report', async () => {
      const parent = await open();
      const kid = `${parent}-kid`;
      const grandkid = `${parent}-grandkid`;
      suite.fake.script(
        { steps: [{ toolCall: { name: 'run_child', args: { child_session_id: kid, task: 'delegate further' } } }], usage: { input: 1, output: 1 } },
        { steps: [{ toolCall: { name: 'run_child', args: { child_session_id: grandkid, task: 'do it' } } }], usage: { input: 2, output: 2 } },
        { steps: [{ text: 'done by grandkid' }], usage: { input: 4, output: 4 } },
        { steps: [{ text: 'grandkid did it' }], usage: { input: 8, output: 8 } },
        { steps: [{ text: 'all done' }], usage: { input: 16, output: 16 } },
      );
      const t = await runTurn(suite.s.clients, { sessionId: parent, input: textInput('go') });
      expect(ofKind(t.events, 'childUsage').map((c) => [c.sessionId, c.usage?.inputTokens, c.cumulative?.inputTokens])).toEqual([
        [kid, 2n, 2n],
        [grandkid, 4n, 4n],
        [kid, 8n, 10n],
      ]);
      expect(t.result?.usage?.total).toEqual(tokens(31n, 31n));
      expect((await suite.s.clients.sessions.getSession({ sessionId: grandkid })).session?.parentSessionId).toBe(kid);
      expect((await suite.s.clients.sessions.getUsageReport({ sessionId: parent })).total).toEqual(tokens(31n, 31n));
      expect((await suite.s.clients.sessions.getUsageReport({ sessionId: kid })).total).toEqual(tokens(14n, 14n));
      // Deleting the root removes the whole subtree.
      await suite.s.clients.sessions.deleteSession({ sessionId: parent });
      expect((await rejection(suite.s.clients.sessions.getSession({ sessionId: grandkid }))).code).toBe(status.NOT_FOUND);
    });

    it('a session that is not a child, and a child that fails, come back to the model as tool errors; the parent turn goes on', async () => {
      const parent = await open();
      const stranger = await open();
      suite.fake.script(
        { steps: [{ toolCall: { name: 'run_child', args: { child_session_id: stranger, task: 'hijack' } } }] },
        { steps: [{ text: 'could not' }] },
      );
      const t = await runTurn(suite.s.clients, { sessionId: parent, input: textInput('try') });
      const refused = ofKind(t.events, 'toolCallCompleted')[0]!;
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.output)).toContain('is not a child of this session');
      expect((await suite.s.clients.sessions.getSession({ sessionId: stranger })).session?.turnIndex).toBe(0n);
      expect(t.result?.outcome?.$case).toBe('finished');
      expect(t.result?.usage?.children).toEqual([]);

      suite.fake.script(
        { steps: [{ toolCall: { name: 'run_child', args: { child_session_id: `${parent}-kid`, task: 'fail' } } }] },
        { error: { status: 400, message: 'bad request for the child' } },
        { steps: [{ text: 'the child failed' }] },
      );
      const failed = await runTurn(suite.s.clients, { sessionId: parent, input: textInput('again') });
      const call = ofKind(failed.events, 'toolCallCompleted')[0]!;
      expect(call.isError).toBe(true);
      expect(JSON.stringify(call.output)).toContain('stopped: provider_error');
      expect(failed.result?.outcome?.$case).toBe('finished');
    });

    it('cancelling the parent turn cancels the child turn it is waiting for; both commit as cancelled', async () => {
      const parent = await open();
      const kid = `${parent}-kid`;
      suite.fake.script({ steps: [{ toolCall: { name: 'run_child', args: { child_session_id: kid, task: 'wait forever' } } }] }, { steps: [{ hang: true }] });
      const running = startRunTurn(suite.s.clients, { sessionId: parent, turnId: 'cancel-me', input: textInput('go') });
      await until(() => suite.fake.requests.length === 2);
      expect((await suite.s.clients.sessions.getSession({ sessionId: kid })).session?.status).toBe(2 /* RUNNING */);
      await suite.s.clients.turns.cancelTurn({ sessionId: parent, turnId: 'cancel-me' });
      const t = await running.done;
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
      const child = (await suite.s.clients.sessions.getSession({ sessionId: kid })).session!;
      expect(child.turnIndex).toBe(1n);
      expect(child.status).not.toBe(2 /* RUNNING */);
    });

    it("an rlm program calls run_child as a function and gets the child's submitted value", async () => {
      const parent = await open({ mode: SessionMode.SESSION_MODE_RLM });
      suite.fake.script(js('const r = await run_child({child_session_id: "calc", task: "compute 6*7"});\nsubmit(r.value);'), js('submit(6 * 7);'));
      const t = await runTurn(suite.s.clients, { sessionId: parent, input: textInput('delegate the sum') });
      expect(t.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: 42 } } } });
      expect(ofKind(t.events, 'childUsage')).toEqual([
        { sessionId: 'calc', source: 'child', model: 'fake-model', usage: tokens(5n, 5n), cumulative: tokens(5n, 5n) },
      ]);
      expect((await suite.s.clients.sessions.getSession({ sessionId: 'calc' })).session?.mode).toBe(SessionMode.SESSION_MODE_RLM);
    });

    it('delegation nests at most MAX_CHILD_DEPTH levels: deeper, run_child is a tool error and creates nothing', async () => {
      let leaf = await open();
      for (let level = 1; level <= MAX_CHILD_DEPTH; level++) {
        await suite.s.clients.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: leaf, childSessionId: `${leaf}.${level}` }));
        leaf = `${leaf}.${level}`;
      }
      suite.fake.script(
        { steps: [{ toolCall: { name: 'run_child', args: { child_session_id: `${leaf}.too-deep`, task: 'go deeper' } } }] },
        { steps: [{ text: 'then I do it myself' }] },
      );
      const t = await runTurn(suite.s.clients, { sessionId: leaf, input: textInput('delegate') });
      const call = ofKind(t.events, 'toolCallCompleted')[0]!;
      expect(call.isError).toBe(true);
      expect(JSON.stringify(call.output)).toContain(`at most ${MAX_CHILD_DEPTH} levels`);
      expect((await rejection(suite.s.clients.sessions.getSession({ sessionId: `${leaf}.too-deep` }))).code).toBe(status.NOT_FOUND);
      expect(t.result?.outcome?.$case).toBe('finished');
    });

    it('a session cannot become its own descendant', async () => {
      const root = await open();
      await suite.s.clients.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: root, childSessionId: `${root}-c` }));
      const cycle = await rejection(
        suite.s.clients.sessions.openSession(
          OpenSessionRequest.fromPartial({ sessionId: root, openMode: OpenMode.OPEN_MODE_FRESH, parentSessionId: `${root}-c` }),
        ),
      );
      expect(cycle.code).toBe(status.FAILED_PRECONDITION);
      expect(cycle.reason).toBe('PARENT_CYCLE');
      expect((await suite.s.clients.sessions.getSession({ sessionId: root })).session?.parentSessionId).toBe('');
    });
  });
}
