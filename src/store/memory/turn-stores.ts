// The turn machinery's stores in memory: writer leases, turn admission, cancel requests,
// pending completions and blob reads, over the same tables as the session store.

import type { Admission, AdmissionRequest, AdmissionStore, BlobStore, CancelStore, EventBus, LeaseStore } from '../../domain/ports.js';
import type { CompletionResolution, CompletionStore } from '../../domain/tools/types.js';
import { waitForCondition } from '../../domain/wake.js';
import type { MemoryQueueStore } from './queue-store.js';
import type { MemorySessionStore } from './session-store.js';
import { copy, sessionKey, type MemoryTables } from './tables.js';

export class MemoryLeaseStore implements LeaseStore {
  constructor(private readonly tables: MemoryTables) {}

  async acquire(tenantId: string, sessionId: string, owner: string, ttlMs: number): Promise<bigint | undefined> {
    return this.tables.takeLease(tenantId, sessionId, owner, ttlMs);
  }

  async renew(tenantId: string, sessionId: string, owner: string, token: bigint, ttlMs: number): Promise<boolean> {
    const lease = this.tables.leases.get(sessionKey(tenantId, sessionId));
    if (!lease || lease.owner !== owner || lease.token !== token) return false;
    lease.expiresAt = this.tables.clock.nowMs() + ttlMs;
    return true;
  }

  async release(tenantId: string, sessionId: string, owner: string, token: bigint): Promise<void> {
    const key = sessionKey(tenantId, sessionId);
    const lease = this.tables.leases.get(key);
    if (lease?.owner === owner && lease.token === token) this.tables.leases.delete(key);
  }

  async keep(tenantId: string, sessionId: string, owner: string, token: bigint, idleOwner: string, lingerMs: number): Promise<boolean> {
    const lease = this.tables.leases.get(sessionKey(tenantId, sessionId));
    if (!lease || lease.owner !== owner || lease.token !== token) return false;
    lease.owner = idleOwner;
    lease.expiresAt = this.tables.clock.nowMs() + lingerMs;
    return true;
  }

  async heldFor(tenantId: string, sessionId: string, owner: string, token: bigint, minLeftMs: number): Promise<number | undefined> {
    return this.tables.heldFor(tenantId, sessionId, owner, token, minLeftMs);
  }

  async holder(tenantId: string, sessionId: string) {
    return this.tables.liveLease(tenantId, sessionId);
  }
}

export class MemoryCancelStore implements CancelStore {
  constructor(private readonly tables: MemoryTables) {}

  async request(tenantId: string, sessionId: string, turnId: string): Promise<void> {
    this.tables.cancels.set(`${sessionKey(tenantId, sessionId)}\u0000${turnId}`, this.tables.clock.now());
  }

  async isCancelled(tenantId: string, sessionId: string, turnId: string, since: Date): Promise<boolean> {
    return this.cancelledNow(tenantId, sessionId, turnId, since);
  }

  /** True if this turn, or every turn of the session since `since`, was cancelled. */
  cancelledNow(tenantId: string, sessionId: string, turnId: string | undefined, since: Date | undefined): boolean {
    const key = sessionKey(tenantId, sessionId);
    if (turnId !== undefined && this.tables.cancels.has(`${key}\u0000${turnId}`)) return true;
    const all = this.tables.cancels.get(`${key}\u0000*`);
    return all !== undefined && since !== undefined && all >= since;
  }
}

/** Admission in one step: the lease taken (or found held) and what a turn starts from, read. */
export class MemoryAdmissionStore implements AdmissionStore {
  constructor(
    private readonly tables: MemoryTables,
    private readonly sessions: MemorySessionStore,
    private readonly queue: MemoryQueueStore,
    private readonly cancels: MemoryCancelStore,
  ) {}

  async admit(req: AdmissionRequest): Promise<Admission> {
    const { tenantId, sessionId, held } = req;
    // Under the replica's idle lease while it is still ours with enough left; else taken (ADR 0079).
    const heldLeftMs = held && this.tables.heldFor(tenantId, sessionId, held.owner, held.token, held.minLeftMs);
    const token = heldLeftMs !== undefined ? held!.token : this.tables.takeLease(tenantId, sessionId, req.owner, req.ttlMs);
    const { head, turn } = await this.sessions.headAndTurn(tenantId, sessionId, req.turnId);
    const open = this.tables.feeds.get(sessionKey(tenantId, sessionId))?.openTurnId;
    // The open turn counts only when it never committed (its marker may still be on its way).
    const openCommitted = open !== undefined && (await this.sessions.findTurn(tenantId, sessionId, open)) !== undefined;
    return {
      token,
      ...(heldLeftMs !== undefined ? { heldLeftMs } : {}),
      head,
      turn,
      cancelled: this.cancels.cancelledNow(tenantId, sessionId, req.turnId, req.cancelledSince),
      openTurnId: openCommitted ? undefined : open,
      queue: this.queue.openBatches(tenantId, sessionId),
    };
  }
}

export class MemoryBlobStore implements BlobStore {
  constructor(private readonly sessions: MemorySessionStore) {}

  async load(hash: string) {
    return this.sessions.blob(hash);
  }
}

/** Completions in memory, woken through the bus, with a slow poll as a safety net. */
export class MemoryCompletionStore implements CompletionStore {
  constructor(
    private readonly tables: MemoryTables,
    private readonly bus: EventBus,
    private readonly pollMs = 2000,
  ) {}

  async register(key: string, owner: { tenantId: string; sessionId: string; turnId: string; callId: string }): Promise<void> {
    const k = `${owner.tenantId}\u0000${key}`;
    if (!this.tables.completions.has(k)) this.tables.completions.set(k, { sessionId: owner.sessionId });
  }

  async resolve(tenantId: string, key: string, resolution: CompletionResolution) {
    const row = this.tables.completions.get(`${tenantId}\u0000${key}`);
    if (!row) return { outcome: 'unknown' as const };
    if (row.resolution) return { outcome: 'already_resolved' as const, first: copy(row.resolution) };
    row.resolution = copy(resolution);
    await this.bus.publish('completion', { tenantId, key });
    return { outcome: 'accepted' as const };
  }

  wait(tenantId: string, key: string, signal: AbortSignal): Promise<CompletionResolution> {
    const check = async () => {
      const r = this.tables.completions.get(`${tenantId}\u0000${key}`)?.resolution;
      return r && copy(r);
    };
    return waitForCondition<CompletionResolution>({
      bus: this.bus,
      topic: 'completion',
      relevant: (p) => p.tenantId === tenantId && p.key === key,
      check,
      pollMs: this.pollMs,
      signal,
      onAbort: () => ({ value: { kind: 'cancelled' } }),
    });
  }
}
