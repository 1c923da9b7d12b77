// Every provider proven over gRPC against a fake of its wire format (OpenAI and
// OpenAI-compatible chat completions, Anthropic Messages, Gemini): a streamed answer with reasoning and every token class it
// reports, a parallel tool round, an image, a retried error visible as retry_status, a final auth
// error whose text never shows the key, cancellation that aborts the HTTP request, a safety
// stop, catalog refusals before any call, and the rlm loop; usage reports add up to the results.

import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Usage } from '../../gen/lash/v1/common.js';
import { ReasoningEffort, SessionMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest, type DeepPartial } from '../../gen/lash/v1/session_service.js';
import { StopReason, type TurnResult } from '../../gen/lash/v1/turn.js';
import { engines } from '../support/engines.js';
import type { Reply, Tokens } from '../support/fake-wire.js';
import { GATEWAY_HEADER, startProviderFake, type ProviderFake, type ProviderName } from '../support/provider-fakes.js';
import { rejection, startTestServer, type TestServer } from '../support/server.js';
import { deltasText, kinds, runTurn, startRunTurn, textInput, until, type StreamedTurn } from '../support/turns.js';

const PROVIDERS: ProviderName[] = ['openai', 'openai-compatible', 'anthropic', 'google'];
// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const TOKENS: Tokens = { input: 100, output: 20, cacheRead: 40, cacheWrite: 30, reasoning: 8 };

/** What the provider's wire format can report of `t`, as our Usage (unreported classes are 0). */
function expectedUsage(fake: ProviderFake, t: Tokens, times = 1): Usage {
  const has = (k: keyof Tokens) => (fake.tokenClasses.includes(k) ? BigInt((t[k] ?? 0) * times) : 0n);
  return {
    inputTokens: has('input'),
    outputTokens: has('output'),
    cachedInputTokens: has('cacheRead'),
    cacheWriteTokens: has('cacheWrite'),
    reasoningTokens: has('reasoning'),
  };
}

// Each provider's first error asks for a 1 s wait its own way (retry-after header; Gemini's
// RetryInfo detail in the body); the others leave the wait to our backoff.
const retryables: Record<ProviderName, Reply[]> = {
  openai: [{ error: { status: 429, message: 'Rate limit reached', retryAfterSeconds: 1 } }, { error: { status: 500, message: 'The server had an error' } }],
  'openai-compatible': [{ error: { status: 429, message: 'Too many requests', retryAfterSeconds: 1 } }, { error: { status: 502, message: 'Bad gateway' } }],
  anthropic: [
    { error: { status: 429, message: 'rate limited', retryAfterSeconds: 1 } },
    { error: { status: 529, message: 'Overloaded' } },
    { overloadedInStream: true },
  ],
  google: [{ error: { status: 429, message: 'Resource exhausted', retryAfterSeconds: 1 } }, { error: { status: 503, message: 'The model is overloaded' } }],
};

for (const engine of engines) {
  for (const provider of PROVIDERS) {
    describe.skipIf(!engine.enabled)(`${provider} over gRPC against its wire-format fake on ${engine.name}`, () => {
      const apiKey = `test-${provider}-key-5be1c0ffee`;
      let s: TestServer;
      let fake: ProviderFake;
      let n = 0;
      const open = async (extra: DeepPartial<OpenSessionRequest> = {}) => {
        const sessionId = `${provider}-${++n}`;
        await s.clients.sessions.openSession(
          OpenSessionRequest.fromPartial({ sessionId, ...extra, spec: { providerId: provider, model: { id: fake.model }, ...extra.spec } }),
        );
        return sessionId;
      };
      const finished = (t: StreamedTurn) => (t.result?.outcome?.$case === 'finished' ? t.result.outcome.value.answer : undefined);

      beforeAll(async () => {
        fake = await startProviderFake(provider, apiKey);
        s = await startTestServer(engine, {
          ...fake.env,
          LASH_TOOLS: 'calculate,json_echo',
          LASH_PROVIDER_BACKOFF_MS: '10',
          LASH_PROVIDER_MAX_ATTEMPTS: '4',
          LASH_CANCEL_GRACE_MS: '500',
          LASH_QUEUE_WORKERS: '0',
        });
      });
      afterAll(async () => {
        await s?.close();
        await fake?.close();
      });
      afterEach(() => {
        // A request the real API would refuse fails the test that made it.
        expect(fake.violations()).toEqual([]);
        fake.reset();
      });

      it('streams an answer with reasoning; sends model, key, gateway header, system prompt, effort and cache breakpoints; records every token class', async () => {
        const sessionId = await open({ spec: { model: { id: fake.model, reasoningEffort: ReasoningEffort.REASONING_EFFORT_HIGH, promptCache: true } } });
        fake.script({ reasoning: ['let me ', 'think'], text: ['Hel', 'lo ', 'there'], usage: TOKENS });
        const t = await runTurn(s.clients, { sessionId, input: textInput('say hello') });
        expect(t.error).toBeUndefined();
        expect(deltasText(t)).toBe('Hello there');
        expect(finished(t)).toEqual({ $case: 'assistantMessage', value: { text: 'Hello there' } });
        if (fake.streamsReasoning) expect(kinds(t)).toContain('reasoningDelta');
        const seen = fake.seen()[0]!;
        expect(seen).toMatchObject({ model: fake.model, key: apiKey, extraHeader: GATEWAY_HEADER, userTexts: ['say hello'] });
        expect(seen.system).toContain('helpful assistant');
        expect(seen.reasoning).toBeDefined();
        expect(seen.cacheBreakpoints).toBe(provider === 'anthropic' ? 1 : 0);
        const started = t.events.find((e) => e.kind?.$case === 'modelRequestStarted')?.kind;
        expect(started).toMatchObject({
          value: { providerId: provider, modelId: fake.model, reasoningEffort: ReasoningEffort.REASONING_EFFORT_HIGH, promptCache: true },
        });
        expect(t.result?.usage?.parent).toEqual(expectedUsage(fake, TOKENS));

        // A turn override changes the effort for that turn only; with history, the conversation
        // so far gets its own breakpoint.
        fake.script({ text: ['again'] }, { text: ['and again'] });
        const low = await runTurn(s.clients, {
          sessionId,
          input: textInput('once more'),
          overrides: { model: { reasoningEffort: ReasoningEffort.REASONING_EFFORT_LOW } },
        });
        expect(low.events.find((e) => e.kind?.$case === 'modelRequestStarted')?.kind).toMatchObject({
          value: { reasoningEffort: ReasoningEffort.REASONING_EFFORT_LOW },
        });
        expect(fake.seen()[1]!.reasoning).not.toEqual(seen.reasoning);
        expect(fake.seen()[1]!.cacheBreakpoints).toBe(provider === 'anthropic' ? 2 : 0);
        const next = await runTurn(s.clients, { sessionId, input: textInput('last') });
        expect(next.events.find((e) => e.kind?.$case === 'modelRequestStarted')?.kind).toMatchObject({
          value: { reasoningEffort: ReasoningEffort.REASONING_EFFORT_HIGH },
        });
        expect(fake.seen()[2]!.reasoning).toEqual(seen.reasoning);
        expect(fake.seen()[2]!.cacheBreakpoints).toBe(provider === 'anthropic' ? 2 : 0);

        // Prompt caching is a turn override too: off for this turn, recorded as off, no breakpoints.
        fake.script({ text: ['uncached'] });
        const uncached = await runTurn(s.clients, { sessionId, input: textInput('no cache'), overrides: { model: { promptCache: false } } });
        expect(uncached.events.find((e) => e.kind?.$case === 'modelRequestStarted')?.kind).toMatchObject({
          value: { promptCache: false, reasoningEffort: ReasoningEffort.REASONING_EFFORT_HIGH },
        });
        expect(fake.seen()[3]!.cacheBreakpoints).toBe(0);
      });

      it('runs a parallel tool round and sends both results back; usage report, turn results and usage events add up', async () => {
        const sessionId = await open();
        const results: TurnResult[] = [];
        const events: Usage[] = [];
        fake.script({ text: ['Hi'], usage: TOKENS });
        const first = await runTurn(s.clients, { sessionId, input: textInput('hi') });
        fake.script(
          {
            toolCalls: [
              { id: 'call_a', name: 'calculate', args: { op: 'add', a: 2, b: 3 } },
              { id: 'call_b', name: 'json_echo', args: { value: 'x' } },
            ],
            usage: TOKENS,
          },
          { text: ['5 and x'], usage: TOKENS },
        );
        const t = await runTurn(s.clients, { sessionId, input: textInput('add 2 and 3, echo x') });
        for (const turn of [first, t]) {
          results.push(turn.result!);
          for (const e of turn.events) if (e.kind?.$case === 'usage') events.push(e.kind.value.usage!);
        }
        expect(finished(t)).toEqual({ $case: 'assistantMessage', value: { text: '5 and x' } });
        const completed = t.events.flatMap((e) => (e.kind?.$case === 'toolCallCompleted' ? [e.kind.value] : []));
        expect(completed.map((c) => [c.name, c.output, c.isError])).toEqual([
          ['calculate', { result: 5 }, false],
          ['json_echo', 'x', false],
        ]);
        const [, call, answer] = fake.seen();
        expect(call!.tools.map((x) => x.name).sort()).toEqual(['calculate', 'json_echo']);
        expect(call!.tools.find((x) => x.name === 'calculate')!.schema).toMatchObject({ type: 'object', required: ['op', 'a', 'b'] });
        expect(answer!.toolResults).toHaveLength(2);
        expect(JSON.stringify(answer!.toolResults)).toContain('5');
        // Three model calls in all, each reporting TOKENS.
        const report = await s.clients.sessions.getUsageReport({ sessionId });
        const sum = (us: Usage[]) =>
          us.reduce((a, u) => ({
            inputTokens: a.inputTokens + u.inputTokens,
            outputTokens: a.outputTokens + u.outputTokens,
            cachedInputTokens: a.cachedInputTokens + u.cachedInputTokens,
            cacheWriteTokens: a.cacheWriteTokens + u.cacheWriteTokens,
            reasoningTokens: a.reasoningTokens + u.reasoningTokens,
          }));
        expect(report.total).toEqual(expectedUsage(fake, TOKENS, 3));
        expect(sum(results.map((r) => r.usage!.total!))).toEqual(report.total);
        expect(sum(events)).toEqual(report.total);
        expect(report.byModel).toEqual([{ model: fake.model, usage: report.total }]);
      });

      it('runs a tool round with reasoning on: the reasoning goes back with the calls as the provider demands (Anthropic: the signed thinking block first)', async () => {
        const sessionId = await open({ spec: { model: { id: fake.model, reasoningEffort: ReasoningEffort.REASONING_EFFORT_HIGH } } });
        fake.script(
          { reasoning: ['I should ', 'add them'], toolCalls: [{ id: 'call_r', name: 'calculate', args: { op: 'add', a: 1, b: 2 } }] },
          { reasoning: ['done'], text: ['3'] },
          { text: ['still 3'] },
        );
        const t = await runTurn(s.clients, { sessionId, input: textInput('one plus two') });
        expect(finished(t)).toEqual({ $case: 'assistantMessage', value: { text: '3' } });
        expect(fake.seen()[1]!.toolResults).toHaveLength(1);
        // The next turn replays the whole conversation, the signed reasoning of the tool round included.
        const next = await runTurn(s.clients, { sessionId, input: textInput('sure?') });
        expect(finished(next)).toEqual({ $case: 'assistantMessage', value: { text: 'still 3' } });
      });

      it.runIf(provider === 'anthropic')('sends a redacted thinking block back unchanged in the tool round it opened', async () => {
        const sessionId = await open({ spec: { model: { id: fake.model, reasoningEffort: ReasoningEffort.REASONING_EFFORT_HIGH } } });
        fake.script({ redactedReasoning: true, toolCalls: [{ id: 'toolu_red', name: 'calculate', args: { op: 'add', a: 2, b: 2 } }] }, { text: ['4'] });
        const t = await runTurn(s.clients, { sessionId, input: textInput('two plus two') });
        expect(finished(t)).toEqual({ $case: 'assistantMessage', value: { text: '4' } });
        // Nothing readable was streamed: the block is replay data only.
        expect(kinds(t)).not.toContain('reasoningDelta');
        expect(fake.seen()).toHaveLength(2);
      });

      it('adds up across providers: a turn switched to echo is booked under its own model, and the total is the sum of the results', async () => {
        const sessionId = await open();
        fake.script({ text: ['from the provider'], usage: TOKENS });
        const a = await runTurn(s.clients, { sessionId, input: textInput('one') });
        const b = await runTurn(s.clients, { sessionId, input: textInput('two'), overrides: { providerId: 'echo', model: { id: 'echo' } } });
        expect(finished(b)).toEqual({ $case: 'assistantMessage', value: { text: 'two' } });
        const report = await s.clients.sessions.getUsageReport({ sessionId });
        expect(report.byModel.map((m) => m.model).sort()).toEqual(['echo', fake.model].sort());
        expect(report.byModel.find((m) => m.model === fake.model)!.usage).toEqual(expectedUsage(fake, TOKENS));
        expect(report.byModel.find((m) => m.model === 'echo')!.usage).toEqual(b.result!.usage!.total);
        const total = report.total!;
        const ua = a.result!.usage!.total!;
        const ub = b.result!.usage!.total!;
        expect(total).toEqual({
          inputTokens: ua.inputTokens + ub.inputTokens,
          outputTokens: ua.outputTokens + ub.outputTokens,
          cachedInputTokens: ua.cachedInputTokens + ub.cachedInputTokens,
          cacheWriteTokens: ua.cacheWriteTokens + ub.cacheWriteTokens,
          reasoningTokens: ua.reasoningTokens + ub.reasoningTokens,
        });
        expect(report.bySource.map((x) => x.source)).toEqual(['turn']);
      });

      it('sends an image input as the provider image part', async () => {
        const sessionId = await open();
        fake.script({ text: ['a dot'] });
        const t = await runTurn(s.clients, {
          sessionId,
          input: {
            items: [{ item: { $case: 'text', value: { text: 'what is this' } } }, { item: { $case: 'imageRef', value: { id: 'img' } } }],
            imageBlobs: { img: { data: PNG, mimeType: 'image/png' } },
          },
        });
        expect(finished(t)).toEqual({ $case: 'assistantMessage', value: { text: 'a dot' } });
        expect(fake.seen()[0]!.images).toEqual([{ mimeType: 'image/png', base64: PNG.toString('base64') }]);
      });

      it('retries provider errors that say so, each visible as retry_status, and then answers', async () => {
        const sessionId = await open();
        const errors = retryables[provider];
        fake.script(...errors, { text: ['recovered'] });
        const t = await runTurn(s.clients, { sessionId, input: textInput('try') });
        expect(finished(t)).toEqual({ $case: 'assistantMessage', value: { text: 'recovered' } });
        const retries = t.events.flatMap((e) => (e.kind?.$case === 'retryStatus' ? [e.kind.value] : []));
        expect(retries.map((r) => r.attempt)).toEqual(errors.map((_, i) => i + 1));
        expect(retries[0]!.reason).toMatch(/429/);
        // The 429 asked for 1 s, which wins over our backoff (10 ms, doubling, here).
        expect(retries[0]!.waitSeconds).toBe(1);
        for (const r of retries.slice(1)) expect(r.waitSeconds).toBeLessThan(1);
        if (provider === 'anthropic') expect(retries.map((r) => r.reason).join('\n')).toMatch(/529[\s\S]*Overloaded/);
        expect(fake.seen()).toHaveLength(errors.length + 1);
      });

      it('stops on an auth error without retrying, and no client, feed or stored row ever shows the key it quoted', async () => {
        const sessionId = await open();
        const status401 = provider === 'google' ? 400 : 401;
        fake.script({ error: { status: status401, message: `API key not valid: ${apiKey}. Sent from https://u:${apiKey}@gw.example/?key=${apiKey}` } });
        const t = await runTurn(s.clients, { sessionId, input: textInput('hello') });
        expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_PROVIDER_ERROR } });
        const message = t.result?.outcome?.$case === 'stopped' ? t.result.outcome.value.message : '';
        expect(message).toContain(String(status401));
        expect(message).toContain('[redacted]');
        expect(kinds(t)).not.toContain('retryStatus');
        expect(fake.seen()).toHaveLength(1);
        expect(JSON.stringify(t, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(apiKey);
        const stored = await s.clients.turns.getTurn({ sessionId, turnId: t.result!.turnId });
        expect(JSON.stringify(stored, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(apiKey);
        const conn = s.app.db.em().getConnection();
        for (const table of ['session_commits', 'session_nodes', 'feed_batches']) {
          const rows = await conn.execute(`select coalesce(string_agg(x::text, '|'), '') as dump from ${table} x`);
          expect(rows[0].dump, table).not.toContain(apiKey);
        }
      });

      it('cancels mid-stream: the HTTP request to the provider is aborted and the partial text is kept', async () => {
        const sessionId = await open();
        fake.script({ hang: ['partial '] });
        const run = startRunTurn(s.clients, { sessionId, turnId: 'hang', input: textInput('go on') });
        await until(() => run.done !== undefined && fake.seen().length === 1, 20_000);
        await run.firstEvent;
        await until(async () => (await s.clients.turns.cancelTurn({ sessionId, turnId: 'hang' })).signalled, 20_000);
        const t = await run.done;
        expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_CANCELLED } });
        expect(deltasText(t)).toBe('partial ');
        await until(() => fake.aborted() === 1, 20_000);
      });

      it('stops on a safety block (and, on Gemini, a blocked prompt) as a provider error that names the content filter', async () => {
        const sessionId = await open();
        const blocks: Reply[] = [{ finish: 'safety', usage: { input: 12, output: 0 } }];
        if (provider === 'google') blocks.push({ finish: 'promptBlocked', usage: { input: 9, output: 0 } });
        for (const block of blocks) {
          fake.script(block);
          const t = await runTurn(s.clients, { sessionId, input: textInput('something dangerous') });
          expect(t.result?.outcome).toMatchObject({
            $case: 'stopped',
            value: { reason: StopReason.STOP_REASON_PROVIDER_ERROR, message: expect.stringContaining('content filter') },
          });
        }
        expect(fake.seen()).toHaveLength(blocks.length);
      });

      it("stops as incomplete when the model hits its output cap (the provider's own length stop), keeping the text and usage", async () => {
        const sessionId = await open();
        fake.script({ text: ['cut ', 'short'], finish: 'length', usage: { input: 15, output: 2 } });
        const t = await runTurn(s.clients, { sessionId, input: textInput('write a lot') });
        expect(t.result?.outcome).toMatchObject({ $case: 'stopped', value: { reason: StopReason.STOP_REASON_INCOMPLETE } });
        expect(deltasText(t)).toBe('cut short');
        expect(t.result?.usage?.total).toMatchObject({ inputTokens: 15n, outputTokens: 2n });
      });

      it.skipIf(provider === 'openai-compatible')(
        'refuses what the model cannot do before any call: output cap, context window, and effort on a model that does not reason',
        async () => {
          const tooMuch = await rejection(open({ spec: { model: { id: fake.model, maxOutputTokens: 5_000_000n } } }));
          expect(tooMuch).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'MAX_OUTPUT_TOKENS_TOO_LARGE' });
          const sessionId = await open();
          const before = (await s.clients.sessions.getSession({ sessionId })).session!;
          const turn = await runTurn(s.clients, { sessionId, input: textInput('x'), overrides: { model: { contextWindowTokens: 90_000_000n } } });
          expect(turn.error?.code).toBe(status.INVALID_ARGUMENT);
          expect(turn.error?.details).toContain('context window');
          // Refused before anything was stored: no turn, no revision.
          expect((await s.clients.sessions.getSession({ sessionId })).session).toMatchObject({ headRevision: before.headRevision, turnIndex: 0n });
          const plain = { openai: 'gpt-4o-mini', 'openai-compatible': '', anthropic: 'claude-3-5-haiku', google: 'gemini-2.0-flash' }[provider];
          const effort = await rejection(open({ spec: { model: { id: plain, reasoningEffort: ReasoningEffort.REASONING_EFFORT_LOW } } }));
          expect(effort).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'REASONING_UNSUPPORTED' });
          expect(fake.seen()).toHaveLength(0);
          expect((await s.clients.sessions.getUsageReport({ sessionId })).total?.inputTokens ?? 0n).toBe(0n);
        },
      );

      it.runIf(provider === 'openai-compatible')(
        'a model the catalog does not know is not gated (its window and effort go through), but output that leaves no room for the prompt is refused',
        async () => {
          const noRoom = await rejection(open({ spec: { model: { id: fake.model, contextWindowTokens: 8_000n, maxOutputTokens: 8_000n } } }));
          expect(noRoom).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'MAX_OUTPUT_EXCEEDS_CONTEXT_WINDOW' });
          expect(fake.seen()).toHaveLength(0);
          const sessionId = await open();
          fake.script({ text: ['fine'] });
          const t = await runTurn(s.clients, {
            sessionId,
            input: textInput('x'),
            overrides: { model: { contextWindowTokens: 90_000_000n, reasoningEffort: ReasoningEffort.REASONING_EFFORT_LOW } },
          });
          expect(finished(t)).toEqual({ $case: 'assistantMessage', value: { text: 'fine' } });
          expect(fake.seen()[0]!.reasoning).toBe('low');
        },
      );

      it('drives an rlm session: the model writes code that calls a tool and submits', async () => {
        const sessionId = await open({ mode: SessionMode.SESSION_MODE_RLM });
        fake.script({ text: ['```js\nconst r = await calculate({op: "multiply", a: 6, b: 7});\n', 'submit(r.result);\n```'], usage: TOKENS });
        const t = await runTurn(s.clients, { sessionId, input: textInput('six times seven') });
        expect(finished(t)).toEqual({ $case: 'submittedValue', value: { value: 42 } });
        expect(fake.seen()[0]!.system).toContain('submit');
        expect(t.result?.usage?.total).toEqual(expectedUsage(fake, TOKENS));
      });
    });
  }
}
