// Property test through the whole path (issue 12): random text — astral characters split between
// chunks at every position, combining marks, right-to-left marks, control characters, NUL — and
// random JSON (deep nesting, large and non-finite numbers) go in as model output, user input and remote tool
// results; the RunTurn stream, GetTurn, the observation feed, the read view and the export must
// agree exactly. Seeded, so a failure names a reproducible case. Real provider code against the
// fake model server, a real remote tool host, on each engine.

import { describe, expect, it } from 'vitest';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { type ScriptStep } from '../support/fake-model-server.js';
import { observe, payloadCase } from '../support/observe.js';
import { seeded as rng } from '../support/hostile-requests.js';
import { connectToolHost } from '../support/tool-host.js';
import { deltasText, runTurn, textInput } from '../support/turns.js';

const POOL = [
  'a',
  'Z',
  ' ',
  '\n',
  '\t',
  '\u0000',
  '\u0001',
  '\u001f',
  '\u007f',
  'é',
  'e\u0301',
  '\u05d0',
  '\u202e',
  '\u200f',
  '\u200d',
  '中',
  '😀',
  '👨‍👩‍👧',
  '𝄞',
  '\ufeff',
  '"',
  '\\',
  '5n',
  "'",
];

function randomText(next: () => number, max = 24): string {
  let s = '';
  const len = 1 + Math.floor(next() * max);
  for (let i = 0; i < len; i++) s += POOL[Math.floor(next() * POOL.length)]!;
  return s;
}

/** Splits text at random UTF-16 positions — between the halves of astral characters too. */
function chunks(next: () => number, text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const n = 1 + Math.floor(next() * 4);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

function randomJson(next: () => number, depth: number): unknown {
  const r = next();
  if (depth <= 0 || r < 0.3) {
    const k = Math.floor(next() * 5);
    return k === 0
      ? randomText(next, 6)
      : k === 1
        ? Math.floor(next() * 2 ** 52) * (next() < 0.5 ? -1 : 1)
        : k === 2
          ? next() < 0.2
            ? [Infinity, -Infinity, NaN][Math.floor(next() * 3)]!
            : next() * 1e300
          : k === 3
            ? next() < 0.5
            : null;
  }
  if (r < 0.65) return Array.from({ length: 1 + Math.floor(next() * 3) }, () => randomJson(next, depth - 1));
  return Object.fromEntries(Array.from({ length: 1 + Math.floor(next() * 3) }, () => [randomText(next, 4), randomJson(next, depth - 1)]));
}

/** A value as lash spells it everywhere: non-finite numbers as the strings "Infinity", "-Infinity", "NaN". */
const spelled = (v: unknown): unknown =>
  typeof v === 'number' && !Number.isFinite(v)
    ? String(v)
    : Array.isArray(v)
      ? v.map(spelled)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, spelled(x)]))
        : v;

const textOfParts = (parts: { kind?: { $case: string; value: unknown } }[]) =>
  parts.map((p) => (p.kind?.$case === 'text' ? (p.kind.value as { text: string }).text : '')).join('');
const feedDeltas = (ms: FeedMessage[], turnId: string) =>
  ms.flatMap((m) => {
    const p = m.kind?.$case === 'event' ? m.kind.value.payload : undefined;
    return p?.$case === 'turnActivity' && p.value.turnId === turnId && p.value.event?.kind?.$case === 'assistantProseDelta'
      ? [p.value.event.kind.value.text]
      : [];
  });

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`text and JSON properties on ${engine.name}`, () => {
    const suite = fakeModelSuite(engine, {
      prefix: 'text-properties',
      env: {
        LASH_PROVIDER_BACKOFF_MS: '20',
      },
      reset: false,
    });
    /** Every message of the read view, page after page. */
    const readView = async (sessionId: string) => {
      const all = [];
      let pageToken = '';
      do {
        const page = await suite.s.clients.sessions.getReadView({ sessionId, pageSize: 100, pageToken });
        all.push(...page.messages);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return all;
    };

    it('model output, user input and remote tool results agree exactly in the stream, GetTurn, the feed, the read view and the export', async () => {
      const next = rng(20261127);
      const sessionId = 'props';
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec: { remoteTools: { bindings: [{ name: 'oracle' }] } } }));
      const obs = observe(suite.s.clients, sessionId);
      await obs.waitFor((m) => m.length >= 1);
      let turn = 0;
      for (let round = 0; round < 12; round++) {
        const answer = randomText(next);
        const input = randomText(next);
        const turnId = `p${++turn}`;
        suite.fake.script({ steps: chunks(next, answer).map((text): ScriptStep => ({ text })) });
        const t = await runTurn(suite.s.clients, { sessionId, turnId, input: textInput(input) });
        const where = `round ${round}: ${JSON.stringify(answer)} / ${JSON.stringify(input)}`;
        expect(t.error, where).toBeUndefined();
        expect(deltasText(t), where).toBe(answer);
        expect(t.result?.assistantOutput?.rawText, where).toBe(answer);
        const got = await suite.s.clients.turns.getTurn({ sessionId, turnId });
        expect(got.result, where).toEqual(t.result);
        const [user, assistant] = (await readView(sessionId)).slice(-2);
        expect(textOfParts(user!.parts), where).toBe(input);
        expect(textOfParts(assistant!.parts), where).toBe(answer);
        await obs.waitFor((m) =>
          m.some(
            (x) =>
              payloadCase(x) === 'committed' &&
              x.kind?.$case === 'event' &&
              x.kind.value.payload?.$case === 'committed' &&
              x.kind.value.payload.value.turnId === turnId,
          ),
        );
        expect(feedDeltas(obs.messages, turnId).join(''), where).toBe(answer);
      }
      // Remote tool results: deep JSON with large numbers and hostile strings.
      // Strings that look like the old bigint spelling ("5n") must stay strings.
      const values = [
        '5n',
        { count: '-12n', list: ['7n'] },
        { inf: Infinity, list: [-Infinity, NaN] },
        ...Array.from({ length: 6 }, () => randomJson(next, 12)),
      ];
      let call = 0;
      const host = await connectToolHost(suite.s.clients, {
        sessionId,
        tools: [{ name: 'oracle' }],
        reply: (c) => {
          call++;
          return { success: values[Number(c.callId.slice(1))] };
        },
      });
      try {
        for (let i = 0; i < values.length; i++) {
          const turnId = `tool${i}`;
          suite.fake.script({ steps: [{ toolCall: { name: 'oracle', args: {}, id: `c${i}` } }] }, { steps: [{ text: 'ok' }] });
          const t = await runTurn(suite.s.clients, { sessionId, turnId, input: textInput('ask') });
          const where = `tool ${i}: ${JSON.stringify(values[i], (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `<${v}>` : v))}`;
          const expected = spelled(values[i]);
          const completed = t.events.find((e) => e.kind?.$case === 'toolCallCompleted');
          const streamed = completed?.kind?.$case === 'toolCallCompleted' ? completed.kind.value.output : undefined;
          expect(streamed, where).toEqual(expected);
          expect((await suite.s.clients.turns.getTurn({ sessionId, turnId })).result?.toolCalls[0]?.output, where).toEqual(expected);
          const results = (await readView(sessionId)).flatMap((m) =>
            m.parts.flatMap((p) => (p.kind?.$case === 'toolResult' && p.kind.value.callId === `c${i}` ? [p.kind.value.output] : [])),
          );
          expect(results, where).toEqual([expected]);
          await obs.waitFor((m) =>
            m.some((x) => x.kind?.$case === 'event' && x.kind.value.payload?.$case === 'committed' && x.kind.value.payload.value.turnId === turnId),
          );
          const fed = obs.events().flatMap((m) => {
            const p = m.kind?.$case === 'event' ? m.kind.value.payload : undefined;
            return p?.$case === 'turnActivity' && p.value.turnId === turnId && p.value.event?.kind?.$case === 'toolCallCompleted'
              ? [p.value.event.kind.value.output]
              : [];
          });
          expect(fed, where).toEqual([expected]);
        }
        expect(call).toBe(values.length); // each tool call reached the host once
      } finally {
        host.close();
      }
      // The export holds the same texts, byte for byte.
      const exported = await suite.s.clients.sessions.exportSessionState({ sessionId });
      const texts = (await readView(sessionId)).map((m) => textOfParts(m.parts)).filter(Boolean);
      const exportedJson = JSON.stringify(exported.state);
      for (const text of texts) expect(exportedJson).toContain(JSON.stringify(text).slice(1, -1));
      expect(obs.events().map(payloadCase)).not.toContain('turnInterrupted');
      obs.close();
    });
  });
}
