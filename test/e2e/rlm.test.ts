// RLM mode over real gRPC with the fake model server: code blocks run in the sandbox, tools are
// async functions, submit ends the turn (scenarios 47–50), limits fail blocks without harming
// the server, and globals survive a restart.

import { describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus as Serving } from '../../gen/grpc/health/v1/health.js';
import { CreateChildSessionRequest } from '../../gen/lash/v1/admin_service.js';
import { SessionMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { StopReason } from '../../gen/lash/v1/turn.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { kinds, runTurn, textInput } from '../support/turns.js';

const js = (code: string) => ({ steps: [{ text: 'Let me compute.\n```js\n' + code + '\n```' }] });

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`rlm mode on ${engine.name}`, () => {
    const suite = fakeModelSuite(engine, {
      prefix: 'rlm',
      env: {
        LASH_TOOLS: 'calculate',
        LASH_SANDBOX_TIME_MS: '1000',
        LASH_SANDBOX_MEMORY_MB: '16',
        LASH_SANDBOX_OUTPUT_BYTES: '2048',
        LASH_SANDBOX_TOOL_CALLS: '5',
        LASH_SANDBOX_GLOBALS_BYTES: '65536',
        LASH_QUEUE_WORKERS: '0',
      },
    });
    const open = (extra: object = {}) => suite.open(OpenSessionRequest.fromPartial({ mode: SessionMode.SESSION_MODE_RLM, ...extra }));
    const system = (i: number) => (suite.fake.requests[i]!.body.messages as { role: string; content: string }[]).find((m) => m.role === 'system')!.content;

    it('47: code calls a tool then submits; events are ordered; tool calls are not message parts', async () => {
      const sessionId = await open();
      suite.fake.script(js('const r = await calculate({op: "multiply", a: 6, b: 7});\nprint("got", r.result);\nsubmit(r.result);'));
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('what is 6*7?') });
      expect(t.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: 42 } } } });
      const order = kinds(t).filter((k) => ['codeBlockStarted', 'toolCallStarted', 'toolCallCompleted', 'codeBlockCompleted', 'submittedValue'].includes(k!));
      expect(order).toEqual(['codeBlockStarted', 'toolCallStarted', 'toolCallCompleted', 'codeBlockCompleted', 'submittedValue']);
      const completed = t.events.find((e) => e.kind?.$case === 'codeBlockCompleted')!.kind as {
        value: { output: string; success: boolean; toolCallIds: string[] };
      };
      expect(completed.value).toMatchObject({ output: 'got 42\n', success: true });
      expect(completed.value.toolCallIds).toHaveLength(1);
      expect(t.result?.hadCodeExecution).toBe(true);
      expect(t.result?.toolCalls[0]).toMatchObject({ tool: 'calculate', output: { result: 42 } });
      expect(suite.fake.requests[0]!.body.tools).toBeUndefined(); // no native tool calling in rlm
      const view = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      const parts = view.messages.flatMap((m) => m.parts.map((p) => p.kind?.$case));
      expect(parts).toContain('code');
      expect(parts).not.toContain('toolCall');
      expect(parts).not.toContain('toolResult');
    });

    it('48: require_submit with a schema reports a wrong value back and the model corrects it; prose_or_submit accepts prose', async () => {
      const sessionId = await open();
      const schema = { type: 'object', properties: { answer: { type: 'number' } }, required: ['answer'] };
      suite.fake.script(js('submit({answer: "forty-two"});'), js('submit({answer: 42});'));
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('answer as a number'), rlm: { requireSubmit: true, submitSchema: schema } });
      expect(t.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: { answer: 42 } } } } });
      expect(JSON.stringify(suite.fake.requests[1]!.body.messages)).toContain('does not match the required schema');
      expect(system(0)).toContain('JSON schema');
      expect(system(0)).not.toContain('Markdown');
      suite.fake.script({ steps: [{ text: 'Plainly: 42.' }] });
      const prose = await runTurn(suite.s.clients, { sessionId, input: textInput('just say it'), rlm: { proseOrSubmit: true } });
      expect(prose.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'assistantMessage', value: { text: 'Plainly: 42.' } } } });
      expect(kinds(prose)).not.toContain('submittedValue');
    });

    it('prose without code gets a reminder; submit_error stops the turn as submitted_error', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ text: 'I think the answer is 42.' }] }, js('submit_error({reason: "cannot"});'));
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('go') });
      expect(JSON.stringify(suite.fake.requests[1]!.body.messages)).toContain('fenced');
      expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_SUBMITTED_ERROR, value: { reason: 'cannot' } } });
    });

    it('49: an endless loop, unbounded allocation, huge output and a tool-call flood each fail their block; the server stays healthy', async () => {
      const sessionId = await open();
      const cases = [
        'while (true) {}',
        'const a = []; while (true) a.push({x: [1, 2, 3]});',
        'for (let i = 0; i < 100000; i++) print("line " + i);',
        'for (let i = 0; i < 50; i++) await calculate({op: "add", a: i, b: 1});',
      ];
      const expected = [/time limit/, /memory|time limit/, /output limit/, /tool call limit/];
      for (const [i, code] of cases.entries()) {
        suite.fake.script(js(code), js('submit("recovered");'));
        const t = await runTurn(suite.s.clients, { sessionId, input: textInput(`case ${i}`) });
        const completed = t.events.find((e) => e.kind?.$case === 'codeBlockCompleted')!.kind as { value: { success: boolean; error?: string } };
        expect(completed.value.success).toBe(false);
        expect(completed.value.error).toMatch(expected[i]!);
        expect(t.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: 'recovered' } } } });
        expect(JSON.stringify(suite.fake.requests.at(-1)!.body.messages)).toMatch(expected[i]!);
        suite.fake.reset();
      }
      expect((await suite.s.clients.health.check({ service: '' })).status).toBe(Serving.SERVING);
    });

    it('50: a root session prompt carries the Markdown final-answer guidance; a child session does not', async () => {
      const root = await open();
      suite.fake.script(js('submit("# Done");'));
      await runTurn(suite.s.clients, { sessionId: root, input: textInput('x') });
      expect(system(0)).toContain('Markdown');
      await suite.s.clients.admin.createChildSession(
        CreateChildSessionRequest.fromPartial({ sessionId: root, childSessionId: `${root}-kid`, mode: SessionMode.SESSION_MODE_RLM }),
      );
      suite.fake.script(js('submit({data: 1});'));
      await runTurn(suite.s.clients, { sessionId: `${root}-kid`, input: textInput('y') });
      expect(system(1)).not.toContain('Markdown');
      expect(system(1)).toContain('raw value');
    });

    it('globals persist across turns of the frame and survive a server restart', async () => {
      const sessionId = await open();
      suite.fake.script(js('globalThis.notes = ["first"]; submit("saved");'));
      await runTurn(suite.s.clients, { sessionId, input: textInput('remember') });
      await suite.s.stop();
      suite.s = await suite.s.restart();
      suite.fake.script(js('notes.push("second"); print(JSON.stringify(notes)); submit(notes);'));
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('recall') });
      expect(t.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: ['first', 'second'] } } } });
    });

    it('globals past LASH_SANDBOX_GLOBALS_BYTES fail the block, keep nothing of it, and the next turn starts from the earlier snapshot', async () => {
      const sessionId = await open();
      suite.fake.script(js('globalThis.notes = ["kept"]; submit("ok");'));
      await runTurn(suite.s.clients, { sessionId, input: textInput('remember') });
      suite.fake.script(
        js('globalThis.notes.push("lost"); globalThis.big = "y".repeat(100000); submit("too big");'),
        js('print(typeof big, JSON.stringify(notes)); submit(notes);'),
      );
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('grow') });
      const blocks = t.events
        .filter((e) => e.kind?.$case === 'codeBlockCompleted')
        .map((e) => (e.kind as { value: { success: boolean; error?: string; output: string } }).value);
      expect(blocks[0]).toMatchObject({ success: false, error: expect.stringMatching(/globals limit of 65536 bytes exceeded \(at globalThis\.big\)/) });
      // The model is told, and the failed block's submit did not end the turn.
      expect(JSON.stringify(suite.fake.requests[2]!.body.messages)).toContain('globals limit of 65536 bytes exceeded');
      expect(blocks[1]!.output).toBe('undefined ["kept"]\n');
      expect(t.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: ['kept'] } } } });
      const head = await suite.s.app.sessions.get({ tenantId: 'default' }, sessionId);
      expect(head.sandbox?.globals).toEqual({ notes: ['kept'] });
      suite.fake.script(js('globalThis.n = 1; print(Object.keys(globalThis).filter((k) => k === "big" || k === "notes").join(",")); submit("fine");'));
      const next = await runTurn(suite.s.clients, { sessionId, input: textInput('again') });
      expect(next.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: 'fine' } } } });
      expect((next.events.find((e) => e.kind?.$case === 'codeBlockCompleted')!.kind as { value: { output: string } }).value.output).toBe('notes\n');
    });

    it('the echo model runs a fenced block from the input, and submits plain input', async () => {
      const sessionId = await open({ spec: { providerId: 'echo', model: { id: 'echo' } } });
      const code = await runTurn(suite.s.clients, { sessionId, input: textInput('```js\nsubmit(1 + 2);\n```') });
      expect(code.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: 3 } } } });
      const plain = await runTurn(suite.s.clients, { sessionId, input: textInput('hello') });
      expect(plain.result?.outcome).toMatchObject({ $case: 'finished', value: { answer: { $case: 'submittedValue', value: { value: 'hello' } } } });
    });
  });
}
