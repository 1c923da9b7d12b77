// QueueStore in memory: idempotent enqueue, claims in queue order with a fencing token that
// every claim bumps, takeover of another owner's claim by the session's writer, and ready
// sessions that skip a session whose writer holds its lease. See src/store/queue-store.ts.

import type { QueueStore } from '../../domain/ports.js';
import { isPending, type QueueBatch } from '../../domain/queue/types.js';
import { copy, sessionKey, type MemoryTables, type QueueRow } from './tables.js';

export class MemoryQueueStore implements QueueStore {
  constructor(private readonly tables: MemoryTables) {}

  async enqueue(b: QueueBatch) {
    if (b.id !== undefined) {
      const existing = this.rows(b.tenantId, b.sessionId).find((r) => r.batch.id === b.id);
      if (existing) return { batch: this.out(existing), deduplicated: true };
    }
    // Batch ids are unique across the store, as the database's key is.
    if (this.tables.queue.has(b.batchId)) throw new Error(`queue batch id "${b.batchId}" is already taken`);
    const row: QueueRow = { batch: { ...copy(b), enqueueSeq: ++this.tables.queueSeq, state: 'pending', claim: undefined, turnId: undefined }, token: 0n };
    this.tables.queue.set(b.batchId, row);
    return { batch: this.out(row), deduplicated: false };
  }

  async get(tenantId: string, sessionId: string, batchId: string) {
    const row = this.tables.queue.get(batchId);
    return row && row.batch.tenantId === tenantId && row.batch.sessionId === sessionId ? this.out(row) : undefined;
  }

  async listPending(tenantId: string, sessionId: string) {
    const now = this.tables.clock.now();
    return this.rows(tenantId, sessionId)
      .filter((r) => isPending(r.batch, now))
      .map((r) => this.out(r));
  }

  async cancel(tenantId: string, sessionId: string, batchId: string) {
    const row = this.tables.queue.get(batchId);
    if (!row || row.batch.tenantId !== tenantId || row.batch.sessionId !== sessionId) return { outcome: 'not_found' as const };
    if (isPending(row.batch, this.tables.clock.now())) {
      row.batch.state = 'cancelled';
      row.batch.claim = undefined;
      row.finishedAt = this.tables.clock.now();
      return { outcome: 'cancelled' as const, batch: this.out(row) };
    }
    return { outcome: row.batch.state === 'claimed' ? ('already_claimed' as const) : ('already_done' as const), batch: this.out(row) };
  }

  async claim(tenantId: string, sessionId: string, owner: string, ttlMs: number, select: (pending: QueueBatch[]) => QueueBatch[]) {
    // Chosen and claimed in one step, so there is no race to guard against (the database needs
    // its optimistic claim and locking fallback for that).
    const now = this.tables.clock.now();
    const claimable = this.rows(tenantId, sessionId)
      .filter((r) => r.batch.state === 'pending' || r.batch.state === 'claimed')
      .filter((r) => isPending(r.batch, now) || r.batch.claim?.owner !== owner);
    const chosen = select(claimable.map((r) => this.out(r)));
    const expiresAt = new Date(now.getTime() + ttlMs);
    return chosen.map((b) => {
      const row = this.tables.queue.get(b.batchId)!;
      row.token += 1n;
      row.batch.state = 'claimed';
      row.batch.claim = { owner, token: row.token, expiresAt };
      return this.out(row);
    });
  }

  async renew(claims: { batchId: string; token: bigint }[], ttlMs: number) {
    const expiresAt = new Date(this.tables.clock.nowMs() + ttlMs);
    for (const c of claims) {
      const row = this.held(c);
      if (row) row.batch.claim = { ...row.batch.claim!, expiresAt };
    }
  }

  async release(claims: { batchId: string; token: bigint }[]) {
    for (const c of claims) {
      const row = this.held(c);
      if (!row) continue;
      row.batch.state = 'pending';
      row.batch.claim = undefined;
    }
  }

  async readySessions(limit: number) {
    const now = this.tables.clock.now();
    const ready = new Map<string, { tenantId: string; sessionId: string }>();
    for (const { batch: b } of this.tables.queue.values()) {
      if (ready.size >= limit) break;
      if (!isPending(b, now) || b.availableAt > now) continue;
      if (this.tables.liveLease(b.tenantId, b.sessionId)) continue;
      ready.set(sessionKey(b.tenantId, b.sessionId), { tenantId: b.tenantId, sessionId: b.sessionId });
    }
    return [...ready.values()];
  }

  async purgeFinished(olderThan: Date) {
    let purged = 0;
    for (const [id, row] of this.tables.queue) {
      if ((row.batch.state === 'done' || row.batch.state === 'cancelled') && row.finishedAt && row.finishedAt < olderThan) {
        this.tables.queue.delete(id);
        purged += 1;
      }
    }
    return purged;
  }

  /** Open batches of every session by state (the queue-depth metric). */
  async depth(): Promise<{ state: string; count: number }[]> {
    const counts = new Map<string, number>();
    for (const { batch } of this.tables.queue.values())
      if (batch.state === 'pending' || batch.state === 'claimed') counts.set(batch.state, (counts.get(batch.state) ?? 0) + 1);
    return [...counts].map(([state, count]) => ({ state, count }));
  }

  /** A session's open batches (pending or claimed), in enqueue order. */
  openBatches(tenantId: string, sessionId: string): QueueBatch[] {
    return this.rows(tenantId, sessionId)
      .filter((r) => r.batch.state === 'pending' || r.batch.state === 'claimed')
      .map((r) => this.out(r));
  }

  /** Whether the claim is still held (its token is the batch's latest). */
  isHeld(claim: { batchId: string; token: bigint }): boolean {
    return this.held(claim) !== undefined;
  }

  /** Completes a held claim (call only after `isHeld`). */
  complete(claim: { batchId: string; token: bigint }, turnId: string | undefined): void {
    const row = this.held(claim)!;
    row.batch.state = 'done';
    row.batch.turnId = turnId;
    row.batch.claim = undefined;
    row.finishedAt = this.tables.clock.now();
  }

  private held(c: { batchId: string; token: bigint }): QueueRow | undefined {
    const row = this.tables.queue.get(c.batchId);
    return row && row.token === c.token && row.batch.state === 'claimed' ? row : undefined;
  }

  private rows(tenantId: string, sessionId: string): QueueRow[] {
    return [...this.tables.queue.values()].filter((r) => r.batch.tenantId === tenantId && r.batch.sessionId === sessionId);
  }

  private out(row: QueueRow): QueueBatch {
    return { ...copy(row.batch), version: row.token };
  }
}
