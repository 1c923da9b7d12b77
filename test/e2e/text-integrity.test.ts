// Text stays whole and identical everywhere (issue 12): characters the model sends split across
// stream chunks arrive whole in the turn's deltas, its result, GetTurn, the read view, the export
// and the observation feed; a half that never gets its pair is a visible provider error; the feed
// keeps delivering (and commits) around such turns. Real provider code against the fake model
// server, on each engine.

import { describe, expect, it } from 'vitest';
import { StopReason } from '../../gen/lash/v1/turn.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { TurnStatus } from '../../gen/lash/v1/turn_service.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe, payloadCase } from '../support/observe.js';
import { deltasText, runTurn, textInput } from '../support/turns.js';

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
  });
}
