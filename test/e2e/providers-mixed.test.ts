// Usage adds up across providers and sources over gRPC: one server with all four providers, each
// against the fake of its wire format. A session on Anthropic delegates to a child on Gemini
// (source `research`), switches a turn to OpenAI and one to an OpenAI-compatible server, and is
// compacted (source `compaction`). Each provider reports different counts, so a token booked to
// the wrong model, source or class shows; the conversation written by one provider is replayed to
// the next in its own wire format, and every fake checks it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateChildSessionRequest } from '../../gen/lash/v1/admin_service.js';
import type { Usage } from '../../gen/lash/v1/common.js';
import { ReasoningEffort } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import type { Tokens } from '../support/fake-wire.js';
import { startProviderFake, type ProviderFake } from '../support/provider-fakes.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runTurn, textInput } from '../support/turns.js';

const zero: Usage = { inputTokens: 0n, outputTokens: 0n, cachedInputTokens: 0n, cacheWriteTokens: 0n, reasoningTokens: 0n };
const add = (a: Usage, b: Usage): Usage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
  cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
  reasoningTokens: a.reasoningTokens + b.reasoningTokens,
});
const sum = (us: Usage[]) => us.reduce(add, zero);

/** `t` as our Usage, keeping only the classes the fake's wire format reports. */
const booked = (fake: ProviderFake, t: Tokens): Usage => {
  const has = (k: keyof Tokens) => (fake.tokenClasses.includes(k) ? BigInt(t[k] ?? 0) : 0n);
  return {
    inputTokens: has('input'),
    outputTokens: has('output'),
    cachedInputTokens: has('cacheRead'),
    cacheWriteTokens: has('cacheWrite'),
    reasoningTokens: has('reasoning'),
  };
};

// Distinct counts per call, every class set: a class a provider does not report must stay 0.
const CALL = { input: 1000, output: 100, cacheRead: 400, cacheWrite: 300, reasoning: 40 };
const ANTHROPIC_TOOL = CALL;
const ANTHROPIC_ANSWER = { input: 1200, output: 30, cacheRead: 700, cacheWrite: 50, reasoning: 0 };
const ANTHROPIC_SUMMARY = { input: 1500, output: 60, cacheRead: 1100, cacheWrite: 0, reasoning: 0 };
const GOOGLE_CHILD = { input: 90, output: 17, cacheRead: 30, cacheWrite: 11, reasoning: 6 };
const OPENAI_TURN = { input: 2000, output: 250, cacheRead: 1024, cacheWrite: 13, reasoning: 192 };
const COMPATIBLE_TURN = { input: 2100, output: 80, cacheRead: 64, cacheWrite: 7, reasoning: 20 };

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`usage across four providers and three sources on ${engine.name}`, () => {
    let s: TestServer;
    let chat: ProviderFake;
    let anthropic: ProviderFake;
    let google: ProviderFake;

    beforeAll(async () => {
      // One chat-completions fake serves both `openai` and `openai-compatible` (OPENAI_BASE_URL).
      chat = await startProviderFake('openai', 'test-openai-key-mixed-41');
      anthropic = await startProviderFake('anthropic', 'test-anthropic-key-mixed-42');
      google = await startProviderFake('google', 'test-google-key-mixed-43');
      s = await startTestServer(engine, { ...chat.env, ...anthropic.env, ...google.env, LASH_TOOLS: 'run_child', LASH_QUEUE_WORKERS: '0' });
    });
    afterAll(async () => {
      await s?.close();
      await Promise.all([chat, anthropic, google].map((f) => f?.close()));
    });

    it('books each call to its provider model and source; report, results and child split agree', async () => {
      const sessionId = 'mixed-1';
      const kid = 'mixed-1-kid';
      await s.clients.sessions.openSession(
        OpenSessionRequest.fromPartial({
          sessionId,
          spec: { providerId: 'anthropic', model: { id: anthropic.model, promptCache: true, reasoningEffort: ReasoningEffort.REASONING_EFFORT_HIGH } },
        }),
      );
      await s.clients.admin.createChildSession(
        CreateChildSessionRequest.fromPartial({
          sessionId,
          childSessionId: kid,
          source: 'research',
          spec: { providerId: 'google', model: { id: google.model } },
        }),
      );

      // Anthropic, thinking, asks the Gemini child, then answers; its signed thinking blocks travel
      // in the history to OpenAI (which ignores them) and back to Anthropic for the compaction.
      anthropic.script(
        {
          reasoning: ['ask the child'],
          toolCalls: [{ id: 'toolu_01', name: 'run_child', args: { child_session_id: kid, task: 'look it up' } }],
          usage: ANTHROPIC_TOOL,
        },
        { reasoning: ['it answered'], text: ['the child says found'], usage: ANTHROPIC_ANSWER },
      );
      google.script({ reasoning: ['searching'], text: ['found'], usage: GOOGLE_CHILD });
      const delegated = await runTurn(s.clients, { sessionId, input: textInput('ask the child') });
      expect(delegated.result?.outcome?.$case).toBe('finished');
      expect(delegated.result?.usage?.children).toEqual([{ source: 'research', model: google.model, usage: booked(google, GOOGLE_CHILD) }]);
      expect(delegated.result?.usage?.parent).toEqual(add(booked(anthropic, ANTHROPIC_TOOL), booked(anthropic, ANTHROPIC_ANSWER)));

      // The same conversation, tool round included, continues on OpenAI and then on a compatible server.
      chat.script({ text: ['openai here'], usage: OPENAI_TURN }, { text: ['compatible here'], usage: COMPATIBLE_TURN });
      const onOpenai = await runTurn(s.clients, {
        sessionId,
        input: textInput('now openai'),
        overrides: { providerId: 'openai', model: { id: chat.model } },
      });
      const onCompatible = await runTurn(s.clients, {
        sessionId,
        input: textInput('now compatible'),
        overrides: { providerId: 'openai-compatible', model: { id: 'llama3.1' } },
      });
      expect([onOpenai, onCompatible].map((t) => t.result?.outcome?.$case)).toEqual(['finished', 'finished']);
      const [toOpenai, toCompatible] = chat.seen();
      expect([toOpenai!.model, toCompatible!.model]).toEqual([chat.model, 'llama3.1']);
      expect(toOpenai!.toolResults.map((r) => r.callId)).toEqual(['toolu_01']);
      expect(toCompatible!.userTexts).toEqual(['ask the child', 'now openai', 'now compatible']);
      // The compatible server reports classes the `openai-compatible` package reads: the same as openai's.
      const compatibleBooked = booked(chat, COMPATIBLE_TURN);

      // Compaction summarises on the session's model, Anthropic, the whole history in its format.
      anthropic.script({ text: ['summary'], usage: ANTHROPIC_SUMMARY });
      expect((await s.clients.admin.compactContext({ sessionId, instructions: '' })).compacted).toBe(true);
      const summarised = anthropic.seen()[2]!;
      expect(summarised.toolResults.map((r) => r.callId)).toEqual(['toolu_01']);

      const report = await s.clients.sessions.getUsageReport({ sessionId });
      const claude = sum([ANTHROPIC_TOOL, ANTHROPIC_ANSWER, ANTHROPIC_SUMMARY].map((t) => booked(anthropic, t)));
      expect(report.byModel).toEqual(
        [
          { model: anthropic.model, usage: claude },
          { model: google.model, usage: booked(google, GOOGLE_CHILD) },
          { model: 'llama3.1', usage: compatibleBooked },
          { model: chat.model, usage: booked(chat, OPENAI_TURN) },
        ].sort((a, b) => a.model.localeCompare(b.model)),
      );
      expect(report.bySource).toEqual([
        { source: 'compaction', usage: booked(anthropic, ANTHROPIC_SUMMARY) },
        { source: 'research', usage: booked(google, GOOGLE_CHILD) },
        {
          source: 'turn',
          usage: sum([booked(anthropic, ANTHROPIC_TOOL), booked(anthropic, ANTHROPIC_ANSWER), booked(chat, OPENAI_TURN), compatibleBooked]),
        },
      ]);
      const results = [delegated, onOpenai, onCompatible].map((t) => t.result!.usage!.total!);
      expect(report.total).toEqual(add(sum(results), booked(anthropic, ANTHROPIC_SUMMARY)));
      expect(sum(report.byModel.map((m) => m.usage!))).toEqual(report.total);
      expect(sum(report.bySourceAndModel.map((m) => m.usage!))).toEqual(report.total);
      // The child keeps its own ledger, which the parent's report sums.
      expect((await s.clients.sessions.getUsageReport({ sessionId: kid })).total).toEqual(booked(google, GOOGLE_CHILD));

      for (const fake of [chat, anthropic, google]) expect(fake.violations(), fake.provider).toEqual([]);
    });
  });
}
