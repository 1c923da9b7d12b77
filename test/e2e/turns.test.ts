// Turns over real gRPC with the real provider code against a fake OpenAI-compatible HTTP model
// server: DOMAIN.md §8 scenarios 10–20, 22–27 and 43, on each engine.

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { MessageRole } from '../../gen/lash/v1/common.js';
import { OpenMode, PromptSlot } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest, UpdateSessionConfigRequest, type DeepPartial } from '../../gen/lash/v1/session_service.js';
import { OnDisconnect, StopReason } from '../../gen/lash/v1/turn.js';
import { StartTurnRequest, TurnStatus } from '../../gen/lash/v1/turn_service.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { rejection } from '../support/server.js';
import { deltasText, kinds, runTurn, startRunTurn, textInput, until } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`turns over gRPC on ${engine.name}`, () => {
    let n = 0;
    const sid = () => `turn-${++n}`;
    const open = async (extra: DeepPartial<OpenSessionRequest> = {}) => {
      const sessionId = extra.sessionId ?? sid();
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, ...extra }));
      return sessionId;
    };
    const view = async (sessionId: string) => (await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' })).messages;

    const suite = fakeModelSuite(engine, {
      prefix: 'turns',
      env: {
        LASH_TOOLS: 'calculate,sleep,sleep_serial,json_echo,finish,give_up',
        LASH_PROVIDER_BACKOFF_MS: '20',
        LASH_CANCEL_GRACE_MS: '500',
      },
    });

    it('10: the echo model streams the input back, finishes, and the read view and usage show the turn', async () => {
      const sessionId = await open({ spec: { providerId: 'echo', model: { id: 'echo' } } });
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('hello') });
      expect(t.error).toBeUndefined();
      expect(kinds(t)).toContain('assistantProseDelta');
      expect(deltasText(t)).toBe('hello');
      expect(t.result?.outcome).toEqual({ $case: 'finished', value: { answer: { $case: 'assistantMessage', value: { text: 'hello' } } } });
      expect(t.result?.turnIndex).toBe(1n);
      const messages = await view(sessionId);
      expect(messages.map((m) => m.role)).toEqual([MessageRole.MESSAGE_ROLE_USER, MessageRole.MESSAGE_ROLE_ASSISTANT]);
      const usage = await suite.s.clients.sessions.getUsageReport({ sessionId });
      expect(usage.total?.outputTokens).toBeGreaterThan(0n);
      expect(usage.bySource.map((u) => u.source)).toEqual(['turn']);
      expect(suite.fake.requests).toHaveLength(0);
    });

    it('11: two text parts arrive as deltas that concatenate into the final message', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ text: 'Hel' }, { text: 'lo, world' }], usage: { input: 12, output: 4 } });
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('greet me') });
      const deltas = t.events.filter((e) => e.kind?.$case === 'assistantProseDelta');
      // Chunks that arrive together may travel as one delta (coalesced once, for stream and feed).
      expect(deltas.map((e) => (e.kind as { value: { text: string } }).value.text).join('')).toBe('Hello, world');
      expect(deltas.length).toBeGreaterThanOrEqual(1);
      expect(new Set(deltas.map((d) => d.correlationId)).size).toBe(1);
      expect(t.result?.outcome?.$case === 'finished' && t.result.outcome.value.answer).toEqual({ $case: 'assistantMessage', value: { text: 'Hello, world' } });
      expect(t.result?.usage?.total).toMatchObject({ inputTokens: 12n, outputTokens: 4n });
      // Event sequence numbers are 1..n without holes.
      expect(t.events.map((e) => Number(e.sequence))).toEqual(t.events.map((_, i) => i + 1));
      expect(suite.fake.requests[0]!.body.model).toBe('fake-model');
    });

    it('12: a tool round trip streams started before completed under one correlation id, then the answer', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ toolCall: { name: 'calculate', args: { op: 'multiply', a: 6, b: 7 }, id: 'c1' } }] }, { steps: [{ text: 'done' }] });
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('what is 6*7?') });
      const started = t.events.findIndex((e) => e.kind?.$case === 'toolCallStarted');
      const completed = t.events.findIndex((e) => e.kind?.$case === 'toolCallCompleted');
      expect(started).toBeGreaterThanOrEqual(0);
      expect(completed).toBeGreaterThan(started);
      expect(t.events[started]!.correlationId).toBe(t.events[completed]!.correlationId);
      expect(t.events[completed]!.kind).toMatchObject({ value: { name: 'calculate', output: { result: 42 }, isError: false } });
      expect(t.result?.outcome?.$case === 'finished' && t.result.outcome.value.answer).toEqual({ $case: 'assistantMessage', value: { text: 'done' } });
      expect(t.result?.hadToolCalls).toBe(true);
      // The model saw the tool result in its second request.
      const second = suite.fake.requests[1]!.body.messages as { role: string; content: string; tool_call_id?: string }[];
      expect(second.find((m) => m.role === 'tool')?.content).toContain('42');
    });

    it('13: parallel tools overlap, a serial tool runs after them, and results reach the model in call order', async () => {
      const sessionId = await open();
      suite.fake.script(
        {
          steps: [
            { toolCall: { name: 'sleep', args: { ms: 200 }, id: 'p1' } },
            { toolCall: { name: 'sleep_serial', args: { ms: 10 }, id: 's1' } },
            { toolCall: { name: 'sleep', args: { ms: 200 }, id: 'p2' } },
          ],
        },
        { steps: [{ text: 'slept' }] },
      );
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('sleep') });
      const at = (kind: string, id: string) => t.events.findIndex((e) => e.kind?.$case === kind && (e.kind.value as { callId: string }).callId === id);
      // Both parallel calls start before either completes: they overlap.
      expect(Math.max(at('toolCallStarted', 'p1'), at('toolCallStarted', 'p2'))).toBeLessThan(
        Math.min(at('toolCallCompleted', 'p1'), at('toolCallCompleted', 'p2')),
      );
      // The serial call starts only after both parallel calls completed.
      expect(at('toolCallStarted', 's1')).toBeGreaterThan(Math.max(at('toolCallCompleted', 'p1'), at('toolCallCompleted', 'p2')));
      const toolMessages = (suite.fake.requests[1]!.body.messages as { role: string; tool_call_id: string }[]).filter((m) => m.role === 'tool');
      expect(toolMessages.map((m) => m.tool_call_id)).toEqual(['p1', 's1', 'p2']);
      expect(t.result?.toolCalls.map((c) => c.callId)).toEqual(['p1', 's1', 'p2']);
    });

    it('14: a retryable failure shows retry_status and then finishes; failing every attempt stops with provider_error naming the provider message', async () => {
      const sessionId = await open();
      suite.fake.script({ error: { status: 503, message: 'overloaded, try later' } }, { steps: [{ text: 'recovered' }] });
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('hi') });
      const retry = t.events.find((e) => e.kind?.$case === 'retryStatus');
      expect(retry?.kind).toMatchObject({ value: { attempt: 1, maxAttempts: 3 } });
      expect(t.result?.outcome?.$case).toBe('finished');
      suite.fake.script(...[1, 2, 3].map(() => ({ error: { status: 500, message: 'the model is on fire' } })));
      const failed = await runTurn(suite.s.clients, { sessionId, input: textInput('again') });
      expect(failed.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_PROVIDER_ERROR } });
      expect(failed.result?.issues[0]?.message).toContain('the model is on fire');
      expect(kinds(failed).filter((k) => k === 'retryStatus')).toHaveLength(2);
      expect(kinds(failed)).toContain('error');
      // Stopped turns commit and leave the session usable.
      expect(failed.result?.turnIndex).toBe(2n);
      const next = await runTurn(suite.s.clients, { sessionId, input: textInput('still there?') });
      expect(next.result?.outcome?.$case).toBe('finished');
    });

    it('15: max_turns stops a model that keeps calling tools, ending the transcript with the turn-limit message', async () => {
      const sessionId = await open({ spec: { maxTurns: 3 } });
      suite.fake.setDefault(() => ({ steps: [{ toolCall: { name: 'json_echo', args: { value: 1 } } }] }));
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('loop forever') });
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_MAX_TURNS } });
      expect(suite.fake.requests).toHaveLength(3);
      const last = (await view(sessionId)).at(-1)!;
      expect(last.role).toBe(MessageRole.MESSAGE_ROLE_SYSTEM);
      expect(last.parts[0]?.kind).toMatchObject({ $case: 'text', value: { text: expect.stringContaining('Turn limit reached') } });
    });

    it('16: a response with neither text nor tool calls stops with provider_error', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [], finishReason: 'stop' });
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('say nothing') });
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_PROVIDER_ERROR } });
    });

    it('17: an image ref without a blob stops as invalid_input with an error event, and is committed', async () => {
      const sessionId = await open();
      const t = await runTurn(suite.s.clients, { sessionId, input: { items: [{ item: { $case: 'imageRef', value: { id: 'img-1' } } }] } });
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_INVALID_INPUT } });
      expect(kinds(t)).toContain('error');
      expect(suite.fake.requests).toHaveLength(0);
      expect((await suite.s.clients.sessions.getSession({ sessionId })).session?.turnIndex).toBe(1n);
    });

    it('images are stored once as attachments and reach the model', async () => {
      const sessionId = await open();
      const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
      const t = await runTurn(suite.s.clients, {
        sessionId,
        input: {
          items: [{ item: { $case: 'text', value: { text: 'look' } } }, { item: { $case: 'imageRef', value: { id: 'a' } } }],
          imageBlobs: { a: { data: png, mimeType: 'image/png' } },
        },
      });
      expect(t.result?.outcome?.$case).toBe('finished');
      const parts = (await view(sessionId))[0]!.parts;
      expect(parts[1]?.kind).toMatchObject({ $case: 'image', value: { mimeType: 'image/png' } });
      const content = (suite.fake.requests[0]!.body.messages as { role: string; content: unknown }[]).find((m) => m.role === 'user')!.content;
      expect(JSON.stringify(content)).toContain('image_url');
      const [row] = await suite.s.app.db.em().getConnection().execute('select count(*)::int as n from blobs');
      expect(row.n).toBeGreaterThanOrEqual(1);
    });

    it('18: the same turn id and input returns the stored result without a model call; other input is ALREADY_EXISTS', async () => {
      const sessionId = await open();
      const first = await runTurn(suite.s.clients, { sessionId, turnId: 'fixed', input: textInput('once') });
      expect(suite.fake.requests).toHaveLength(1);
      const again = await runTurn(suite.s.clients, { sessionId, turnId: 'fixed', input: textInput('once') });
      expect(suite.fake.requests).toHaveLength(1);
      expect(again.events).toHaveLength(0);
      expect(again.result).toEqual(first.result);
      const other = await runTurn(suite.s.clients, { sessionId, turnId: 'fixed', input: textInput('different') });
      expect(other.error?.code).toBe(status.ALREADY_EXISTS);
      expect((await suite.s.clients.sessions.getSession({ sessionId })).session?.turnIndex).toBe(1n);
    });

    it('19: the stop button cancels a hanging turn; a second press finds nothing; the next turn works', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ text: 'partial ' }, { hang: true }] });
      const running = startRunTurn(suite.s.clients, { sessionId, input: textInput('hang') });
      await running.firstEvent;
      await until(() => suite.fake.requests.length === 1);
      expect((await suite.s.clients.turns.cancelRunningTurns({ sessionId })).cancelledCount).toBe(1);
      const t = await running.done;
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
      await until(() => suite.fake.aborted >= 1);
      expect((await suite.s.clients.turns.cancelRunningTurns({ sessionId })).cancelledCount).toBe(0);
      const next = await runTurn(suite.s.clients, { sessionId, input: textInput('next') });
      expect(next.result?.outcome?.$case).toBe('finished');
      // The partial prose of the cancelled turn was committed.
      expect((await view(sessionId)).some((m) => JSON.stringify(m).includes('partial'))).toBe(true);
    });

    it('20: two turns of one session (one running, one waiting) are both cancelled', async () => {
      const sessionId = await open();
      suite.fake.setDefault(() => ({ steps: [{ hang: true }] }));
      const a = startRunTurn(suite.s.clients, { sessionId, turnId: 'a', input: textInput('a') });
      await until(() => suite.fake.requests.length === 1);
      const b = startRunTurn(suite.s.clients, { sessionId, turnId: 'b', input: textInput('b') });
      await until(
        async () => (await suite.s.clients.turns.getTurn({ sessionId, turnId: 'b' }).catch(() => undefined))?.status === TurnStatus.TURN_STATUS_RUNNING,
      );
      expect((await suite.s.clients.turns.cancelRunningTurns({ sessionId })).cancelledCount).toBe(2);
      const [ra, rb] = await Promise.all([a.done, b.done]);
      for (const r of [ra, rb]) expect(r.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
      expect(suite.fake.requests).toHaveLength(1); // b never called the model
    });

    it('22: cancelling during a long tool returns promptly and the tool saw its cancellation signal', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ toolCall: { name: 'sleep', args: { ms: 10_000 }, id: 'long' } }] });
      const running = startRunTurn(suite.s.clients, { sessionId, turnId: 'sleepy', input: textInput('sleep long') });
      await until(() => suite.fake.requests.length === 1);
      await new Promise((r) => setTimeout(r, 100));
      expect((await suite.s.clients.turns.cancelTurn({ sessionId, turnId: 'sleepy' })).signalled).toBe(true);
      const t = await running.done;
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
      const completed = t.events.find((e) => e.kind?.$case === 'toolCallCompleted');
      expect(completed?.kind).toMatchObject({ value: { isError: true, output: { error: 'cancelled while sleeping' } } });
      expect((await suite.s.clients.turns.cancelTurn({ sessionId, turnId: 'sleepy' })).signalled).toBe(false);
    });

    it('23: a client that disconnects cancels its turn; with on_disconnect continue the turn finishes and GetTurn has it', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ text: 'begin ' }, { delayMs: 300 }, { text: 'end' }] });
      const gone = startRunTurn(suite.s.clients, { sessionId, turnId: 'gone', input: textInput('x') });
      gone.call.on('error', () => {});
      await gone.firstEvent;
      gone.call.cancel();
      await until(
        async () => (await suite.s.clients.turns.getTurn({ sessionId, turnId: 'gone' }).catch(() => undefined))?.status === TurnStatus.TURN_STATUS_COMMITTED,
      );
      const cancelled = await suite.s.clients.turns.getTurn({ sessionId, turnId: 'gone' });
      expect(cancelled.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });

      suite.fake.script({ steps: [{ text: 'begin ' }, { delayMs: 300 }, { text: 'end' }] });
      const stays = startRunTurn(suite.s.clients, { sessionId, turnId: 'stays', input: textInput('y'), onDisconnect: OnDisconnect.ON_DISCONNECT_CONTINUE });
      stays.call.on('error', () => {});
      await stays.firstEvent;
      stays.call.cancel();
      await until(
        async () => (await suite.s.clients.turns.getTurn({ sessionId, turnId: 'stays' }).catch(() => undefined))?.status === TurnStatus.TURN_STATUS_COMMITTED,
      );
      const finished = await suite.s.clients.turns.getTurn({ sessionId, turnId: 'stays' });
      expect(finished.result?.outcome?.$case === 'finished' && finished.result.outcome.value.answer).toEqual({
        $case: 'assistantMessage',
        value: { text: 'begin end' },
      });
    });

    it('StartTurn runs detached: its id comes back at once and GetTurn reports running then committed', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ delayMs: 200 }, { text: 'later' }] });
      const { turnId } = await suite.s.clients.turns.startTurn(StartTurnRequest.fromPartial({ sessionId, input: textInput('go') }));
      expect(turnId).not.toBe('');
      expect((await suite.s.clients.turns.getTurn({ sessionId, turnId })).status).toBe(TurnStatus.TURN_STATUS_RUNNING);
      await until(async () => (await suite.s.clients.turns.getTurn({ sessionId, turnId })).status === TurnStatus.TURN_STATUS_COMMITTED);
      expect((await rejection(suite.s.clients.turns.getTurn({ sessionId, turnId: 'never-ran' }))).reason).toBe('TURN_NOT_FOUND');
    });

    it('26: a per-turn model override applies to that turn only; a config update to every later turn; a provider-only override keeps the model', async () => {
      const sessionId = await open({ spec: { model: { id: 'base-model' } } });
      await runTurn(suite.s.clients, { sessionId, input: textInput('1'), overrides: { model: { id: 'turn-model' } } });
      await runTurn(suite.s.clients, { sessionId, input: textInput('2') });
      await suite.s.clients.sessions.updateSessionConfig(
        UpdateSessionConfigRequest.fromPartial({ sessionId, model: { id: 'updated-model' }, updateMask: ['model'] }),
      );
      await runTurn(suite.s.clients, { sessionId, input: textInput('3') });
      await runTurn(suite.s.clients, { sessionId, input: textInput('4'), overrides: { providerId: 'openai-compatible' } });
      expect(suite.fake.requests.map((r) => r.body.model)).toEqual(['turn-model', 'base-model', 'updated-model', 'updated-model']);
    });

    it('27: prompt contributions of server, session and turn all reach the model; replace_slot and clear_slot hide lower layers', async () => {
      const contribution = (content: string) => ({ priority: 0, content });
      const sessionId = await open({
        spec: { prompt: { slots: [{ slot: PromptSlot.PROMPT_SLOT_GUIDANCE, contributions: [contribution('SESSION-GUIDE')] }] } },
      });
      const system = (i: number) => (suite.fake.requests[i]!.body.messages as { role: string; content: string }[]).find((m) => m.role === 'system')!.content;
      await runTurn(suite.s.clients, {
        sessionId,
        input: textInput('a'),
        overrides: { prompt: { slots: [{ slot: PromptSlot.PROMPT_SLOT_GUIDANCE, contributions: [contribution('TURN-GUIDE')] }] } },
      });
      expect(system(0)).toContain('helpful assistant'); // server layer
      expect(system(0)).toContain('SESSION-GUIDE');
      expect(system(0)).toContain('TURN-GUIDE');
      await runTurn(suite.s.clients, {
        sessionId,
        input: textInput('b'),
        overrides: { prompt: { slots: [{ slot: PromptSlot.PROMPT_SLOT_GUIDANCE, reset: true, contributions: [contribution('R-ONLY')] }] } },
      });
      expect(system(1)).toContain('R-ONLY');
      expect(system(1)).not.toContain('SESSION-GUIDE');
      await runTurn(suite.s.clients, {
        sessionId,
        input: textInput('c'),
        overrides: { prompt: { slots: [{ slot: PromptSlot.PROMPT_SLOT_GUIDANCE, reset: true, contributions: [] }] } },
      });
      expect(system(2)).not.toContain('SESSION-GUIDE');
      expect(system(2)).not.toContain('R-ONLY');
      expect(system(2)).toContain('helpful assistant');
    });

    it('8: a session recorded with a provider this server lacks fails its turn with FAILED_PRECONDITION before any model call', async () => {
      const donor = await open();
      const exported = await suite.s.clients.sessions.exportSessionState({ sessionId: donor });
      const document = { ...exported.state!.document!, policy: { ...exported.state!.document!.policy, providerId: 'x' } };
      await suite.s.clients.sessions.openSession(
        OpenSessionRequest.fromPartial({ sessionId: donor, openMode: OpenMode.OPEN_MODE_WITH_STATE, state: { version: 1, sessionId: donor, document } }),
      );
      const t = await runTurn(suite.s.clients, { sessionId: donor, input: textInput('hi') });
      expect(t.error?.code).toBe(status.FAILED_PRECONDITION);
      expect(t.error?.details).toContain(`"${donor}"`);
      expect(t.error?.details).toContain('"x"');
      expect(t.error?.details).toContain('openai-compatible');
      expect(suite.fake.requests).toHaveLength(0);
    });

    it('43: reads answer while a turn is blocked in the model', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ hang: true }] });
      const running = startRunTurn(suite.s.clients, { sessionId, turnId: 'blocked', input: textInput('block') });
      await until(() => suite.fake.requests.length === 1);
      const deadlineMs = 2000; // a liveness bound, not a speed target
      const session = await suite.s.clients.sessions.getSession({ sessionId }, { deadlineMs });
      expect(session.session?.status).toBe(2 /* RUNNING */);
      await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' }, { deadlineMs });
      await suite.s.clients.sessions.getUsageReport({ sessionId }, { deadlineMs });
      expect((await suite.s.clients.turns.getTurn({ sessionId, turnId: 'blocked' })).status).toBe(TurnStatus.TURN_STATUS_RUNNING);
      await suite.s.clients.turns.cancelTurn({ sessionId, turnId: 'blocked' });
      await running.done;
    });

    it('bad turn requests are rejected precisely and change nothing', async () => {
      const sessionId = await open();
      expect((await runTurn(suite.s.clients, { sessionId, input: { items: [] } })).error?.code).toBe(status.INVALID_ARGUMENT);
      expect((await runTurn(suite.s.clients, { sessionId })).error?.code).toBe(status.INVALID_ARGUMENT);
      expect((await runTurn(suite.s.clients, { sessionId: 'no-such-session', input: textInput('x') })).error?.code).toBe(status.NOT_FOUND);
      expect((await runTurn(suite.s.clients, { sessionId, turnId: 'x'.repeat(300), input: textInput('x') })).error?.code).toBe(status.INVALID_ARGUMENT);
      expect((await runTurn(suite.s.clients, { sessionId, input: textInput('x'), onDisconnect: 9 as never })).error?.code).toBe(status.INVALID_ARGUMENT);
      expect((await suite.s.clients.sessions.getSession({ sessionId })).session?.turnIndex).toBe(0n);
      expect(suite.fake.requests).toHaveLength(0);
    });
  });
}
