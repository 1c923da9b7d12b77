// The domain services wired on the in-memory store, without a server or a database: what the
// unit tests drive. The same wiring as src/app.ts for the parts a unit test reaches (sessions,
// turns with the echo model and the built-in tools, the queue, the feed, tool state), on a
// clock and id source the test may choose.

import { MemoryBus } from '../../src/bus/memory-bus.js';
import { systemRuntime, type Runtime } from '../../src/domain/clock.js';
import { ToolAdmin } from '../../src/domain/admin/tool-state.js';
import { FeedAppender, type AppenderOptions } from '../../src/domain/feed/appender.js';
import { FeedHub } from '../../src/domain/feed/hub.js';
import type { RequestContext } from '../../src/domain/ports.js';
import { QueueService } from '../../src/domain/queue/service.js';
import { SessionWriters } from '../../src/domain/session-writers.js';
import { SessionService } from '../../src/domain/sessions.js';
import type { ModelProvider } from '../../src/domain/turns/model.js';
import { TurnService } from '../../src/domain/turns/runner.js';
import { EchoProvider } from '../../src/providers/echo.js';
import { QuickJsRunner } from '../../src/sandbox/quickjs.js';
import { openMemoryStores, type MemoryStores } from '../../src/store/memory/index.js';
import { BuiltinTools } from '../../src/tools/builtin.js';

export interface Domain {
  ctx: RequestContext;
  stores: MemoryStores;
  bus: MemoryBus;
  feed: FeedAppender;
  sessions: SessionService;
  turns: TurnService;
  queue: QueueService;
  tools: ToolAdmin;
  /** Stops what runs in the background (the turn service's bus subscriptions, the feed lanes). */
  close(): Promise<void>;
}

export function buildDomain(
  options: {
    runtime?: Runtime;
    tools?: string[];
    leaseTtlMs?: number;
    /** Idle lease linger of the session writers (ADR 0079; 0: off). */
    writerLingerMs?: number;
    /** Answers in place of the echo model (under the provider id `echo`). */
    provider?: ModelProvider;
    feed?: Partial<AppenderOptions>;
  } = {},
): Domain {
  const runtime = options.runtime ?? systemRuntime;
  const stores = openMemoryStores(runtime.clock);
  const bus = new MemoryBus();
  const feed = new FeedAppender(stores.feed, bus, new FeedHub(stores.feed), { lingerMs: 0, maxBatch: 500, onError: () => {}, ...options.feed });
  const sessions = new SessionService(
    stores.sessions,
    {
      policy: { model: { id: 'echo', contextWindowTokens: 100_000 }, providerId: 'echo', autonomous: false },
      availableModes: ['standard', 'rlm'],
      availableProviders: ['echo'],
    },
    new SessionWriters(stores.leases, 'unit', options.leaseTtlMs ?? 30_000, undefined, runtime.clock, options.writerLingerMs ?? 0),
    undefined,
    runtime,
  );
  sessions.feed = feed;
  sessions.admit = (req) => stores.admissions.admit(req);
  const toolSources = [new BuiltinTools(options.tools ?? ['calculate', 'json_echo', 'finish'])];
  const turns = new TurnService({
    sessions,
    store: stores.sessions,
    leases: stores.leases,
    admissions: stores.admissions,
    cancels: stores.cancels,
    blobs: stores.blobs,
    completions: stores.completions(bus),
    bus,
    providers: new Map<string, ModelProvider>([['echo', options.provider ?? new EchoProvider()]]),
    toolSources,
    replicaId: 'unit',
    feed,
    queue: stores.queue,
    claimTtlMs: 30_000,
    joinLimit: 16,
    retry: { maxAttempts: 1, initialBackoffMs: 0, maxBackoffMs: 0 },
    cancelGraceMs: 1_000,
    maxIterations: 8,
    codeRunner: new QuickJsRunner(),
    sandboxLimits: { memoryBytes: 32 * 1024 * 1024, timeMs: 5_000, outputBytes: 64 * 1024, toolCalls: 16, globalsBytes: 64 * 1024 },
    clock: runtime.clock,
    ids: runtime.ids,
  });
  sessions.released = (tenantId, sessionId) => turns.registry.forget(tenantId, sessionId);
  sessions.runningHere = (tenantId, sessionId) => turns.registry.active(tenantId, sessionId).length > 0;
  const queue = new QueueService({ store: stores.queue, sessions: stores.sessions, feed, bus, pollMs: 1_000, runtime });
  return {
    ctx: { tenantId: 'unit' },
    stores,
    bus,
    feed,
    sessions,
    turns,
    queue,
    tools: new ToolAdmin(sessions, toolSources),
    async close() {
      turns.close();
      await feed.drain();
    },
  };
}
