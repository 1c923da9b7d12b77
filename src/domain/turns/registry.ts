// Turns running (or waiting for the session writer) in this process: cancellation handles,
// buffered events for callers that attach with the same turn id, and the settled outcome for a
// short while after the end (so GetTurn of a detached turn can report a failure).

import { systemClock, type Clock } from '../clock.js';
import type { TurnEvent, TurnResult } from './types.js';

export const MAX_BUFFERED_EVENTS = 20_000;

export class RunningTurn {
  readonly controller = new AbortController();
  readonly events: TurnEvent[] = [];
  readonly listeners = new Set<(e: TurnEvent) => void>();
  cancelRequested = false;
  /** A fresh UUID the server generated: no earlier commit can carry it, so no stamp lookup. */
  serverGeneratedId = false;
  settled?: { result?: TurnResult; error?: unknown };
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));

  constructor(
    readonly tenantId: string,
    readonly sessionId: string,
    readonly turnId: string,
    readonly contentHash: string,
    readonly registeredAt: Date,
  ) {}

  push(event: TurnEvent): void {
    // Bounded: a late attacher of a very long turn misses the oldest deltas, never memory.
    if (this.events.length < MAX_BUFFERED_EVENTS) this.events.push(event);
    for (const l of this.listeners) l(event);
  }

  settle(outcome: { result?: TurnResult; error?: unknown }): void {
    this.settled = outcome;
    this.resolveDone();
  }

  cancel(): boolean {
    if (this.cancelRequested || this.settled) return false;
    this.cancelRequested = true;
    this.controller.abort();
    return true;
  }
}

export class TurnRegistry {
  private readonly turns = new Map<string, RunningTurn>();
  // Unsettled turns by session: settled ones stay in `turns` for a while (late attachers), so a
  // scan of `turns` would grow with the process's recent turn rate on every turn start.
  private readonly unsettled = new Map<string, Set<RunningTurn>>();

  constructor(private readonly clock: Clock = systemClock) {}

  static key(tenantId: string, sessionId: string, turnId: string): string {
    return `${tenantId}\u0000${sessionId}\u0000${turnId}`;
  }

  get(tenantId: string, sessionId: string, turnId: string): RunningTurn | undefined {
    return this.turns.get(TurnRegistry.key(tenantId, sessionId, turnId));
  }

  add(turn: RunningTurn, keepSettledMs: number): void {
    const key = TurnRegistry.key(turn.tenantId, turn.sessionId, turn.turnId);
    const sessionKey = `${turn.tenantId}\u0000${turn.sessionId}`;
    this.turns.set(key, turn);
    let set = this.unsettled.get(sessionKey);
    if (!set) this.unsettled.set(sessionKey, (set = new Set()));
    set.add(turn);
    void turn.done.then(() => {
      set.delete(turn);
      if (set.size === 0 && this.unsettled.get(sessionKey) === set) this.unsettled.delete(sessionKey);
      this.clock.after(keepSettledMs, () => {
        if (this.turns.get(key) === turn) this.turns.delete(key);
      });
    });
  }

  /**
   * Drops the settled turns of a session that was deleted or parked: they are kept only for late
   * attachers, and a retry of a committed turn still finds its result in the store.
   */
  forget(tenantId: string, sessionId: string): void {
    const prefix = `${tenantId}\u0000${sessionId}\u0000`;
    for (const [key, turn] of this.turns) if (turn.settled && key.startsWith(prefix)) this.turns.delete(key);
  }

  /** Entries held: turns kept (running or recently settled) and sessions with unsettled turns. */
  get counts(): { turns: number; sessionsRunning: number } {
    return { turns: this.turns.size, sessionsRunning: this.unsettled.size };
  }

  /** Unsettled turns of a session (running or waiting for the writer). */
  active(tenantId: string, sessionId: string): RunningTurn[] {
    const set = this.unsettled.get(`${tenantId}\u0000${sessionId}`);
    return set ? [...set].filter((t) => !t.settled) : [];
  }

  all(): RunningTurn[] {
    const out: RunningTurn[] = [];
    for (const set of this.unsettled.values()) for (const t of set) if (!t.settled) out.push(t);
    return out;
  }
}
