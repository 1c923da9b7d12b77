// One writer per session across the deployment. Inside this process callers queue on a keyed
// mutex (cheap, fair); around the work they hold the session lease, so writers on other replicas
// wait too. Turns, compaction and every admin mutation run under it. Not re-entrant: code under a
// writer must not ask for the same session's writer again.

import { DomainError } from './errors.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { LeaseStore } from './ports.js';
import { sleep } from './sleep.js';

/** Lease-owner key of admin writes; turns use their turn id. */
export const ADMIN_WRITER_KEY = '~admin';

export interface WriterOptions {
  /** Names the writer in the lease (`<replica>/<key>`): a turn id, else an admin write. */
  key?: string;
  /** Give up (resolve undefined) instead of waiting when another replica holds the lease. */
  skipIfBusy?: boolean;
  /** Ends the wait for the lease. */
  signal?: AbortSignal;
  /**
   * When the signal fires while waiting: `proceed` runs `fn` without the lease (a cancelled turn
   * still commits its stopped result, guarded by the head revision); `throw` fails with CANCELLED.
   */
  onAbort?: 'proceed' | 'throw';
}

export class SessionWriters {
  private readonly local = new KeyedMutex();

  constructor(
    private readonly leases: LeaseStore,
    readonly replicaId: string,
    private readonly ttlMs: number,
  ) {}

  /** The lease owner string of a writer key on this replica. */
  ownerOf(key: string): string {
    return `${this.replicaId}/${key}`;
  }

  /** True when a lease owner names an admin write rather than a turn. */
  static isAdminOwner(owner: string): boolean {
    return owner.endsWith(`/${ADMIN_WRITER_KEY}`);
  }

  run<T>(tenantId: string, sessionId: string, fn: () => Promise<T>, options: WriterOptions & { skipIfBusy: true }): Promise<T | undefined>;
  run<T>(tenantId: string, sessionId: string, fn: () => Promise<T>, options?: WriterOptions): Promise<T>;
  async run<T>(tenantId: string, sessionId: string, fn: () => Promise<T>, options: WriterOptions = {}): Promise<T | undefined> {
    return this.local.run(`${tenantId}\u0000${sessionId}`, () => this.underLease(tenantId, sessionId, fn, options));
  }

  private async underLease<T>(tenantId: string, sessionId: string, fn: () => Promise<T>, options: WriterOptions): Promise<T | undefined> {
    const owner = this.ownerOf(options.key ?? ADMIN_WRITER_KEY);
    let token: bigint | undefined;
    for (let wait = 25; ; wait = Math.min(wait * 2, 500)) {
      token = await this.leases.acquire(tenantId, sessionId, owner, this.ttlMs);
      if (token !== undefined) break;
      if (options.skipIfBusy) return undefined;
      if (options.signal?.aborted) {
        if (options.onAbort === 'proceed') break;
        throw new DomainError('CANCELLED', 'WRITER_WAIT_CANCELLED', `the call ended while waiting for the running turn of session "${sessionId}" to finish; nothing was changed`, { session_id: sessionId });
      }
      await sleep(wait, options.signal);
    }
    const renew = setInterval(() => {
      if (token !== undefined) void this.leases.renew(tenantId, sessionId, owner, token, this.ttlMs).catch(() => {});
    }, Math.max(250, Math.floor(this.ttlMs / 3)));
    renew.unref();
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      if (token !== undefined) await this.leases.release(tenantId, sessionId, owner, token).catch(() => {});
    }
  }
}
