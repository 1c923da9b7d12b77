// The observation feed over real gRPC: snapshot, resume from cursors exactly once and in order,
// gaps, heartbeats and restart survival (slow observers: feed-backpressure.test.ts). DOMAIN.md §8
// scenarios 36–38, 40–42.

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { GapReason } from '../../gen/lash/v1/feed.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { observe, payloadCase, sequenceProblems } from '../support/observe.js';
import { runTurn, startRunTurn, textInput, until } from '../support/turns.js';

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`observation feed on ${engine.name}`, () => {
    const suite = fakeModelSuite(engine, { prefix: 'feed', env: { LASH_FEED_HEARTBEAT_MS: '200', LASH_FEED_OBSERVER_BUFFER: '200' } });
    const open = () => suite.open();
    /** The cursor of a fresh observer's snapshot (the feed position "now"). */
    const cursorNow = async (sessionId: string) => {
      const o = observe(suite.s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      o.close();
      expect(o.messages[0]!.kind?.$case).toBe('snapshot');
      return o.messages[0]!.cursor;
    };

    it('without a cursor the first message is a snapshot with the read view and a cursor, then live events', async () => {
      const sessionId = await open();
      await runTurn(suite.s.clients, { sessionId, input: textInput('before') });
      const o = observe(suite.s.clients, sessionId);
      await o.waitFor((m) => m.length >= 1);
      const snap = o.messages[0]!;
      expect(snap.kind?.$case).toBe('snapshot');
      if (snap.kind?.$case !== 'snapshot') return;
      expect(snap.kind.value.messages).toHaveLength(2);
      expect(snap.kind.value.turnIndex).toBe(1n);
      expect(snap.cursor).not.toBe('');
      await runTurn(suite.s.clients, { sessionId, input: textInput('live one') });
      await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
      expect(o.events().map(payloadCase)).toContain('turnActivity');
      o.close();
    });

    it('36: resuming from a cursor taken before a turn delivers every event of the turn, then committed', async () => {
      const sessionId = await open();
      const cursor = await cursorNow(sessionId);
      suite.fake.script({ steps: [{ text: 'a' }, { text: 'b' }, { text: 'c' }] });
      const t = await runTurn(suite.s.clients, { sessionId, turnId: 'T', input: textInput('go') });
      const o = observe(suite.s.clients, sessionId, cursor);
      await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
      const events = o.events();
      const activities = events
        .filter((m) => payloadCase(m) === 'turnActivity')
        .map((m) => (m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'turnActivity' ? m.kind.value.payload.value.event!.id : ''));
      expect(activities).toEqual(t.events.map((e) => e.id));
      const committed = events.find((m) => payloadCase(m) === 'committed')!;
      expect(committed.kind).toMatchObject({ value: { payload: { value: { turnId: 'T', headRevision: t.result!.headRevision } } } });
      expect(events.indexOf(committed)).toBe(events.length - 1);
      expect(sequenceProblems(o.messages)).toEqual([]);
      expect(o.messages[0]!.kind?.$case).toBe('event'); // no snapshot when resuming inside the window
      o.close();
    });

    it('37: a cursor of another session names both ids; a malformed cursor is INVALID_ARGUMENT', async () => {
      const a = await open();
      const b = await open();
      const cursorOfB = await cursorNow(b);
      const wrong = observe(suite.s.clients, a, cursorOfB);
      await until(() => wrong.error !== undefined);
      expect(wrong.error?.code).toBe(status.INVALID_ARGUMENT);
      expect(wrong.error?.details).toContain(a);
      expect(wrong.error?.details).toContain(b);
      const junk = observe(suite.s.clients, a, 'not-a-cursor!');
      await until(() => junk.error !== undefined);
      expect(junk.error?.code).toBe(status.INVALID_ARGUMENT);
      const unknown = observe(suite.s.clients, 'no-such-session');
      await until(() => unknown.error !== undefined);
      expect(unknown.error?.code).toBe(status.NOT_FOUND);
    });

    it('38: a cursor from before turn 1, subscribed while turn 2 runs, gets turn 1 then turn 2 live with no duplicates or holes', async () => {
      const sessionId = await open();
      const cursor = await cursorNow(sessionId);
      await runTurn(suite.s.clients, { sessionId, turnId: 'one', input: textInput('first') });
      suite.fake.script({ steps: [{ text: 'x ' }, { delayMs: 150 }, { text: 'y ' }, { delayMs: 150 }, { text: 'z' }] });
      const two = startRunTurn(suite.s.clients, { sessionId, turnId: 'two', input: textInput('second') });
      await two.firstEvent;
      const o = observe(suite.s.clients, sessionId, cursor);
      await two.done;
      await o.waitFor((m) => m.filter((x) => payloadCase(x) === 'committed').length >= 2);
      expect(sequenceProblems(o.messages)).toEqual([]);
      const turnIds = o
        .events()
        .filter((m) => payloadCase(m) === 'turnActivity')
        .map((m) => (m.kind as { value: { payload: { value: { turnId: string } } } }).value.payload.value.turnId);
      expect(turnIds.indexOf('two')).toBeGreaterThan(turnIds.lastIndexOf('one'));
      expect(turnIds.filter((id) => id === 'two')).toHaveLength((await two.done).events.length);
      o.close();
    });

    it('40: a cursor older than retention gets gap{trimmed} then a fresh snapshot; a cursor ahead gets gap{unavailable}', async () => {
      const sessionId = await open();
      const old = await cursorNow(sessionId);
      await runTurn(suite.s.clients, { sessionId, input: textInput('one') });
      await runTurn(suite.s.clients, { sessionId, input: textInput('two') });
      await suite.s.app.feed.appender.flushed('default', sessionId);
      await suite.s.app.feed.store.trim(new Date(Date.now() + 60_000), 1); // retention: keep nothing older than the last commit
      const o = observe(suite.s.clients, sessionId, old);
      await o.waitFor((m) => m.length >= 2);
      expect(o.messages[0]!.kind).toMatchObject({ $case: 'gap', value: { reason: GapReason.GAP_REASON_TRIMMED, requestedCursor: old } });
      expect(o.messages[1]!.kind?.$case).toBe('snapshot');
      expect(o.messages[1]!.cursor).toBe(o.messages[0]!.cursor);
      o.close();
      const real = JSON.parse(Buffer.from(old, 'base64url').toString()) as Record<string, unknown>;
      const ahead = Buffer.from(JSON.stringify({ ...real, q: '999999' })).toString('base64url');
      const o2 = observe(suite.s.clients, sessionId, ahead);
      await o2.waitFor((m) => m.length >= 2);
      expect(o2.messages[0]!.kind).toMatchObject({ $case: 'gap', value: { reason: GapReason.GAP_REASON_UNAVAILABLE } });
      expect(o2.messages[1]!.kind?.$case).toBe('snapshot');
      o2.close();
    });

    it('a cursor from before the session was deleted and re-created is unavailable, not a resume', async () => {
      const sessionId = await open();
      await runTurn(suite.s.clients, { sessionId, input: textInput('first life') });
      await runTurn(suite.s.clients, { sessionId, input: textInput('first life again') });
      const o1 = observe(suite.s.clients, sessionId);
      await o1.waitFor((m) => m.length >= 1);
      o1.close();
      await suite.s.clients.sessions.deleteSession({ sessionId });
      await suite.s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      const o = observe(suite.s.clients, sessionId, o1.messages[0]!.cursor);
      await o.waitFor((m) => m.length >= 2);
      expect(o.messages[0]!.kind).toMatchObject({ $case: 'gap', value: { reason: GapReason.GAP_REASON_UNAVAILABLE } });
      expect(o.messages[1]!.kind?.$case).toBe('snapshot');
      o.close();
    });

    it('42: an idle stream carries heartbeats with the current cursor', async () => {
      const sessionId = await open();
      const o = observe(suite.s.clients, sessionId);
      await o.waitFor((m) => m.filter((x) => x.kind?.$case === 'heartbeat').length >= 2, 5_000);
      const beat = o.messages.find((x) => x.kind?.$case === 'heartbeat')!;
      expect(beat.cursor).toBe(o.messages[0]!.cursor);
      o.close();
    });

    it('enqueue-free admin changes appear in the feed as committed markers', async () => {
      const sessionId = await open();
      const cursor = await cursorNow(sessionId);
      await suite.s.clients.admin.appendMessages({ sessionId, messages: [{ id: '', role: 1, parts: [{ kind: { $case: 'text', value: { text: 'note' } } }] }] });
      const o = observe(suite.s.clients, sessionId, cursor);
      await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
      o.close();
    });

    it('resuming a backlog larger than the observer buffer delivers all of it to a client that keeps reading', async () => {
      const sessionId = await open();
      const cursor = await cursorNow(sessionId);
      suite.fake.script({ steps: Array.from({ length: 1500 }, (_, i) => ({ text: `t${i} ` })) });
      const t = await runTurn(suite.s.clients, { sessionId, input: textInput('long') });
      await suite.s.app.feed.appender.flushed('default', sessionId);
      const o = observe(suite.s.clients, sessionId, cursor);
      await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'), 30_000);
      expect(o.error).toBeUndefined();
      expect(o.events().filter((m) => payloadCase(m) === 'turnActivity')).toHaveLength(t.events.length);
      expect(sequenceProblems(o.messages)).toEqual([]);
      o.close();
    });

    it('41: after a server restart, resuming from a cursor loses nothing that was committed', async () => {
      const sessionId = await open();
      const cursor = await cursorNow(sessionId);
      const t = await runTurn(suite.s.clients, { sessionId, turnId: 'before-restart', input: textInput('remember me') });
      await suite.s.app.feed.appender.flushed('default', sessionId);
      await suite.s.stop();
      suite.s = await suite.s.restart();
      const o = observe(suite.s.clients, sessionId, cursor);
      await o.waitFor((m) => m.some((x) => payloadCase(x) === 'committed'));
      const ids = o.events().filter((m) => payloadCase(m) === 'turnActivity').length;
      expect(ids).toBe(t.events.length);
      expect(sequenceProblems(o.messages)).toEqual([]);
      o.close();
    });
  });
}
