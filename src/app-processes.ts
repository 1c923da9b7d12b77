// Composition of background processes and triggers (part of the composition root, app.ts):
// stores, services, the runners of this replica and their executors.

import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { EventBus, FeedSink, SessionStore } from './domain/ports.js';
import { notifyExecutor, sessionTurnExecutor, type TurnRunner } from './domain/processes/executors.js';
import { rlmProgramExecutor } from './domain/processes/program.js';
import { ProcessRunners } from './domain/processes/runners.js';
import { ProcessService } from './domain/processes/service.js';
import { TriggerService } from './domain/processes/triggers.js';
import { ProcessWakes } from './domain/processes/wake.js';
import type { QueueService } from './domain/queue/service.js';
import type { CodeRunner } from './domain/turns/code-runner.js';
import type { SessionService } from './domain/sessions.js';
import type { Database } from './store/database.js';
import { DbProcessStore } from './store/process-store.js';
import { DbTriggerStore } from './store/trigger-store.js';

export interface ProcessParts {
  processes: ProcessService;
  triggers: TriggerService;
  runners: ProcessRunners;
}

export function buildProcesses(deps: {
  config: Config;
  db: Database;
  log: Logger;
  bus: EventBus;
  feed: FeedSink;
  store: SessionStore;
  sessions: SessionService;
  queue: QueueService;
  turns(): TurnRunner;
  sandbox: CodeRunner;
  replicaId: string;
}): ProcessParts {
  const c = deps.config.processes;
  const store = new DbProcessStore(deps.db);
  const log = deps.log.child({ component: 'processes' });
  const processes = new ProcessService({
    store,
    sessions: deps.store,
    feed: deps.feed,
    bus: deps.bus,
    pollMs: Math.max(c.pollMs, 1_000),
    runtime: deps.sessions.runtime,
    limits: {
      perSession: c.perSession,
      perTenant: c.perTenant,
      defaultRunMs: c.defaultRunMs,
      maxRunMs: c.maxRunMs,
      subscriptionsPerTenant: c.subscriptionsPerTenant,
    },
  });
  const triggers = new TriggerService({
    store: new DbTriggerStore(deps.db),
    processes,
    maxSubscriptions: c.subscriptionsPerTenant,
    onError: (err) => log.warn({ err }, 'scheduled trigger started nothing'),
  });
  const runners = new ProcessRunners(
    { store, service: processes, wakes: new ProcessWakes({ store, queue: deps.queue }), bus: deps.bus },
    {
      owner: deps.replicaId,
      concurrency: c.runners,
      claimTtlMs: c.claimTtlMs,
      pollMs: c.pollMs,
      executors: {
        notify: notifyExecutor,
        session_turn: sessionTurnExecutor({ sessions: deps.sessions, turns: deps.turns }),
        rlm_program: rlmProgramExecutor({ runner: deps.sandbox, limits: deps.config.sandbox }),
      },
      tick: () => triggers.tick(),
      retention: { keepMs: c.retentionMs, batch: c.retentionBatch, onPurged: (n) => log.info({ purged: n }, 'process retention deleted finished processes') },
      onError: (err, context) => log.warn({ err, ...context }, 'process runner error'),
    },
  );
  return { processes, triggers, runners };
}
