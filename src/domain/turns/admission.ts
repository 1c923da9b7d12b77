// Admitting a turn: idempotency by turn id (a retry of a committed turn gets its result), early
// refusals (missing session, provider not here) before any model call, and — under the session
// writer — the one statement that takes the writer lease and reads what the turn starts from
// (head, the turn id's commit, a pending cancel, a crash's open turn, the open queue batches).
// A turn with a server-chosen id on a session whose idle lease this replica keeps, with the head
// its last turn committed and a quiet queue (`KnownStart`, ADR 0082), sends no statement at all.

import { DomainError, sessionNotFound } from '../errors.js';
import { optionalId, requireId } from '../ids.js';
import type { Admission, AdmissionStore, FeedSink, HeldLease, RequestContext, SessionStore } from '../ports.js';
import type { LoadedSession } from '../session.js';
import type { SessionService } from '../sessions.js';
import type { KnownStart, WriterLease } from '../session-writers.js';
import type { Ids } from '../clock.js';
import { contentHashOf, turnIdOf, validateTurnRequest } from './input.js';
import type { RunningTurn, TurnRegistry } from './registry.js';
import { resultFromJson, type TurnRequest, type TurnResult } from './types.js';

export interface AdmissionDeps {
  sessions: Pick<SessionService, 'requireProvider' | 'writers' | 'loadAt'>;
  store: Pick<SessionStore, 'headAndTurn'>;
  admissions: AdmissionStore;
  feed: FeedSink;
  ids: Ids;
}

/** A turn that passed the checks before the writer: new, or the same turn id already running here. */
export type Checked = { result: TurnResult } | { running: RunningTurn } | { turnId: string; contentHash: string; clientChosenId: boolean };

/** What a turn starts from once it holds the writer. */
export interface Admitted {
  session: LoadedSession;
  lease: WriterLease;
  /** The session's open queue batches as the admission read them. */
  queue: Admission['queue'];
}

export class TurnAdmission {
  constructor(private readonly deps: AdmissionDeps) {}

  /**
   * Validates a RunTurn/StartTurn request and answers retries, in at most one read. With
   * `deferReads` (a caller that waits for the turn anyway, and no turn of the session running
   * here to wait behind) the read is left to the admission, which checks the same things.
   */
  async check(ctx: RequestContext, req: TurnRequest, registry: TurnRegistry, deferReads = false): Promise<Checked> {
    requireId('session_id', req.sessionId);
    optionalId('turn_id', req.turnId);
    validateTurnRequest(req);
    const turnId = turnIdOf(req, this.deps.ids);
    const hash = contentHashOf(req);
    const running = registry.get(ctx.tenantId, req.sessionId, turnId);
    if (running && (!running.settled || running.settled.error === undefined)) {
      if (running.contentHash !== hash) throw turnIdReused(req.sessionId, turnId);
      if (!running.settled) return { running };
    }
    const clientChosenId = Boolean(req.turnId || req.input.traceTurnId);
    if (deferReads) return { turnId, contentHash: hash, clientChosenId };
    // Only an id the client chose can have been committed before (a retry after a lost response).
    const { head, turn: stamp } = await this.deps.store.headAndTurn(ctx.tenantId, req.sessionId, clientChosenId ? turnId : undefined);
    if (stamp) {
      if (stamp.contentHash !== hash) throw turnIdReused(req.sessionId, turnId);
      return { result: resultFromJson(stamp.result) };
    }
    if (!head) throw sessionNotFound(req.sessionId);
    // Fail before any model call when the provider is not here (config errors are RPC errors).
    this.deps.sessions.requireProvider(req.sessionId, req.overrides.providerId || head.policy.providerId);
    return { turnId, contentHash: hash, clientChosenId };
  }

  /** Validates a drain request and answers a retried drain id; undefined to go on. */
  async checkDrain(
    ctx: RequestContext,
    sessionId: string,
    drainId: string | undefined,
    exactIds: string[] | undefined,
    skipIfBusy: boolean,
  ): Promise<TurnResult | undefined> {
    requireId('session_id', sessionId);
    optionalId('drain_id', drainId);
    exactIds?.forEach((id, i) => requireId(`batch_ids[${i}]`, id));
    // A queue worker found the session with ready work: the admission reports it if it vanished.
    if (skipIfBusy) return undefined;
    const { head, turn: stamp } = await this.deps.store.headAndTurn(ctx.tenantId, sessionId, drainId || undefined);
    if (stamp) return resultFromJson(stamp.result);
    // A caller hears about a missing session at once.
    if (!head) throw sessionNotFound(sessionId);
    return undefined;
  }

  /**
   * Runs `fn` as the session's writer, admitted: the lease taken by the admission statement
   * (retried while another replica holds it), the turn's start reads from that same statement.
   * Resolves with the committed result instead when another replica committed the same
   * client-chosen turn id meanwhile; undefined when `skipIfBusy` and the writer is busy.
   */
  async underWriter<T>(
    ctx: RequestContext,
    turn: RunningTurn,
    options: { skipIfBusy?: boolean; providerId?: string; mayStartKnown?: boolean },
    fn: (admitted: Admitted) => Promise<T>,
  ): Promise<T | TurnResult | undefined> {
    let admission: Admission | undefined;
    const take = async (owner: string, ttlMs: number, held?: HeldLease, known?: KnownStart) => {
      // Only a server-chosen id cannot have been committed before, and only a turn (not a drain)
      // starts from a quiet queue. A cancel of every turn ('*') reaches this turn through the bus
      // (it is registered); an enqueue announced since the known start's commit dropped it.
      if (held && known && options.mayStartKnown && turn.serverGeneratedId) {
        admission = { token: held.token, heldLeftMs: known.leftMs, head: known.head, cancelled: false, queue: [] };
        return admission;
      }
      admission = await this.deps.admissions.admit({
        tenantId: ctx.tenantId,
        sessionId: turn.sessionId,
        owner,
        ttlMs,
        turnId: turn.serverGeneratedId ? undefined : turn.turnId,
        cancelledSince: turn.registeredAt,
        held,
      });
      return admission;
    };
    // A cancel while waiting for the writer still commits the turn (as cancelled).
    return this.deps.sessions.writers.run(
      ctx.tenantId,
      turn.sessionId,
      async (lease) => {
        const a = admission!;
        if (a.turn) {
          // Committed meanwhile (another replica), or before (a retry whose check was deferred).
          if (a.turn.contentHash !== turn.contentHash) throw turnIdReused(turn.sessionId, turn.turnId);
          return resultFromJson(a.turn.result);
        }
        if (!a.head) throw sessionNotFound(turn.sessionId);
        if (options.providerId !== undefined) this.deps.sessions.requireProvider(turn.sessionId, options.providerId || a.head.policy.providerId);
        if (a.cancelled) turn.cancel();
        const session = await this.deps.sessions.loadAt(ctx, a.head);
        // A turn whose events reached the feed but which never committed died with its process.
        if (a.openTurnId && a.openTurnId !== turn.turnId)
          this.deps.feed.append(ctx.tenantId, turn.sessionId, session.head.headRevision, { kind: 'turn_interrupted', turnId: a.openTurnId });
        return fn({ session, lease, queue: a.queue });
      },
      { key: turn.turnId, skipIfBusy: options.skipIfBusy ?? false, signal: turn.controller.signal, onAbort: 'proceed', take },
    );
  }
}

export function turnIdReused(sessionId: string, turnId: string) {
  return new DomainError('TURN_ID_REUSED', `turn "${turnId}" of session "${sessionId}" already exists with different input; use a new turn_id`, {
    session_id: sessionId,
    turn_id: turnId,
  });
}
