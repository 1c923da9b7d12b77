// One writer per session across the deployment. Inside this process callers queue on a keyed
// mutex (cheap, fair); around the work they hold the session lease, so writers on other replicas
// wait too. Turns, compaction and every admin mutation run under it. Not re-entrant: code under a
// writer must not ask for the same session's writer again. The lease may be taken by the
// caller's own statement (`take`: a turn reads what it starts from in the same round trip) and
// released by its final commit (`WriterLease.released`), so a turn pays no round trip for either.

import { systemClock, type Clock } from './clock.js';
import { DomainError } from './errors.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { LeaseStore, RenewalFailed } from './ports.js';
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
  /** Takes the lease (returns its token, undefined while held elsewhere); default `LeaseStore.acquire`. */
  take?(owner: string, ttlMs: number): Promise<bigint | undefined>;
}

/** The lease a writer holds: a commit may end it (`SessionService.commit` with `lease`). */
export interface WriterLease {
  readonly owner: string;
  /** Undefined when the writer proceeds without it (cancelled while waiting). */
  readonly token?: bigint;
  /** Set when a commit released it; the writer then sends no release of its own. */
  released: boolean;
}

export class SessionWriters {
  private readonly local = new KeyedMutex();

  constructor(
    private readonly leases: LeaseStore,
    readonly replicaId: string,
    private readonly ttlMs: number,
    private readonly onRenewFailed: RenewalFailed = () => {},
    /** Paces the lease renewals and the waits for a busy lease. */
    private readonly clock: Clock = systemClock,
  ) {}

  /** The lease owner string of a writer key on this replica. */
  ownerOf(key: string): string {
    return `${this.replicaId}/${key}`;
  }

  /** True when a lease owner names an admin write rather than a turn. */
  static isAdminOwner(owner: string): boolean {
    return owner.endsWith(`/${ADMIN_WRITER_KEY}`);
  }

  run<T>(tenantId: string, sessionId: string, fn: (lease: WriterLease) => Promise<T>, options: WriterOptions & { skipIfBusy: true }): Promise<T | undefined>;
  run<T>(tenantId: string, sessionId: string, fn: (lease: WriterLease) => Promise<T>, options?: WriterOptions): Promise<T>;
  async run<T>(tenantId: string, sessionId: string, fn: (lease: WriterLease) => Promise<T>, options: WriterOptions = {}): Promise<T | undefined> {
    return this.local.run(`${tenantId}\u0000${sessionId}`, () => this.underLease(tenantId, sessionId, fn, options));
  }

  private async underLease<T>(tenantId: string, sessionId: string, fn: (lease: WriterLease) => Promise<T>, options: WriterOptions): Promise<T | undefined> {
    const owner = this.ownerOf(options.key ?? ADMIN_WRITER_KEY);
    const take = options.take ?? ((o: string, ttl: number) => this.leases.acquire(tenantId, sessionId, o, ttl));
    let token: bigint | undefined;
    for (let wait = 25; ; wait = Math.min(wait * 2, 500)) {
      token = await take(owner, this.ttlMs);
      if (token !== undefined) break;
      if (options.skipIfBusy) return undefined;
      if (options.signal?.aborted) {
        if (options.onAbort === 'proceed') break;
        throw new DomainError(
          'WRITER_WAIT_CANCELLED',
          `the call ended while waiting for the running turn of session "${sessionId}" to finish; nothing was changed`,
          { session_id: sessionId },
        );
      }
      await sleep(wait, options.signal, this.clock);
    }
    const lease: WriterLease = { owner, token, released: false };
    const renew = this.clock.every(Math.max(250, Math.floor(this.ttlMs / 3)), () => {
      if (token === undefined || lease.released) return;
      void this.leases.renew(tenantId, sessionId, owner, token, this.ttlMs).then(
        (held) => held || lease.released || this.onRenewFailed({ what: 'writer lease', tenantId, sessionId }),
        (err: unknown) => this.onRenewFailed({ what: 'writer lease', tenantId, sessionId, err }),
      );
    });
    try {
      return await fn(lease);
    } finally {
      renew.cancel();
      if (token !== undefined && !lease.released) await this.leases.release(tenantId, sessionId, owner, token).catch(() => {});
    }
  }
}
