// Where the tenant limits bite, as thin wrappers over existing ports and services, so the limits
// stay in one module: session creation (every path: open, import, children, run_child), enqueue
// (turn input and session commands), client-started turns (RunTurn/StartTurn), observers.

import type { QueueStore, RequestContext, SessionStore } from '../ports.js';
import type { RunOptions, TurnService } from '../turns/runner.js';
import { startHolding } from '../turns/turn-slots.js';
import type { TurnRequest, TurnResult } from '../turns/types.js';
import type { TenantLimits } from './tenant-limits.js';

/** The store, with a session-count check before every insert of a new session. */
export function sessionStoreWithQuota(store: SessionStore, limits: TenantLimits): SessionStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'create') {
        return async (...args: Parameters<SessionStore['create']>) => {
          await limits.requireRoom('sessions', args[0].tenantId);
          return target.create(...args);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The queue store, with an open-batch count check before every enqueue. */
export function queueStoreWithQuota<Q extends QueueStore>(store: Q, limits: TenantLimits): Q {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'enqueue') {
        return async (batch: Parameters<QueueStore['enqueue']>[0]) => {
          await limits.requireRoom('queued_batches', batch.tenantId);
          return target.enqueue(batch);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export interface ClientTurns {
  run(ctx: RequestContext, req: TurnRequest, options?: RunOptions): Promise<TurnResult>;
  start(ctx: RequestContext, req: TurnRequest): Promise<string>;
}

/** Client-started turns holding one of their tenant's running-turn places until they settle. */
export class TenantLimitedTurns implements ClientTurns {
  constructor(
    private readonly inner: ClientTurns,
    private readonly turns: TurnService,
    private readonly limits: TenantLimits,
  ) {}

  async run(ctx: RequestContext, req: TurnRequest, options?: RunOptions): Promise<TurnResult> {
    const release = this.limits.hold('running_turns', ctx.tenantId);
    try {
      return await this.inner.run(ctx, req, options);
    } finally {
      release();
    }
  }

  async start(ctx: RequestContext, req: TurnRequest): Promise<string> {
    return startHolding(this.turns, ctx, req, this.limits.hold('running_turns', ctx.tenantId), () => this.inner.start(ctx, req));
  }
}
