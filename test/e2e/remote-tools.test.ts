// Remote tools over ServeTools: a client advertises tools, answers calls (success, failure,
// pending → ResolveCompletion), and disconnecting fails its in-flight calls. Scenarios 24–25.

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { ResolveCompletionOutcome, ServeToolsRequest } from '../../gen/lash/v1/turn_service.js';
import { engines } from '../support/engines.js';
import { startFakeModelServer, type FakeModelServer } from '../support/fake-model-server.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { connectToolHost } from '../support/tool-host.js';
import { runTurn, startRunTurn, textInput, until } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`remote tools on ${engine.name}`, () => {
    let s: TestServer;
    let fake: FakeModelServer;
    let n = 0;
    const open = async () => {
      const sessionId = `remote-${++n}`;
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      return sessionId;
    };

    beforeAll(async () => {
      fake = await startFakeModelServer();
      s = await startTestServer(engine, { OPENAI_BASE_URL: fake.url, LASH_DEFAULT_PROVIDER: 'openai-compatible', LASH_DEFAULT_MODEL: 'fake-model' });
    });
    afterAll(async () => {
      await s?.close();
      await fake?.close();
    });
    beforeEach(() => fake.reset());

    it('a host answers calls of its session; its tools are offered to the model', async () => {
      const sessionId = await open();
      const host = await connectToolHost(s.clients, { sessionId, tools: [{ name: 'lookup', inputSchema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } }], reply: (c) => ({ success: { found: c.args?.q } }) });
      fake.script({ steps: [{ toolCall: { name: 'lookup', args: { q: 'cats' } } }] }, { steps: [{ text: 'ok' }] });
      const t = await runTurn(s.clients, { sessionId, input: textInput('find cats') });
      expect(t.result?.toolCalls[0]).toMatchObject({ tool: 'lookup', output: { found: 'cats' }, isError: false });
      expect(host.calls[0]).toMatchObject({ sessionId, toolName: 'lookup', args: { q: 'cats' } });
      expect(JSON.stringify(fake.requests[0]!.body.tools)).toContain('lookup');
      host.close();
    });

    it('24: a pending answer waits for ResolveCompletion; the value becomes the tool output; a second resolve is already_resolved', async () => {
      const sessionId = await open();
      const host = await connectToolHost(s.clients, { sessionId, tools: [{ name: 'approve' }], reply: () => ({ pending: `approval-${sessionId}` }) });
      fake.script({ steps: [{ toolCall: { name: 'approve', args: {} } }] }, { steps: [{ text: 'approved' }] });
      const running = startRunTurn(s.clients, { sessionId, input: textInput('ask for approval') });
      await until(() => host.calls.length === 1);
      // Give the turn time to register the pending completion before resolving it.
      await until(async () => {
        const [row] = await s.app.db.em().getConnection().execute(`select count(*)::int as n from completions where completion_key = 'approval-${sessionId}'`);
        return row.n === 1;
      });
      const first = await s.clients.turns.resolveCompletion({ completionKey: `approval-${sessionId}`, resolution: { outcome: { $case: 'value', value: { approved: true, by: 'ops' } } } });
      expect(first.outcome).toBe(ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_ACCEPTED);
      const t = await running.done;
      expect(t.result?.toolCalls[0]).toMatchObject({ tool: 'approve', output: { approved: true, by: 'ops' }, isError: false });
      expect(t.result?.outcome?.$case).toBe('finished');
      const second = await s.clients.turns.resolveCompletion({ completionKey: `approval-${sessionId}`, resolution: { outcome: { $case: 'cancelled', value: {} } } });
      expect(second.outcome).toBe(ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_ALREADY_RESOLVED);
      expect(second.firstResolution?.outcome).toEqual({ $case: 'value', value: { approved: true, by: 'ops' } });
      const unknown = await s.clients.turns.resolveCompletion({ completionKey: 'never-issued', resolution: { outcome: { $case: 'timeout', value: {} } } });
      expect(unknown.outcome).toBe(ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_UNKNOWN);
      host.close();
    });

    it('25: a host that disconnects mid-call fails the call as a tool error the model sees, and the turn goes on', async () => {
      const sessionId = await open();
      const host = await connectToolHost(s.clients, { sessionId, tools: [{ name: 'flaky' }], reply: () => 'no-answer' });
      fake.script({ steps: [{ toolCall: { name: 'flaky', args: {} } }] }, { steps: [{ text: 'I could not use the tool' }] });
      const running = startRunTurn(s.clients, { sessionId, input: textInput('use flaky') });
      await until(() => host.calls.length === 1);
      host.close();
      const t = await running.done;
      expect(t.result?.toolCalls[0]).toMatchObject({ tool: 'flaky', isError: true });
      expect(JSON.stringify(t.result?.toolCalls[0]?.output)).toContain('disconnected');
      expect(t.result?.outcome?.$case).toBe('finished');
      const toolMessage = (fake.requests[1]!.body.messages as { role: string; content: string }[]).find((m) => m.role === 'tool');
      expect(toolMessage?.content).toContain('disconnected');
      // Its tools left the catalog: the next request offers no tools.
      fake.script({ steps: [{ text: 'plain' }] });
      await runTurn(s.clients, { sessionId, input: textInput('again') });
      expect(fake.requests[2]!.body.tools).toBeUndefined();
    });

    it('a host failure answer becomes a tool error; a tenant-wide host serves every session', async () => {
      const host = await connectToolHost(s.clients, { tools: [{ name: 'strict' }], reply: () => ({ failure: 'quota exceeded' }) });
      const sessionId = await open();
      fake.script({ steps: [{ toolCall: { name: 'strict', args: {} } }] }, { steps: [{ text: 'noted' }] });
      const t = await runTurn(s.clients, { sessionId, input: textInput('go') });
      expect(t.result?.toolCalls[0]).toMatchObject({ tool: 'strict', isError: true, output: { error: 'quota exceeded' } });
      host.close();
    });

    it('a stream that does not start with hello, or has no scope, is INVALID_ARGUMENT', async () => {
      const bad = s.clients.turns.raw.serveTools();
      const failed = new Promise<{ code: number }>((resolve) => bad.on('error', resolve));
      bad.write(ServeToolsRequest.fromPartial({ message: { $case: 'toolResult', value: { callId: 'x', outcome: { $case: 'cancelled', value: {} } } } }));
      expect((await failed).code).toBe(status.INVALID_ARGUMENT);
      await expect(connectToolHost(s.clients, { tools: [], reply: () => 'no-answer' })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
      expect((await rejection(s.clients.turns.resolveCompletion({ completionKey: '', resolution: undefined }))).code).toBe(status.INVALID_ARGUMENT);
    });
  });
}
