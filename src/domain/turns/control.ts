// Finding and stopping turns wherever they run: status by turn id (running here, committed, or
// holding the writer lease on another replica), cancellation of one turn (also before it
// starts) and the stop button for a session. Cancels reach other replicas over the bus.

import { notFound } from '../errors.js';
import { requireSession } from '../require-session.js';
import { requireId } from '../ids.js';
import type { CancelStore, EventBus, LeaseStore, RequestContext, SessionStore } from '../ports.js';
import { SessionWriters } from '../session-writers.js';
import type { TurnRegistry } from './registry.js';
import { resultFromJson, type TurnResult } from './types.js';

export type TurnStatus = { status: 'running' } | { status: 'committed'; result: TurnResult } | { status: 'interrupted' };

export interface ControlDeps {
  store: Pick<SessionStore, 'findTurn' | 'getHead'>;
  leases: Pick<LeaseStore, 'holder'>;
  cancels: CancelStore;
  bus: EventBus;
  replicaId: string;
  /** True when the turn's events reached the feed but it never committed (its process died). */
  wasInterrupted?(tenantId: string, sessionId: string, turnId: string): Promise<boolean>;
  /** The turn whose events the feed holds with no commit or interruption after them (FeedStore.openTurn). */
  openTurn?(tenantId: string, sessionId: string): Promise<string | undefined>;
}

export class TurnControl {
  constructor(
    private readonly deps: ControlDeps,
    private readonly registry: TurnRegistry,
  ) {}

  /** Running here, committed, interrupted (its process died), or running elsewhere (its writer lease says so). */
  async get(ctx: RequestContext, sessionId: string, turnId: string): Promise<TurnStatus> {
    requireId('session_id', sessionId);
    requireId('turn_id', turnId);
    const local = this.registry.get(ctx.tenantId, sessionId, turnId);
    if (local && !local.settled) return { status: 'running' };
    const stamp = await this.deps.store.findTurn(ctx.tenantId, sessionId, turnId);
    if (stamp) return { status: 'committed', result: resultFromJson(stamp.result) };
    if (local?.settled?.error) throw local.settled.error;
    const holder = await this.deps.leases.holder(ctx.tenantId, sessionId);
    if (holder && holder.owner.endsWith(`/${turnId}`)) return { status: 'running' };
    // A turn that went on under its replica's idle lease (ADR 0079) is not named by it: while that
    // replica holds the lease, the turn its feed shows open is running there.
    if (holder && this.idleElsewhere(holder.owner) && (await this.deps.openTurn?.(ctx.tenantId, sessionId)) === turnId) return { status: 'running' };
    await requireSession(this.deps.store, ctx.tenantId, sessionId);
    // No process runs it and no commit holds it: if its events reached the feed, it died. The
    // stamp is read again because a commit clears the feed's open-turn mark only a linger later.
    if (!local && (await this.deps.wasInterrupted?.(ctx.tenantId, sessionId, turnId))) {
      const late = await this.deps.store.findTurn(ctx.tenantId, sessionId, turnId);
      return late ? { status: 'committed', result: resultFromJson(late.result) } : { status: 'interrupted' };
    }
    throw notFound('TURN_NOT_FOUND', `turn "${turnId}" of session "${sessionId}" is neither running nor committed`, { session_id: sessionId, turn_id: turnId });
  }

  /** Cancels one turn wherever it runs, also before it starts. False if it already committed. */
  async cancel(ctx: RequestContext, sessionId: string, turnId: string): Promise<boolean> {
    requireId('session_id', sessionId);
    requireId('turn_id', turnId);
    const local = this.registry.get(ctx.tenantId, sessionId, turnId);
    if (local && !local.settled) return local.cancel() || local.cancelRequested;
    if (await this.deps.store.findTurn(ctx.tenantId, sessionId, turnId)) return false;
    await requireSession(this.deps.store, ctx.tenantId, sessionId);
    await this.deps.cancels.request(ctx.tenantId, sessionId, turnId);
    await this.deps.bus.publish('turn.cancel', { tenantId: ctx.tenantId, sessionId, turnId });
    return true;
  }

  /** The stop button: cancels every running or waiting turn of the session. */
  async cancelRunning(ctx: RequestContext, sessionId: string): Promise<number> {
    requireId('session_id', sessionId);
    await requireSession(this.deps.store, ctx.tenantId, sessionId);
    let count = 0;
    for (const t of this.registry.active(ctx.tenantId, sessionId)) if (t.cancel()) count++;
    const holder = await this.deps.leases.holder(ctx.tenantId, sessionId);
    // An admin write holding the writer elsewhere is not a turn to stop.
    const remote = holder !== undefined && !holder.owner.startsWith(`${this.deps.replicaId}/`) && !SessionWriters.isAdminOwner(holder.owner);
    if (remote) {
      // A turn of another replica holds the writer: signal it (and its waiters) over the bus. An
      // idle lease there (ADR 0079) names no turn: one may run under it, so it is signalled too,
      // and counted when the feed shows a turn of the session open and uncommitted.
      await this.deps.cancels.request(ctx.tenantId, sessionId, '*');
      await this.deps.bus.publish('turn.cancel', { tenantId: ctx.tenantId, sessionId, turnId: '*' });
      if (!SessionWriters.isIdleOwner(holder.owner)) count++;
      else {
        const open = await this.deps.openTurn?.(ctx.tenantId, sessionId);
        if (open !== undefined && !(await this.deps.store.findTurn(ctx.tenantId, sessionId, open))) count++;
      }
    }
    return count;
  }

  /** True for another replica's idle writer lease. */
  private idleElsewhere(owner: string): boolean {
    return SessionWriters.isIdleOwner(owner) && !owner.startsWith(`${this.deps.replicaId}/`);
  }
}
