// Contract of the ProcessStore and TriggerStore on each store (memory, PGlite, PostgreSQL): idempotent creation, claims with
// fencing tokens (a stale runner can neither renew nor finish), takeover of expired claims,
// gap-free idempotent event logs, overdue processes failed once, detaching a deleted session,
// and each schedule due time taken by exactly one of several concurrent callers.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewProcess } from '../../src/domain/processes/types.js';
import type { ProcessStore, TriggerStore } from '../../src/domain/processes/ports.js';
import { nextDue } from '../../src/domain/processes/schedule.js';
import { storeEngines } from '../support/store-engines.js';

let n = 0;
const proc = (over: Partial<NewProcess> = {}): NewProcess => ({
  tenantId: 't',
  processId: `p-${String(++n).padStart(6, '0')}`,
  kind: 'notify',
  input: { task: 'x' },
  startedBy: 'host',
  deadlineAt: new Date(Date.now() + 60_000),
  status: 'pending',
  ...over,
});

for (const engine of storeEngines) {
  describe.skipIf(!engine.enabled)(`process and trigger store contract on ${engine.name}`, () => {
    let store: ProcessStore;
    let triggers: TriggerStore;
    let close: () => Promise<void>;
    beforeAll(async () => {
      const opened = await engine.open();
      store = opened.processes;
      triggers = opened.triggers;
      close = opened.close;
    });
    afterAll(async () => close?.());

    it('creates once per idempotency key, with a created event', async () => {
      const first = await store.create(proc({ idempotencyKey: 'k1', scopeSessionId: 's1' }));
      expect(first).toMatchObject({ deduplicated: false, process: { status: 'pending', eventSeq: 1n, attempts: 0, scopeSessionId: 's1' } });
      const again = await store.create(proc({ idempotencyKey: 'k1' }));
      expect(again).toMatchObject({ deduplicated: true, process: { processId: first.process.processId } });
      expect((await store.getByKey('t', 'k1'))?.processId).toBe(first.process.processId);
      expect((await store.events('t', first.process.processId, 0n, 10)).map((e) => [e.seq, e.kind])).toEqual([[1n, 'created']]);
      expect(await store.countActive('t', 's1')).toMatchObject({ scope: 1 });
    });

    it('claims with fencing: a stale runner can neither renew nor finish; an expired claim is taken over', async () => {
      const { process } = await store.create(proc({ kind: 'session_turn' }));
      const a = await store.claimNext('runner-a', 60_000, ['session_turn']);
      expect(a).toMatchObject({ processId: process.processId, status: 'running', attempts: 1, claim: { owner: 'runner-a' } });
      // Held: nobody else claims it.
      expect(await store.claimNext('runner-b', 60_000, ['session_turn'])).toBeUndefined();
      // Expire it (a runner that died stops renewing).
      expect(await store.renew('t', process.processId, a!.claim!.token, 0.001)).toBe(true);
      await new Promise((r) => setTimeout(r, 20));
      const b = await store.claimNext('runner-b', 60_000, ['session_turn']);
      expect(b).toMatchObject({ processId: process.processId, attempts: 2, claim: { owner: 'runner-b', token: a!.claim!.token + 1n } });
      expect(await store.renew('t', process.processId, a!.claim!.token, 60_000)).toBe(false);
      expect(await store.finish('t', process.processId, { status: 'completed', output: 'stale' }, a!.claim!.token)).toBeUndefined();
      const done = await store.finish('t', process.processId, { status: 'completed', output: { ok: 1 } }, b!.claim!.token);
      expect(done).toMatchObject({ status: 'completed', output: { ok: 1 }, claim: undefined });
      // Finished once: a second finish (cancel racing the runner) changes nothing.
      expect(await store.finish('t', process.processId, { status: 'cancelled' }, undefined)).toBeUndefined();
      expect((await store.events('t', process.processId, 0n, 10)).map((e) => e.kind)).toEqual(['created', 'completed']);
    });

    it('only runnable kinds are claimed; external processes wait for their signal', async () => {
      const { process } = await store.create(proc({ kind: 'external', status: 'running' }));
      expect(await store.claimNext('r', 60_000, ['session_turn', 'notify', 'external'])).not.toMatchObject({ processId: process.processId });
    });

    it('event logs are gap-free and idempotent per key', async () => {
      const { process } = await store.create(proc());
      const id = process.processId;
      const results = await Promise.all(['a', 'b', 'c', 'a', 'b'].map((k) => store.appendEvent('t', id, 'note', k, { k })));
      expect(new Set(results.map((e) => e!.seq)).size).toBe(3);
      const events = await store.events('t', id, 0n, 100);
      expect(events.map((e) => e.idempotencyKey).sort()).toEqual(['a', 'b', 'c', 'created']);
      expect(events.map((e) => e.seq)).toEqual([1n, 2n, 3n, 4n]);
      expect((await store.events('t', id, 2n, 100)).every((e) => e.seq > 2n)).toBe(true);
    });

    it('fails overdue processes once and marks their wakes to deliver', async () => {
      const { process } = await store.create(proc({ deadlineAt: new Date(Date.now() - 1), wakeSessionId: 'w' }));
      const failed = await store.failOverdue(100);
      expect(failed.find((p) => p.processId === process.processId)).toMatchObject({ status: 'failed', wakeState: 'pending' });
      expect((await store.failOverdue(100)).find((p) => p.processId === process.processId)).toBeUndefined();
      expect((await store.pendingWakes(100)).some((p) => p.processId === process.processId)).toBe(true);
      await store.setWakeState('t', process.processId, 'delivered');
      expect((await store.pendingWakes(100)).some((p) => p.processId === process.processId)).toBe(false);
    });

    it('detaching a deleted session revokes its wakes and grants and reports orphaned and kept processes', async () => {
      const live = (await store.create(proc({ kind: 'external', status: 'running', scopeSessionId: 'gone', wakeSessionId: 'gone' }))).process;
      const done = (await store.create(proc({ kind: 'external', status: 'running', scopeSessionId: 'gone' }))).process;
      await store.finish('t', done.processId, { status: 'completed' }, undefined);
      expect(await store.detachSession('t', 'gone')).toEqual({ orphaned: [live.processId], kept: [done.processId] });
      const after = await store.finish('t', live.processId, { status: 'completed' }, undefined);
      expect(after).toMatchObject({ scopeSessionId: undefined, wakeState: 'revoked' });
    });

    it('finds the active session_turn processes whose turn runs in a session (named or their own)', async () => {
      const named = (await store.create(proc({ kind: 'session_turn', input: { task: 'x', sessionId: 'host-s' } }))).process;
      const own = (await store.create(proc({ kind: 'session_turn' }))).process;
      await store.create(proc({ kind: 'external', status: 'running', input: { sessionId: 'host-s' } }));
      expect(await store.runningIn('t', 'host-s')).toEqual([named.processId]);
      expect(await store.runningIn('t', `process-${own.processId}`)).toEqual([own.processId]);
      await store.finish('t', named.processId, { status: 'failed' }, undefined);
      expect(await store.runningIn('t', 'host-s')).toEqual([]);
      expect(await store.runningIn('other', `process-${own.processId}`)).toEqual([]);
    });

    it('retention deletes finished processes and their events, oldest first, at most a batch per call, never one with a wake to deliver', async () => {
      const mk = async (wake: boolean) => {
        const p = (await store.create(proc({ tenantId: 'ret', kind: 'external', status: 'running', wakeSessionId: wake ? 'w' : undefined }))).process;
        await store.appendEvent('ret', p.processId, 'signal', 'sig', { n: 1 });
        await store.finish('ret', p.processId, { status: 'completed' }, undefined);
        return p.processId;
      };
      const later = new Date(Date.now() + 60_000);
      // What earlier tests left finished goes first (oldest first).
      while ((await store.purgeFinished(later, 100)) > 0);
      const [a, b, c] = [await mk(false), await mk(false), await mk(false)];
      const waking = await mk(true);
      const active = (await store.create(proc({ tenantId: 'ret', kind: 'external', status: 'running' }))).process.processId;
      expect(await store.purgeFinished(new Date(Date.now() - 60_000), 10)).toBe(0);
      expect(await store.purgeFinished(later, 2)).toBe(2);
      expect(await store.get('ret', a)).toBeUndefined();
      expect(await store.get('ret', b)).toBeUndefined();
      expect(await store.events('ret', a, 0n, 10)).toEqual([]);
      expect(await store.get('ret', c)).toBeDefined();
      expect(await store.purgeFinished(later, 10)).toBe(1);
      expect(await store.get('ret', c)).toBeUndefined();
      // A wake still to deliver keeps its process; delivered, it may go.
      expect(await store.get('ret', waking)).toBeDefined();
      expect(await store.get('ret', active)).toBeDefined();
      await store.setWakeState('ret', waking, 'delivered');
      await store.purgeFinished(later, 10);
      expect(await store.get('ret', waking)).toBeUndefined();
      expect(await store.get('ret', active)).toBeDefined();
    });

    it('each due time of a schedule is taken by one caller only', async () => {
      await triggers.put({
        tenantId: 't',
        subscriptionId: 'sched',
        sourceType: 'schedule',
        sourceKey: 'k',
        template: { kind: 'notify' },
        intervalMs: 60_000,
        nextDueAt: new Date(Date.now() - 10),
        createdAt: new Date(),
      });
      const taken = (await Promise.all([triggers.takeDue(10, nextDue), triggers.takeDue(10, nextDue), triggers.takeDue(10, nextDue)]))
        .flat()
        .filter((d) => d.subscription.subscriptionId === 'sched');
      expect(taken).toHaveLength(1);
      expect(taken[0]!.subscription.nextDueAt!.getTime()).toBe(taken[0]!.dueAt.getTime() + 60_000);
      expect((await triggers.takeDue(10, nextDue)).filter((d) => d.subscription.subscriptionId === 'sched')).toEqual([]);
      // Missed due times collapse into one: the next is the first after now.
      await triggers.put({
        tenantId: 't',
        subscriptionId: 'late',
        sourceType: 'schedule',
        sourceKey: 'k',
        template: { kind: 'notify' },
        intervalMs: 1_000,
        nextDueAt: new Date(Date.now() - 10_500),
        createdAt: new Date(),
      });
      const [late] = (await triggers.takeDue(10, nextDue)).filter((d) => d.subscription.subscriptionId === 'late');
      expect(late!.subscription.nextDueAt!.getTime()).toBeGreaterThan(Date.now() - 100);
      expect((late!.subscription.nextDueAt!.getTime() - late!.dueAt.getTime()) % 1_000).toBe(0);
    });

    it('a cron schedule is taken once per due time and moves to its next cron time after now', async () => {
      const due = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 120_000);
      await triggers.put({
        tenantId: 't',
        subscriptionId: 'cron',
        sourceType: 'schedule',
        sourceKey: 'k',
        template: { kind: 'notify' },
        cron: '30 * * * * *',
        timeZone: 'Asia/Kolkata',
        nextDueAt: due,
        createdAt: new Date(),
      });
      const taken = (await Promise.all([triggers.takeDue(10, nextDue), triggers.takeDue(10, nextDue), triggers.takeDue(10, nextDue)]))
        .flat()
        .filter((d) => d.subscription.subscriptionId === 'cron');
      expect(taken).toHaveLength(1);
      expect(taken[0]!.dueAt.getTime()).toBe(due.getTime());
      // Missed times collapse: the next is the first second-30 mark after now, read back as stored.
      const next = (await triggers.get('t', 'cron'))!;
      expect(next).toMatchObject({ cron: '30 * * * * *', timeZone: 'Asia/Kolkata' });
      expect(next.nextDueAt!.getTime()).toBeGreaterThan(Date.now() - 5_000);
      expect(next.nextDueAt!.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
      expect(next.nextDueAt!.getUTCSeconds()).toBe(30);
      expect((await triggers.takeDue(10, nextDue)).filter((d) => d.subscription.subscriptionId === 'cron')).toEqual([]);
    });
  });
}
