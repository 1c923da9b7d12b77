// One writer per session across the deployment. Inside this process callers queue on a keyed
// mutex (cheap, fair); around the work they hold the session lease, so writers on other replicas
// wait too. Turns, compaction and every admin mutation run under it. Not re-entrant: code under a
// writer must not ask for the same session's writer again. The lease may be taken by the
// caller's own statement (`take`: a turn reads what it starts from in the same round trip) and
// ended by its final commit (`WriterLease.released`), so a turn pays no round trip for either.
// With a linger (ADR 0079) a writer's end keeps the lease for this replica, idle, instead of
// deleting it: the next writer of the session here goes on under it without writing, another
// replica that wants it asks over the bus (`askRelease` / `releaseAsked`) and it is let go.
// A lease whose holder is provably dead (`holderGone`, e.g. this replica's predecessor killed
// before a restart, ADR 0081) is released by the writer that finds it, at once, instead of being
// waited out: nobody would answer the ask.
// An idle lease kept by a turn's commit also remembers that commit's head while the session's
// queue is known quiet (`KnownStart`): the next turn here may start from it without reading.

import { systemClock, type Clock } from './clock.js';
import { DomainError } from './errors.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { HeldLease, LeaseStore, RenewalFailed } from './ports.js';
import type { SessionHead } from './session.js';
import type { Timer } from './clock.js';
import { sleep } from './sleep.js';

/** Lease-owner key of admin writes; turns use their turn id. */
export const ADMIN_WRITER_KEY = '~admin';

/** Lease-owner key of the lease a replica keeps between its writers (idle, ADR 0079). */
export const IDLE_WRITER_KEY = '~idle';

/** The idle owner of the replica that `owner` (`<replica>/<key>`) names: `<replica>/~idle`. */
export function idleOwnerOf(owner: string): string {
  const slash = owner.indexOf('/');
  return `${slash < 0 ? owner : owner.slice(0, slash)}/${IDLE_WRITER_KEY}`;
}

/** The replica id a lease owner (`<replica>/<key>`) names. */
export function replicaOf(owner: string): string {
  const slash = owner.indexOf('/');
  return slash < 0 ? owner : owner.slice(0, slash);
}

/**
 * Whether the replica that holds a lease is provably dead (its process is gone), so its lease may
 * be released at once (ADR 0081). False whenever unsure: the lease is then waited out.
 */
export type HolderGone = (replicaId: string) => boolean | Promise<boolean>;

/** Bus topic of a writer's request to the other replicas to let go of a session's lease ({tenantId, sessionId, from}). */
export const WRITER_RELEASE_TOPIC = 'writer.release';

/** How often a writer waiting for another replica's lease asks it again to let go. */
const ASK_AGAIN_MS = 1_000;

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
  /**
   * Takes the lease (its token; none while held elsewhere); default `LeaseStore.heldFor` then
   * `LeaseStore.acquire`. With `held`, the writer may go on under this replica's idle lease without
   * writing: then `heldLeftMs` says so (and how long that lease has left).
   */
  take?(owner: string, ttlMs: number, held?: HeldLease, known?: KnownStart): Promise<LeaseTake>;
  /** False: the lease ends with this writer and is never kept idle (parking, deleting). */
  linger?: boolean;
}

/** What a take returns: the token, and `heldLeftMs` when the writer goes on under its idle lease. */
export interface LeaseTake {
  token?: bigint;
  heldLeftMs?: number;
}

/**
 * What this replica knows a session starts from while it keeps the session's idle lease (ADR
 * 0082): the head its last writer's commit stored, with the session's queue quiet (that writer's
 * admission found no open batch and no enqueue was announced since). Nothing else can have
 * written the session meanwhile: another writer needs the lease, and a writer here dropped it.
 */
export interface KnownStart {
  head: SessionHead;
  /** How long the idle lease has left by this replica's estimate (at least half the linger). */
  leftMs: number;
}

/** The lease a writer holds: a commit may end it (`SessionService.commit` with `lease`). */
export interface WriterLease {
  /** The owner the lease row names: this writer's, or its replica's idle owner when it went on under that. */
  readonly owner: string;
  /** Undefined when the writer proceeds without it (cancelled while waiting). */
  readonly token?: bigint;
  /** Set when a commit ended it; the writer then sends no release of its own. */
  released: boolean;
  /**
   * Asked by a commit that ends the lease: keep it for this replica, idle (the idle owner and the
   * linger), or delete it (undefined: no linger, another replica asked for it, or shutting down).
   */
  keep?(): { owner: string; lingerMs: number } | undefined;
  /** Set when the commit that ended it kept it idle. */
  kept?: boolean;
  /** The head that commit stored (set with `kept`). */
  committedHead?: SessionHead;
  /**
   * Set by a turn whose admission found the queue empty and that saw no enqueue announced up to
   * its commit: the head it committed may be the next turn's known start (`KnownStart`).
   */
  queueQuiet?: boolean;
}

/** An idle lease this replica holds, as far as it knows. */
interface IdleLease {
  tenantId: string;
  sessionId: string;
  owner: string;
  token: bigint;
  /** Clock ms at which it expires (the store's clock decides; this is the local estimate). */
  untilMs: number;
  timer: Timer;
  /** The head the commit that kept it stored, while the session's queue is known quiet. */
  head?: SessionHead;
}

export class SessionWriters {
  private readonly local = new KeyedMutex();
  /** Idle leases kept by this replica, by session key; each entry is dropped by its linger timer. */
  private readonly idle = new Map<string, IdleLease>();
  /** Sessions with a writer here (waiting for or holding the lease). */
  private readonly active = new Set<string>();
  /** Sessions another replica asked for while a writer here held them: its end releases. */
  private readonly wanted = new Set<string>();
  /** Sessions with a writer here for which an enqueue was announced meanwhile: its end knows no start. */
  private readonly enqueued = new Set<string>();
  private closing = false;

  /** Set by the composition root: asks the other replicas to let go of a session's writer lease (bus). */
  askRelease: (tenantId: string, sessionId: string) => void = () => {};

  constructor(
    private readonly leases: LeaseStore,
    readonly replicaId: string,
    private readonly ttlMs: number,
    private readonly onRenewFailed: RenewalFailed = () => {},
    /** Paces the lease renewals and the waits for a busy lease. */
    private readonly clock: Clock = systemClock,
    /** How long a writer's end keeps the lease for this replica, idle (0: deleted at once, ADR 0079). */
    readonly lingerMs = 0,
    /** Tells a dead holder's lease (released at once) from a live one's (asked for, waited for; ADR 0081). */
    private readonly holderGone: HolderGone = () => false,
    /** Told when a dead holder's lease was released here (logs). */
    private readonly onDeadHolder: (d: { tenantId: string; sessionId: string; owner: string }) => void = () => {},
  ) {}

  /** The least an idle lease must have left for a writer to go on under it without writing. */
  private get minLeftMs(): number {
    return Math.floor(this.lingerMs / 2);
  }

  /** Idle leases this replica keeps now. */
  get idleCount(): number {
    return this.idle.size;
  }

  /** The lease owner string of a writer key on this replica. */
  ownerOf(key: string): string {
    return `${this.replicaId}/${key}`;
  }

  /** True when a lease owner names an admin write rather than a turn. */
  static isAdminOwner(owner: string): boolean {
    return owner.endsWith(`/${ADMIN_WRITER_KEY}`);
  }

  /** True when a lease owner names a replica's idle lease (no writer named; ADR 0079). */
  static isIdleOwner(owner: string): boolean {
    return owner.endsWith(`/${IDLE_WRITER_KEY}`);
  }

  run<T>(tenantId: string, sessionId: string, fn: (lease: WriterLease) => Promise<T>, options: WriterOptions & { skipIfBusy: true }): Promise<T | undefined>;
  run<T>(tenantId: string, sessionId: string, fn: (lease: WriterLease) => Promise<T>, options?: WriterOptions): Promise<T>;
  async run<T>(tenantId: string, sessionId: string, fn: (lease: WriterLease) => Promise<T>, options: WriterOptions = {}): Promise<T | undefined> {
    const key = keyOf(tenantId, sessionId);
    return this.local.run(key, async () => {
      this.active.add(key);
      try {
        return await this.underLease(tenantId, sessionId, key, fn, options);
      } finally {
        this.active.delete(key);
        this.wanted.delete(key);
        this.enqueued.delete(key);
      }
    });
  }

  /**
   * Another replica asked for the session's lease: an idle one is released now; a writer here
   * ends its lease (its commit deletes rather than keeps it). Not this replica's: nothing.
   */
  releaseAsked(tenantId: string, sessionId: string): void {
    const key = keyOf(tenantId, sessionId);
    if (this.active.has(key)) this.wanted.add(key);
    else void this.letGo(tenantId, sessionId);
  }

  /**
   * An enqueue was announced for the session (bus `queue.enqueued`, delivered before a local
   * enqueue answers): the next writer must read the queue, so no known start is kept for it.
   */
  enqueueAnnounced(tenantId: string, sessionId: string): void {
    const key = keyOf(tenantId, sessionId);
    if (this.active.has(key)) this.enqueued.add(key);
    const idle = this.idle.get(key);
    if (idle) idle.head = undefined;
  }

  /** Releases the session's idle lease if this replica keeps one (parked, evicted, asked for). */
  letGo(tenantId: string, sessionId: string): Promise<void> {
    const key = keyOf(tenantId, sessionId);
    const idle = this.active.has(key) ? undefined : this.dropIdle(key);
    return idle ? this.leases.release(tenantId, sessionId, idle.owner, idle.token).catch(() => {}) : Promise.resolve();
  }

  /** Shutdown: every idle lease is released and no writer keeps one from now on. */
  async releaseIdle(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.idle.values()].map((i) => this.letGo(i.tenantId, i.sessionId)));
  }

  private dropIdle(key: string): IdleLease | undefined {
    const idle = this.idle.get(key);
    if (!idle) return undefined;
    idle.timer.cancel();
    this.idle.delete(key);
    return idle;
  }

  /** Whether a writer's end keeps its lease idle for this replica. */
  private lingers(key: string, options: WriterOptions): boolean {
    return this.lingerMs > 0 && options.linger !== false && !this.closing && !this.wanted.has(key);
  }

  /** Notes an idle lease this replica now keeps; released at once if asked for meanwhile. */
  private async remember(tenantId: string, sessionId: string, key: string, owner: string, token: bigint, untilMs?: number, head?: SessionHead): Promise<void> {
    if (this.wanted.has(key) || this.closing) {
      await this.leases.release(tenantId, sessionId, owner, token).catch(() => {});
      return;
    }
    const until = untilMs ?? this.clock.nowMs() + this.lingerMs;
    const idle: IdleLease = {
      tenantId,
      sessionId,
      owner,
      token,
      untilMs: until,
      head: head && !this.enqueued.has(key) ? head : undefined,
      timer: this.clock.after(Math.max(0, until - this.clock.nowMs()), () => {
        if (this.idle.get(key) === idle) this.idle.delete(key);
      }),
    };
    this.idle.set(key, idle);
  }

  /**
   * Releases the session's lease when its holder is provably dead (ADR 0081); true if it did. The
   * release names the owner and token read, so a lease taken anew meanwhile is left alone. Safe
   * even if the probe erred: a lease only keeps a second writer from starting, the commit's
   * compare-and-set decides what lands.
   */
  private async releaseIfHolderGone(tenantId: string, sessionId: string): Promise<boolean> {
    const holder = await this.leases.holder(tenantId, sessionId);
    if (!holder) return true; // expired or released meanwhile: take it
    const replica = replicaOf(holder.owner);
    if (replica === this.replicaId || !(await this.holderGone(replica))) return false;
    await this.leases.release(tenantId, sessionId, holder.owner, holder.token);
    this.onDeadHolder({ tenantId, sessionId, owner: holder.owner });
    return true;
  }

  private async underLease<T>(
    tenantId: string,
    sessionId: string,
    key: string,
    fn: (lease: WriterLease) => Promise<T>,
    options: WriterOptions,
  ): Promise<T | undefined> {
    const owner = this.ownerOf(options.key ?? ADMIN_WRITER_KEY);
    const idleOwner = this.ownerOf(IDLE_WRITER_KEY);
    // The idle lease this replica kept: this writer goes on under it if it has enough left.
    const idle = this.dropIdle(key);
    const idleLeftMs = idle ? idle.untilMs - this.clock.nowMs() : 0;
    let held: HeldLease | undefined = idle && idleLeftMs >= this.minLeftMs ? { owner: idle.owner, token: idle.token, minLeftMs: this.minLeftMs } : undefined;
    // Its head, when the writer that kept it committed with the queue quiet (ADR 0082).
    let known: KnownStart | undefined = held && idle!.head ? { head: idle!.head, leftMs: idleLeftMs } : undefined;
    const take =
      options.take ??
      (async (o: string, ttl: number, h?: HeldLease): Promise<LeaseTake> => {
        if (h) {
          const left = await this.leases.heldFor(tenantId, sessionId, h.owner, h.token, h.minLeftMs);
          if (left !== undefined) return { token: h.token, heldLeftMs: left };
        }
        return { token: await this.leases.acquire(tenantId, sessionId, o, ttl) };
      });
    let token: bigint | undefined;
    let leaseOwner = owner;
    let leftMs = this.ttlMs;
    let askedAt = -Infinity;
    let probedAt = -Infinity;
    /** Went on under the replica's idle lease (its admission only read it). */
    let underIdle = false;
    for (let wait = 25; ; wait = Math.min(wait * 2, 500)) {
      const got = await take(owner, this.ttlMs, held, known);
      token = got.token;
      if (token !== undefined) {
        if (got.heldLeftMs !== undefined && held) {
          leaseOwner = held.owner;
          leftMs = got.heldLeftMs;
          underIdle = true;
        }
        break;
      }
      held = undefined;
      known = undefined;
      // Held elsewhere. A holder that is provably dead answers no ask: release its lease and take
      // it now (once a second at most, like the ask: a holder may also die while we wait).
      if (this.clock.monotonicMs() - probedAt >= ASK_AGAIN_MS) {
        probedAt = this.clock.monotonicMs();
        if (await this.releaseIfHolderGone(tenantId, sessionId)) continue;
      }
      if (options.skipIfBusy) return undefined;
      // Another replica holds it: ask it to let go (kept idle there, it is released at once; a
      // writer there ends it with its commit). Again now and then, in case a notice was lost; the
      // lease's expiry bounds the wait if nobody answers.
      if (this.clock.monotonicMs() - askedAt >= ASK_AGAIN_MS) {
        askedAt = this.clock.monotonicMs();
        this.askRelease(tenantId, sessionId);
      }
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
    const lease: WriterLease = {
      owner: leaseOwner,
      token,
      released: false,
      keep: () => (this.lingers(key, options) ? { owner: idleOwner, lingerMs: this.lingerMs } : undefined),
    };
    // Renewed every third of the TTL; an idle lease gone on under may have less left, so its first
    // renewal comes at half of what it has.
    const every = Math.max(250, Math.floor(this.ttlMs / 3));
    const renewOnce = () => {
      if (token === undefined || lease.released) return;
      void this.leases.renew(tenantId, sessionId, leaseOwner, token, this.ttlMs).then(
        (ok) => ok || lease.released || this.onRenewFailed({ what: 'writer lease', tenantId, sessionId }),
        (err: unknown) => this.onRenewFailed({ what: 'writer lease', tenantId, sessionId, err }),
      );
    };
    let renewal: Timer | undefined;
    const tick = () => {
      renewOnce();
      renewal = this.clock.after(every, tick);
    };
    renewal = this.clock.after(Math.max(1, Math.min(every, Math.floor(leftMs / 2))), tick);
    let failed = false;
    let refused = false;
    try {
      return await fn(lease);
    } catch (err) {
      failed = true;
      refused = err instanceof DomainError;
      throw err;
    } finally {
      renewal?.cancel();
      if (token !== undefined && !lease.released) {
        // Its last write was no commit (or it ended before one): the lease is kept or released
        // here. A writer that failed releases it (its turn reads as interrupted elsewhere at once),
        // except a refusal under the replica's idle lease: it wrote nothing, so the lease stays as
        // it was, untouched in the store (a refused call changes no row, ADR 0079).
        if (refused && underIdle && idle && this.lingers(key, options)) await this.remember(tenantId, sessionId, key, leaseOwner, token, idle.untilMs);
        else if (!failed && this.lingers(key, options)) {
          const kept = await this.leases.keep(tenantId, sessionId, leaseOwner, token, idleOwner, this.lingerMs).catch(() => false);
          if (kept) await this.remember(tenantId, sessionId, key, idleOwner, token);
        } else await this.leases.release(tenantId, sessionId, leaseOwner, token).catch(() => {});
      } else if (token !== undefined && lease.kept)
        await this.remember(tenantId, sessionId, key, idleOwner, token, undefined, lease.queueQuiet ? lease.committedHead : undefined);
    }
  }
}

/** The in-process key of a session (the same as the resident cache's). */
function keyOf(tenantId: string, sessionId: string): string {
  return `${tenantId}\u0000${sessionId}`;
}
