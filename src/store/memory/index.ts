// The in-memory store: every store port of a server, over one set of tables, passing the same
// contract suites as PGlite and PostgreSQL (test/store). For unit tests of the domain (no
// database, no server) and for anything that wants a store that lives and dies with the process.

import { systemClock, type Clock } from '../../domain/clock.js';
import type { EventBus } from '../../domain/ports.js';
import { MemoryFeedStore } from './feed-store.js';
import { MemoryProcessStore, MemoryTriggerStore } from './process-store.js';
import { MemoryQueueStore } from './queue-store.js';
import { MemorySessionStore } from './session-store.js';
import { MemoryTables } from './tables.js';
import { MemoryAdmissionStore, MemoryBlobStore, MemoryCancelStore, MemoryCompletionStore, MemoryLeaseStore } from './turn-stores.js';

export { MemoryFeedStore, MemoryProcessStore, MemoryQueueStore, MemorySessionStore, MemoryTables, MemoryTriggerStore };
export { MemoryAdmissionStore, MemoryBlobStore, MemoryCancelStore, MemoryCompletionStore, MemoryLeaseStore };

export interface MemoryStores {
  tables: MemoryTables;
  sessions: MemorySessionStore;
  feed: MemoryFeedStore;
  queue: MemoryQueueStore;
  leases: MemoryLeaseStore;
  cancels: MemoryCancelStore;
  admissions: MemoryAdmissionStore;
  blobs: MemoryBlobStore;
  processes: MemoryProcessStore;
  triggers: MemoryTriggerStore;
  completions(bus: EventBus): MemoryCompletionStore;
}

/** A fresh, empty in-memory store on `clock`. */
export function openMemoryStores(clock: Clock = systemClock): MemoryStores {
  const tables = new MemoryTables(clock);
  const feed = new MemoryFeedStore(tables);
  const queue = new MemoryQueueStore(tables);
  const sessions = new MemorySessionStore(tables, feed, queue);
  const cancels = new MemoryCancelStore(tables);
  return {
    tables,
    sessions,
    feed,
    queue,
    cancels,
    leases: new MemoryLeaseStore(tables),
    admissions: new MemoryAdmissionStore(tables, sessions, queue, cancels),
    blobs: new MemoryBlobStore(sessions),
    processes: new MemoryProcessStore(clock),
    triggers: new MemoryTriggerStore(clock),
    completions: (bus) => new MemoryCompletionStore(tables, bus),
  };
}
