// Text stays whole and identical everywhere (issue 12): characters the model sends split across
// stream chunks arrive whole in the turn's deltas, its result, GetTurn, the read view, the export
// and the observation feed; a half that never gets its pair is a visible provider error; the feed
// keeps delivering (and commits) around such turns; a non-finite number reads as one string
// wherever it enters (a tool, a remote tool, a model's arguments, an admin append). Real provider code against the fake model
// server, on each engine.

import { describe, expect, it } from 'vitest';
import { StopReason } from '../../gen/lash/v1/turn.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { TurnStatus } from '../../gen/lash/v1/turn_service.js';
import { EnqueueTurnInputRequest } from '../../gen/lash/v1/queue_service.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe, payloadCase } from '../support/observe.js';
import { connectToolHost } from '../support/tool-host.js';
import { deltasText, drainQueue, runTurn, textInput } from '../support/turns.js';

const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|\ufffd/;

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`text integrity on ${engine.name}`, () => {
    let n = 0;
    const open = async () => {
      const sessionId = `text-${++n}`;
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      return sessionId;
    };

    const suite = fakeModelSuite(engine, {
      prefix: 'text-integrity',
      env: {
        LASH_PROVIDER_BACKOFF_MS: '20',
        LASH_TOOLS: 'calculate',
        // Queued input is drained by the test (RunQueuedTurn), not by a background worker.
        LASH_QUEUE_WORKERS: '0',
      },
    });

    it('an astral character split between two chunks arrives whole in deltas, result, GetTurn, read view, export and feed', async () => {
      const sessionId = await open();
      const obs = observe(suite.s.clients, sessionId);
      await obs.waitFor((m) => m.length >= 1);
      const expected = 'man 👨 and family 👨‍👩‍👧 ok';
      // Split every astral character between its two UTF-16 halves, as providers do.
      const steps = [...expected].flatMap((ch) => (ch.length === 2 ? [{ text: ch[0]! }, { text: ch[1]! }] : [{ text: ch }]));
      suite.fake.script({ steps });
      const t = await runTurn(suite.s.clients, { sessionId, turnId: 'split', input: textInput('hi') });
      expect(t.error).toBeUndefined();
      const deltas = t.events.flatMap((e) => (e.kind?.$case === 'assistantProseDelta' ? [e.kind.value.text] : []));
      for (const d of deltas) expect(d).not.toMatch(LONE);
      expect(deltasText(t)).toBe(expected);
      expect(t.result?.assistantOutput?.rawText).toBe(expected);
      const got = await suite.s.clients.turns.getTurn({ sessionId, turnId: 'split' });
      expect(got.status).toBe(TurnStatus.TURN_STATUS_COMMITTED);
      expect(got.result?.assistantOutput?.rawText).toBe(expected);
      const view = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      const last = view.messages.at(-1)!;
      expect(last.parts.map((p) => (p.kind?.$case === 'text' ? p.kind.value.text : '')).join('')).toBe(expected);
      const exported = JSON.stringify((await suite.s.clients.sessions.exportSessionState({ sessionId })).state);
      expect(exported).toContain(JSON.stringify(expected).slice(1, -1));
      await obs.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
      const fed = obs.events().flatMap((m) => {
        const p = m.kind?.$case === 'event' ? m.kind.value.payload : undefined;
        return p?.$case === 'turnActivity' && p.value.event?.kind?.$case === 'assistantProseDelta' ? [p.value.event.kind.value.text] : [];
      });
      expect(fed.join('')).toBe(expected);
      obs.close();
    });

    it('a half character at the end of the stream is a visible provider error; the turn commits and the feed carries on', async () => {
      const sessionId = await open();
      const obs = observe(suite.s.clients, sessionId);
      await obs.waitFor((m) => m.length >= 1);
      suite.fake.script({ steps: [{ text: 'broken ' }, { text: '\ud83d' }] });
      const bad = await runTurn(suite.s.clients, { sessionId, input: textInput('hi') });
      expect(bad.error).toBeUndefined();
      expect(bad.result?.outcome?.$case).toBe('stopped');
      const stopped = bad.result?.outcome?.$case === 'stopped' ? bad.result.outcome.value : undefined;
      expect(stopped?.reason).toBe(StopReason.STOP_REASON_PROVIDER_ERROR);
      expect(stopped?.message).toMatch(/lone UTF-16 surrogate U\+D83D/);
      expect(deltasText(bad)).toBe('broken ');
      // The next, ordinary turn reaches observers in full, and nothing is reported interrupted.
      suite.fake.script({ steps: [{ text: 'fine' }] });
      const good = await runTurn(suite.s.clients, { sessionId, input: textInput('again') });
      expect(deltasText(good)).toBe('fine');
      await obs.waitFor((m) => m.filter((x) => payloadCase(x) === 'committed').length >= 2);
      expect(obs.events().map(payloadCase)).not.toContain('turnInterrupted');
      obs.close();
    });

    it('a tool result that overflows to Infinity reads "Infinity" in the stream, GetTurn, the read view, the export and the model request', async () => {
      const sessionId = await open();
      suite.fake.script({ steps: [{ toolCall: { name: 'calculate', args: { op: 'multiply', a: 1e308, b: 10 }, id: 'c1' } }] }, { steps: [{ text: 'big' }] });
      const t = await runTurn(suite.s.clients, { sessionId, turnId: 'inf', input: textInput('multiply') });
      expect(t.error).toBeUndefined();
      const completed = t.events.find((e) => e.kind?.$case === 'toolCallCompleted');
      const streamed = completed?.kind?.$case === 'toolCallCompleted' ? completed.kind.value.output : undefined;
      expect(streamed).toEqual({ result: 'Infinity' });
      const got = await suite.s.clients.turns.getTurn({ sessionId, turnId: 'inf' });
      expect(got.result?.toolCalls[0]?.output).toEqual({ result: 'Infinity' });
      const view = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      const results = view.messages.flatMap((m) => m.parts.flatMap((p) => (p.kind?.$case === 'toolResult' ? [p.kind.value.output] : [])));
      expect(results).toEqual([{ result: 'Infinity' }]);
      expect(JSON.stringify((await suite.s.clients.sessions.exportSessionState({ sessionId })).state)).toContain('"result":"Infinity"');
      // The second model call carries the tool result as the model sees it.
      expect(JSON.stringify(suite.fake.requests[1]?.body.messages)).toContain('Infinity');
    });

    it('queued input with NUL, control and astral characters reaches the model and reads back exactly', async () => {
      const sessionId = await open();
      const hard = 'q nul:\u0000|bell:\u0007|astral:\u{1F468}\u200D\u{1F469}|rtl:\u202e|e\u0301 end';
      await suite.s.clients.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId, input: textInput(hard) }));
      suite.fake.script({ steps: [{ text: 'seen' }] });
      const d = await drainQueue(suite.s.clients, { sessionId });
      expect(d.error).toBeUndefined();
      expect(d.result?.outcome?.$case).toBe('finished');
      expect(JSON.stringify(suite.fake.requests.at(-1)?.body.messages)).toContain(JSON.stringify(hard).slice(1, -1));
      const view = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' });
      const texts = view.messages.map((m) => m.parts.map((p) => (p.kind?.$case === 'text' ? p.kind.value.text : '')).join(''));
      expect(texts.some((t) => t.includes(hard))).toBe(true);
      expect(JSON.stringify((await suite.s.clients.sessions.exportSessionState({ sessionId })).state)).toContain(JSON.stringify(hard).slice(1, -1));
    });

    it("non-finite numbers from an admin append, a model's tool arguments and a remote tool result read as strings in the stream, GetTurn, the feed, the read view, the export and the model request", async () => {
      const sessionId = `text-${++n}`;
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec: { remoteTools: { bindings: [{ name: 'oracle' }] } } }));
      const obs = observe(suite.s.clients, sessionId);
      await obs.waitFor((m) => m.length >= 1);
      // Struct and Value carry Infinity and NaN as numbers; JSON text has no spelling for them.
      await suite.s.clients.admin.appendMessages({
        sessionId,
        messages: [
          {
            id: 'a1',
            role: 4,
            parts: [{ kind: { $case: 'toolResult', value: { callId: 'x', toolName: 't', output: { v: Infinity, n: NaN }, isError: false } } }],
          },
        ],
      });
      const received: unknown[] = [];
      const host = await connectToolHost(suite.s.clients, {
        sessionId,
        tools: [{ name: 'oracle' }],
        reply: (c) => {
          received.push(c.args);
          return { success: { v: -Infinity } };
        },
      });
      try {
        // 1e999 is legal JSON that JSON.parse reads as Infinity.
        suite.fake.script({ steps: [{ toolCall: { name: 'oracle', args: '{"x":1e999}', id: 'c1' } }] }, { steps: [{ text: 'ok' }] });
        const t = await runTurn(suite.s.clients, { sessionId, turnId: 'nf', input: textInput('go') });
        expect(t.error).toBeUndefined();
        expect(received).toEqual([{ x: 'Infinity' }]);
        const completed = t.events.find((e) => e.kind?.$case === 'toolCallCompleted');
        expect(completed?.kind?.$case === 'toolCallCompleted' && completed.kind.value).toMatchObject({ args: { x: 'Infinity' }, output: { v: '-Infinity' } });
        const started = t.events.find((e) => e.kind?.$case === 'toolCallStarted');
        expect(started?.kind?.$case === 'toolCallStarted' && started.kind.value.args).toEqual({ x: 'Infinity' });
        const got = await suite.s.clients.turns.getTurn({ sessionId, turnId: 'nf' });
        expect(got.result?.toolCalls[0]).toMatchObject({ args: { x: 'Infinity' }, output: { v: '-Infinity' } });
        const parts = (await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 0, pageToken: '' })).messages.flatMap((m) => m.parts);
        const values = parts.flatMap((p) => (p.kind?.$case === 'toolResult' ? [p.kind.value.output] : p.kind?.$case === 'toolCall' ? [p.kind.value.args] : []));
        expect(values).toEqual([{ v: 'Infinity', n: 'NaN' }, { x: 'Infinity' }, { v: '-Infinity' }]);
        const exported = JSON.stringify((await suite.s.clients.sessions.exportSessionState({ sessionId })).state);
        for (const x of ['"v":"Infinity","n":"NaN"', '"x":"Infinity"', '"v":"-Infinity"']) expect(exported).toContain(x);
        // What the model was shown on its second call: the same strings, no null.
        const shown = JSON.stringify(suite.fake.requests[1]?.body.messages);
        for (const x of ['{\\"v\\":\\"Infinity\\",\\"n\\":\\"NaN\\"}', '{\\"x\\":\\"Infinity\\"}', '{\\"v\\":\\"-Infinity\\"}']) expect(shown).toContain(x);
        for (const x of ['{\\"v\\":null', '{\\"x\\":null']) expect(shown).not.toContain(x);
        await obs.waitFor((m) =>
          m.some(
            (x) =>
              payloadCase(x) === 'committed' &&
              x.kind?.$case === 'event' &&
              x.kind.value.payload?.$case === 'committed' &&
              x.kind.value.payload.value.turnId === 'nf',
          ),
        );
        const fed = obs.events().flatMap((m) => {
          const p = m.kind?.$case === 'event' ? m.kind.value.payload : undefined;
          return p?.$case === 'turnActivity' && p.value.event?.kind?.$case === 'toolCallCompleted' ? [p.value.event.kind.value] : [];
        });
        expect(fed).toHaveLength(1);
        expect(fed[0]).toMatchObject({ args: { x: 'Infinity' }, output: { v: '-Infinity' } });
      } finally {
        host.close();
        obs.close();
      }
    });
  });
}
