// Prometheus metrics (prom-client) of one server: calls, turns, model tokens, feed appends and
// how far the durable feed trails live turns, queue depth and observers, plus the process
// defaults. The adapters and the composition root record them; the domain never sees them.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TurnResult } from '../domain/turns/types.js';
import type { SubscriptionStats } from '../domain/feed/subscription-limits.js';
import type { TurnSlotStats } from '../domain/turns/turn-slots.js';
import type { PoolStats } from '../sandbox/threaded.js';
import type { TenantResourceStats } from '../domain/tenants/tenant-limits.js';
import type { AuditRecorderStats } from '../domain/audit/recorder.js';
import type { CallPacerStats } from '../grpc/call-pacer.js';
import type { InFlightGateStats } from '../store/in-flight-gate.js';
import type { Lane, LaneGateStats } from '../store/lane-gate.js';
import type { RefusalBudgetStats } from '../domain/audit/refusal-budget.js';
import { TenantLabels } from './tenant-labels.js';

export interface MetricSources {
  /** Starts of streaming calls and StartTurn held for a later event-loop turn (ADR 0075). */
  callPacer?: () => CallPacerStats & { waiting: number };
  /** PGlite only: the gate in front of its backend (lanes, time slices; ADR 0063). */
  storeGate?: () => LaneGateStats & { waiting: Record<Lane, number> };
  /** PostgreSQL only: hot-path statements counted against the in-flight limit, waiting for a slot, waited, overdue (ADR 0083). */
  storeInFlight?: () => InFlightGateStats;
  /** Open queue batches by state, read at scrape time. */
  queueDepth(): Promise<{ state: string; count: number }[]>;
  /** Observers connected to this process. */
  observers(): number;
  /** Feed events accepted and not yet stored, and lanes whose writes are failing. */
  feedBacklog(): { events: number; failingSessions: number; pacedTurns?: number };
  /** The rlm sandbox pool: threads in use and blocks refused by a limit. */
  sandbox(): PoolStats;
  /** Slots of RunTurn/StartTurn turns: running, waiting, calls refused. */
  turnSlots(): TurnSlotStats;
  /** Per-tenant resources in use and refusals at the tenant limits. */
  tenants?(): TenantResourceStats[];
  /** Audit records stored, dropped (buffer full) and lost (store write failed). */
  audit?(): AuditRecorderStats;
  /** Refusals of unauthenticated writes recorded in, or left out of, the audit trail. */
  refusals?(): RefusalBudgetStats;
  /** ObserveSession subscriptions of this process: open, refused by the concurrency or rate limit. */
  subscriptions(): SubscriptionStats;
  /** Child turns run by run_child in this process: running now, started in all. */
  childTurns(): { running: number; started: number };
  /** Per-session things held in memory by kind (resident graphs, turn registry, feed tails and lanes, observers). */
  liveEntries(): Record<string, number>;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class LashMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'method' | 'code' | 'tenant'>;
  private readonly callSeconds: Histogram<'method' | 'tenant'>;
  private readonly tenantLabels: TenantLabels;
  private readonly turns: Counter<'outcome' | 'reason'>;
  private readonly turnSeconds: Histogram;
  private readonly tokens: Counter<'kind'>;
  private readonly feedEvents: Counter;
  private readonly feedAppendSeconds: Histogram;
  private readonly feedLagSeconds: Histogram;
  /** Refusals reported as they happen (the sandbox's are read from its stats at scrape time). */
  private readonly rejections = new Map<string, number>();

  /** `tenants`: which tenants get their own label (tenant-labels.ts); by default the first 20 seen. */
  constructor(sources: MetricSources, tenants: { named: readonly string[]; firstSeen: number } = { named: [], firstSeen: 20 }) {
    const registers = [this.registry];
    const labels = (this.tenantLabels = new TenantLabels(tenants.named, tenants.firstSeen));
    /** Per-tenant figures with the label bounded: tenants past the bound are summed as one. */
    const byLabel = (rows: TenantResourceStats[], value: (t: TenantResourceStats) => number) => {
      const sums = new Map<string, number>();
      for (const t of rows) {
        const key = JSON.stringify([labels.label(t.tenantId), t.resource]);
        sums.set(key, (sums.get(key) ?? 0) + value(t));
      }
      return [...sums].map(([key, n]) => {
        const [tenant, resource] = JSON.parse(key) as [string, string];
        return { tenant, resource, n };
      });
    };
    collectDefaultMetrics({ register: this.registry });
    this.calls = new Counter({
      name: 'lash_rpc_total',
      help: "Finished gRPC calls by method, status code and the caller's tenant (bounded: LASH_METRICS_TENANTS and the first LASH_METRICS_TENANT_LABELS tenants by name, later ones as _other; calls refused for their credential as _unauthenticated).",
      labelNames: ['method', 'code', 'tenant'],
      registers,
    });
    this.callSeconds = new Histogram({
      name: 'lash_rpc_duration_seconds',
      help: 'Duration of gRPC calls (streams: until they end) by method and tenant (bounded like lash_rpc_total).',
      labelNames: ['method', 'tenant'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.turns = new Counter({
      name: 'lash_turns_total',
      help: 'Committed turns and drains by outcome (finished, stopped, agent_frame_switch) and stop reason.',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    this.turnSeconds = new Histogram({
      name: 'lash_turn_duration_seconds',
      help: 'Time from accepting a turn to its commit, waiting for the writer included.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.tokens = new Counter({
      name: 'lash_model_tokens_total',
      help: 'Model tokens of committed turns (children included) by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.feedEvents = new Counter({ name: 'lash_feed_events_total', help: 'Events appended to session feeds by this process.', registers });
    this.feedAppendSeconds = new Histogram({
      name: 'lash_feed_append_duration_seconds',
      help: 'Duration of one feed append (a batch of events, one statement).',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.feedLagSeconds = new Histogram({
      name: 'lash_feed_lag_seconds',
      help: 'How far the durable feed trails a live turn: from a turn event being emitted to it being stored.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'lash_queue_batches',
      help: 'Open queue batches (all sessions, all replicas) by state.',
      labelNames: ['state'],
      registers,
      async collect() {
        const rows = await sources.queueDepth();
        this.reset();
        for (const state of ['pending', 'claimed']) this.set({ state }, rows.find((r) => r.state === state)?.count ?? 0);
      },
    });
    new Gauge({
      name: 'lash_feed_pending_events',
      help: 'Feed events accepted by this process and not yet stored (grows while the store refuses writes; nothing is dropped).',
      registers,
      collect() {
        this.set(sources.feedBacklog().events);
      },
    });
    new Gauge({
      name: 'lash_feed_failing_sessions',
      help: 'Sessions whose last feed write failed and is being retried.',
      registers,
      collect() {
        this.set(sources.feedBacklog().failingSessions);
      },
    });
    new Gauge({
      name: 'lash_feed_paced_turns',
      help: "Turns waiting for their session's feed lane to drain below LASH_FEED_PENDING_MAX (back-pressure).",
      registers,
      collect() {
        this.set(sources.feedBacklog().pacedTurns ?? 0);
      },
    });
    new Gauge({
      name: 'lash_sandbox_threads',
      help: 'rlm sandbox threads of this process by state: busy (running a block), alive (busy, idle or exiting; at most LASH_SANDBOX_THREADS), queued (blocks waiting for a thread).',
      labelNames: ['state'],
      registers,
      collect() {
        const s = sources.sandbox();
        this.set({ state: 'busy' }, s.busy);
        this.set({ state: 'alive' }, s.threads);
        this.set({ state: 'queued' }, s.queued);
      },
    });
    const counted = this.rejections;
    new Counter({
      name: 'lash_limit_rejections_total',
      help: 'Work refused because a resource limit was reached, by limit: sandbox_threads (no thread free in time), rlm_globals (a block left more than LASH_SANDBOX_GLOBALS_BYTES), children_per_turn, children_per_root (run_child refused to create a child), running_turns (RunTurn/StartTurn refused: no turn slot free in time), observers (ObserveSession refused: LASH_MAX_OBSERVERS open), observe_rate (ObserveSession refused: LASH_OBSERVE_RATE exceeded).',
      labelNames: ['limit'],
      registers,
      collect() {
        const s = sources.sandbox();
        this.reset();
        this.inc({ limit: 'sandbox_threads' }, s.rejectedBusy);
        this.inc({ limit: 'rlm_globals' }, s.rejectedGlobals);
        this.inc({ limit: 'running_turns' }, sources.turnSlots().rejected);
        const sub = sources.subscriptions();
        this.inc({ limit: 'observers' }, sub.rejectedConcurrent);
        this.inc({ limit: 'observe_rate' }, sub.rejectedRate);
        for (const [limit, n] of counted) this.inc({ limit }, n);
      },
    });
    new Gauge({
      name: 'lash_turn_slots',
      help: 'RunTurn/StartTurn turns of this process by state: running (at most LASH_MAX_RUNNING_TURNS), waiting (to start).',
      labelNames: ['state'],
      registers,
      collect() {
        const a = sources.turnSlots();
        this.set({ state: 'running' }, a.running);
        this.set({ state: 'waiting' }, a.waiting);
      },
    });
    new Gauge({
      name: 'lash_tenant_resources',
      help: 'Per-tenant resources in use, by tenant and resource: running_turns and observers held in this process now; sessions and queued_batches as last counted in the store (at the last create/enqueue of the tenant).',
      labelNames: ['tenant', 'resource'],
      registers,
      collect() {
        this.reset();
        for (const t of byLabel(sources.tenants?.() ?? [], (x) => x.inUse)) this.set({ tenant: t.tenant, resource: t.resource }, t.n);
      },
    });
    new Counter({
      name: 'lash_tenant_limit_rejections_total',
      help: 'Calls refused at a per-tenant limit (RESOURCE_EXHAUSTED, reasons TENANT_*_LIMIT), by tenant and resource.',
      labelNames: ['tenant', 'resource'],
      registers,
      collect() {
        this.reset();
        for (const t of byLabel(sources.tenants?.() ?? [], (x) => x.rejected)) if (t.n > 0) this.inc({ tenant: t.tenant, resource: t.resource }, t.n);
      },
    });
    new Counter({
      name: 'lash_audit_records_total',
      help: 'Audit records of this process by outcome: stored, dropped (the buffer of LASH_AUDIT_BUFFER records was full), failed (the store refused the write; the log line remains), suppressed (a refusal of an unauthenticated write repeated within its minute or past LASH_AUDIT_UNAUTHENTICATED_PER_MINUTE; logged only).',
      labelNames: ['outcome'],
      registers,
      collect() {
        const a = sources.audit?.();
        this.reset();
        if (!a) return;
        this.inc({ outcome: 'stored' }, a.stored);
        this.inc({ outcome: 'dropped' }, a.dropped);
        this.inc({ outcome: 'failed' }, a.failed);
        this.inc({ outcome: 'suppressed' }, sources.refusals?.().suppressed ?? 0);
      },
    });
    new Gauge({
      name: 'lash_observe_subscriptions',
      help: 'ObserveSession subscriptions admitted by this process and not yet ended (at most LASH_MAX_OBSERVERS).',
      registers,
      collect() {
        this.set(sources.subscriptions().inUse);
      },
    });
    new Gauge({
      name: 'lash_child_turns_running',
      help: 'Child turns started by run_child in this process that have not settled yet.',
      registers,
      collect() {
        this.set(sources.childTurns().running);
      },
    });
    new Gauge({
      name: 'lash_live_entries',
      help: 'Per-session things this process holds in memory, by kind: resident_sessions (loaded graphs), turn_registry (running and recently settled turns), sessions_running, feed_tails (observed sessions), feed_lanes (sessions with events being stored), observers, shutdown_hooks (one per open observer, run on drain), writer_idle_leases (writer leases kept idle for this replica, ADR 0079).',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const [kind, n] of Object.entries(sources.liveEntries())) this.set({ kind }, n);
      },
    });
    new Counter({
      name: 'lash_child_turns_total',
      help: 'Child turns started by run_child in this process.',
      registers,
      collect() {
        this.reset();
        this.inc(sources.childTurns().started);
      },
    });
    const pacer = sources.callPacer;
    if (pacer) {
      new Gauge({
        name: 'lash_call_starts_waiting',
        help: 'Starts of streaming calls and StartTurn waiting for a later event-loop turn because a burst used up LASH_CALL_START_SLICE_MS.',
        registers,
        collect() {
          this.set(pacer().waiting);
        },
      });
      new Counter({
        name: 'lash_call_starts_deferred_total',
        help: 'Starts of streaming calls and StartTurn that waited for a later event-loop turn (paced), and that went at once because LASH_CALL_START_QUEUE was full (overflow).',
        labelNames: ['outcome'],
        registers,
        collect() {
          this.reset();
          const p = pacer();
          this.inc({ outcome: 'paced' }, p.deferred);
          this.inc({ outcome: 'overflow' }, p.overflow);
        },
      });
    }
    const gate = sources.storeGate;
    if (gate) {
      new Gauge({
        name: 'lash_store_gate_waiting',
        help: 'PGlite: statements waiting for the embedded backend, by lane: interactive (short reads a unary call waits for, served first), bulk (everything else).',
        labelNames: ['lane'],
        registers,
        collect() {
          const g = gate();
          this.set({ lane: 'interactive' }, g.waiting.interactive);
          this.set({ lane: 'bulk' }, g.waiting.bulk);
        },
      });
      new Counter({
        name: 'lash_store_gate_yields_total',
        help: 'PGlite: times statements were held back for one event-loop turn because they had run LASH_PGLITE_SLICE_MS back to back.',
        registers,
        collect() {
          this.reset();
          this.inc(gate().yields);
        },
      });
    }
    const inFlight = sources.storeInFlight;
    if (inFlight) {
      new Gauge({
        name: 'lash_store_statements',
        help: 'PostgreSQL: hot-path statements (and transactions) of this process counted against LASH_DB_BULK_IN_FLIGHT (in_flight: sent or about to be, not yet overdue) and waiting for a slot (waiting).',
        labelNames: ['state'],
        registers,
        collect() {
          const s = inFlight();
          this.set({ state: 'in_flight' }, s.inFlight);
          this.set({ state: 'waiting' }, s.waiting);
        },
      });
      new Counter({
        name: 'lash_store_statements_waited_total',
        help: 'PostgreSQL: hot-path statements (and transactions) that waited for a slot because LASH_DB_BULK_IN_FLIGHT others were counted.',
        registers,
        collect() {
          this.reset();
          this.inc(inFlight().waited);
        },
      });
      new Counter({
        name: 'lash_store_statements_overdue_total',
        help: 'PostgreSQL: hot-path statements (and transactions) that stopped counting against LASH_DB_BULK_IN_FLIGHT after LASH_DB_BULK_OVERDUE_MS at the database while others waited (a lock or the disk held them). Many: raise LASH_DB_BULK_OVERDUE_MS or look for lock waits.',
        registers,
        collect() {
          this.reset();
          this.inc(inFlight().overdue);
        },
      });
    }
    new Gauge({
      name: 'lash_feed_observers',
      help: 'ObserveSession streams connected to this process.',
      registers,
      collect() {
        this.set(sources.observers());
      },
    });
  }

  call(method: string, code: string, seconds: number, tenantId: string): void {
    const tenant = this.tenantLabels.label(tenantId);
    this.calls.inc({ method, code, tenant });
    this.callSeconds.observe({ method, tenant }, seconds);
  }

  turn(result: TurnResult, seconds: number): void {
    const o = result.outcome;
    this.turns.inc({ outcome: o.type, reason: o.type === 'stopped' ? o.reason : '' });
    this.turnSeconds.observe(seconds);
    const u = result.usage.total;
    this.tokens.inc({ kind: 'input' }, Number(u.inputTokens));
    this.tokens.inc({ kind: 'output' }, Number(u.outputTokens));
    this.tokens.inc({ kind: 'cached_input' }, Number(u.cachedInputTokens));
    this.tokens.inc({ kind: 'reasoning' }, Number(u.reasoningTokens));
    this.tokens.inc({ kind: 'cache_write' }, Number(u.cacheWriteTokens));
  }

  /** One piece of work refused at a resource limit. */
  rejected(limit: string): void {
    this.rejections.set(limit, (this.rejections.get(limit) ?? 0) + 1);
  }

  /** Feed events stored; `seconds` is the append's own duration, absent when a commit carried them. */
  feedAppend(events: number, seconds: number | undefined, lagsSeconds: number[]): void {
    this.feedEvents.inc(events);
    if (seconds !== undefined) this.feedAppendSeconds.observe(seconds);
    for (const lag of lagsSeconds) this.feedLagSeconds.observe(Math.max(0, lag));
  }
}
