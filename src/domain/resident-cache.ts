// Resident sessions: loaded graphs kept in memory, bounded (least recently used goes first) and
// validated against the stored head revision on every use, so several replicas stay correct.

import type { LoadedSession } from './session.js';

export class ResidentCache {
  private readonly entries = new Map<string, LoadedSession>();

  constructor(
    private readonly capacity: number,
    /** Told of a session pushed out by the capacity (not of an explicit evict). */
    private readonly onPushedOut: (tenantId: string, sessionId: string) => void = () => {},
  ) {}

  static key(tenantId: string, sessionId: string): string {
    return `${tenantId}\u0000${sessionId}`;
  }

  get(key: string, revision: bigint): LoadedSession | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.head.headRevision !== revision) {
      this.entries.delete(key);
      return undefined;
    }
    // Re-insert to mark as most recently used.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  put(key: string, session: LoadedSession): void {
    this.entries.delete(key);
    this.entries.set(key, session);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      const session = this.entries.get(oldest)!;
      this.entries.delete(oldest);
      this.onPushedOut(session.head.tenantId, session.head.sessionId);
    }
  }

  evict(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
