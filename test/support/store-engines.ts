// The three stores every storage contract suite runs against: in memory (src/store/memory),
// embedded PGlite and PostgreSQL. `memory` runs unless TEST_ENGINES is set without it; the two
// database engines follow test/support/engines.ts. A suite opens every store port at once over
// one fresh store; the database ones also expose the database for engine-specific cases.

import type { AdmissionStore, FeedStore, LeaseStore, QueueStore, SessionStore } from '../../src/domain/ports.js';
import { DbAdmissionStore } from '../../src/store/admission-store.js';
import type { ProcessStore, TriggerStore } from '../../src/domain/processes/ports.js';
import type { Database } from '../../src/store/database.js';
import { DbFeedStore } from '../../src/store/feed-store.js';
import { openMemoryStores } from '../../src/store/memory/index.js';
import { DbProcessStore } from '../../src/store/process-store.js';
import { DbQueueStore } from '../../src/store/queue-store.js';
import { OrmSessionStore } from '../../src/store/session-store.js';
import { DbTriggerStore } from '../../src/store/trigger-store.js';
import { OrmLeaseStore } from '../../src/store/turn-store.js';
import { engines, openTestDatabase } from './engines.js';

export interface OpenedStores {
  sessions: SessionStore;
  feed: FeedStore;
  queue: QueueStore;
  leases: LeaseStore;
  admissions: AdmissionStore;
  processes: ProcessStore;
  triggers: TriggerStore;
  /** The database behind the stores (absent in memory). */
  db?: Database;
  databaseUrl?: string;
  close(): Promise<void>;
}

export interface StoreEngine {
  name: 'memory' | 'pglite' | 'postgresql';
  enabled: boolean;
  open(): Promise<OpenedStores>;
}

const selected = process.env.TEST_ENGINES?.split(',').map((e) => e.trim());

export const storeEngines: StoreEngine[] = [
  {
    name: 'memory',
    enabled: selected === undefined || selected.includes('memory'),
    async open() {
      const m = openMemoryStores();
      return {
        sessions: m.sessions,
        feed: m.feed,
        queue: m.queue,
        leases: m.leases,
        admissions: m.admissions,
        processes: m.processes,
        triggers: m.triggers,
        close: async () => {},
      };
    },
  },
  ...engines.map((engine): StoreEngine => ({
    name: engine.name,
    enabled: engine.enabled,
    async open() {
      const opened = await openTestDatabase(engine);
      const feed = new DbFeedStore(opened.db);
      return {
        sessions: new OrmSessionStore(opened.db, feed),
        feed,
        queue: new DbQueueStore(opened.db),
        leases: new OrmLeaseStore(opened.db),
        admissions: new DbAdmissionStore(opened.db),
        processes: new DbProcessStore(opened.db),
        triggers: new DbTriggerStore(opened.db),
        db: opened.db,
        databaseUrl: opened.databaseUrl,
        close: opened.close,
      };
    },
  })),
];
