// Tenant isolation over real gRPC: tenant B, authenticated with its own static token, calls every
// RPC of the four services with tenant A's session, turn, batch, child, node and completion ids
// and A's feed cursor. Each answer is exactly what an id that never existed gets (NOT_FOUND, no
// hint), also for chunked export and background processes, and a hash of every row of every
// table is the same before and after. Both tenants use
// the same session id without meeting, and B's tenant-wide tool host never sees A's tool calls.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type ClientReadableStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageRole } from '../../gen/lash/v1/common.js';
import { ToolAvailability } from '../../gen/lash/v1/tool.js';
import { ProcessKind } from '../../gen/lash/v1/process.js';
import { ListProcessesRequest, StartProcessRequest } from '../../gen/lash/v1/process_admin.js';
import {
  ListAuditRecordsRequest,
  AppendMessagesRequest,
  ApplyToolStateRequest,
  BranchToNodeRequest,
  ClearToolAvailabilityOverrideRequest,
  CloseChildSessionRequest,
  CompactContextRequest,
  CreateChildSessionRequest,
  GetToolStateRequest,
  ListChildSessionsRequest,
  RefreshToolCatalogRequest,
  ResetSessionRequest,
  RestoreToolStateRequest,
  SetToolAvailabilityRequest,
} from '../../gen/lash/v1/admin_service.js';
import {
  AwaitQueuedWorkBatchRequest,
  AwaitStatus,
  CancelQueuedWorkBatchRequest,
  EnqueueTurnInputRequest,
  ListQueuedWorkRequest,
  RunQueuedTurnRequest,
} from '../../gen/lash/v1/queue_service.js';
import {
  CloseSessionRequest,
  DeleteSessionRequest,
  ExportSessionStateRequest,
  GetReadViewRequest,
  GetSessionRequest,
  GetUsageReportRequest,
  ListSessionsRequest,
  ObserveSessionRequest,
  OpenSessionRequest,
  UpdateSessionConfigRequest,
} from '../../gen/lash/v1/session_service.js';
import {
  CancelRunningTurnsRequest,
  CancelTurnRequest,
  GetTurnRequest,
  ResolveCompletionOutcome,
  ResolveCompletionRequest,
  RunTurnRequest,
  StartTurnRequest,
} from '../../gen/lash/v1/turn_service.js';
import type { FeedMessage } from '../../gen/lash/v1/feed.js';
import { withToken } from '../../src/client/bearer.js';
import { connect, type LashClients } from '../../src/client/promised.js';
import { errorInfoOf } from '../../src/grpc/errors.js';
import { writeTokens } from '../support/auth.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { rejection } from '../support/server.js';
import { connectToolHost } from '../support/tool-host.js';
import { runTurn, startRunTurn, textInput, until } from '../support/turns.js';

const text = (t: string) => ({ id: '', role: MessageRole.MESSAGE_ROLE_USER, parts: [{ kind: { $case: 'text' as const, value: { text: t } } }] });
/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

interface Outcome {
  code: number;
  reason?: string;
  /** The answer's message with the ids asked about replaced, to compare with an unknown id's. */
  message: string;
  value?: unknown;
}

const settle = async (p: Promise<unknown>, ids: Record<string, string>): Promise<Outcome> => {
  const scrub = (m: string) => Object.entries(ids).reduce((s, [name, id]) => (id ? s.split(id).join(`<${name}>`) : s), m);
  try {
    return { code: 0, message: '', value: await p };
  } catch (err) {
    const e = err as { code: number; details: string; metadata: import('@grpc/grpc-js').Metadata };
    return { code: e.code, reason: errorInfoOf(e)?.reason, message: scrub(e.details) };
  }
};

/** The final status of a server stream (what it sent is ignored). */
const streamStatus = (call: ClientReadableStream<unknown>) =>
  new Promise<unknown>((resolve, reject) => {
    call.on('data', () => {});
    call.on('error', reject);
    call.on('end', () => resolve('ended'));
  });

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`tenant isolation on ${engine.name}`, () => {
    let dir: string;
    // Registered before the suite, so it runs after the suite's teardown (hooks unwind as a stack).
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const suite = fakeModelSuite(engine, {
      prefix: 'tenant-isolation',
      env: async () => {
        dir = mkdtempSync(join(tmpdir(), 'lash-tenants-'));
        writeTokens(join(dir, 'tokens.json'), [
          { name: 'alice', token: 'tok-tenant-a', tenant: 'tenant-a', roles: ['admin', 'tool_host'] },
          { name: 'bob', token: 'tok-tenant-b', tenant: 'tenant-b', roles: ['admin', 'tool_host'] },
        ]);
        return { LASH_AUTH_TOKENS_FILE: join(dir, 'tokens.json'), LASH_QUEUE_WORKERS: '0', LASH_TENANT_WIDE_TOOLS: 'tenant-a:approve,tenant-b:approve' };
      },
      reset: false,
    });
    let a: LashClients;
    let b: LashClients;

    /**
     * Every row of every table, hashed (row order does not matter). The audit trail is left out:
     * refused writes are recorded there by design (ADR 0046), in the caller's own tenant.
     */
    const hashAllRows = async (): Promise<string> => {
      const conn = suite.s.app.db.em().getConnection();
      const tables = (await conn.execute(
        `select table_name as t from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`,
      )) as { t: string }[];
      const h = createHash('sha256');
      for (const { t } of tables.filter((x) => x.t !== 'audit_records')) {
        const rows = (await conn.execute(`select * from "${t}"`)) as Record<string, unknown>[];
        const lines = rows.map((r) => JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).sort();
        h.update(`${t}\n${lines.join('\n')}\n`);
      }
      return h.digest('hex');
    };
    const quietHash = async () => {
      let previous = await hashAllRows();
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        const now = await hashAllRows();
        if (now === previous) return now;
        previous = now;
      }
    };

    beforeAll(() => {
      a = connect(suite.s.app.address, credentials.createInsecure(), withToken('tok-tenant-a'));
      b = connect(suite.s.app.address, credentials.createInsecure(), withToken('tok-tenant-b'));
    });
    afterAll(() => {
      a?.close();
      b?.close();
    });

    it("tenant B gets NOT_FOUND (as for an id that never existed) from every RPC on tenant A's ids, and no row changes", async () => {
      // Tenant A: sessions, a turn that used a remote tool with a pending completion, a queued
      // batch, a child session and a feed cursor.
      await a.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'a-main' }));
      await a.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'shared' }));
      const hostA = await connectToolHost(a, { tools: [{ name: 'approve' }], reply: () => ({ pending: 'a-completion' }) });
      const hostB = await connectToolHost(b, { tools: [{ name: 'approve' }], reply: () => ({ success: { stolen: true } }) });
      suite.fake.script({ steps: [{ toolCall: { name: 'approve', args: { amount: 42 } } }] }, { steps: [{ text: 'approved' }] });
      const running = startRunTurn(a, { sessionId: 'a-main', turnId: 'a-turn', input: textInput('approve 42') });
      await until(() => hostA.calls.length === 1, 30_000);
      await until(async () => {
        const [row] = await suite.s.app.db.em().getConnection().execute(`select count(*)::int as n from completions where completion_key = 'a-completion'`);
        return row.n === 1;
      }, 30_000);
      // While A's turn waits: B can neither resolve A's completion nor touch A's running turn.
      const stolen = await b.turns.resolveCompletion(
        ResolveCompletionRequest.fromPartial({ completionKey: 'a-completion', resolution: { outcome: { $case: 'value', value: { approved: false } } } }),
      );
      expect(stolen.outcome).toBe(ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_UNKNOWN);
      expect((await settle(b.turns.cancelTurn(CancelTurnRequest.fromPartial({ sessionId: 'a-main', turnId: 'a-turn' })), {})).code).toBe(5);
      expect((await settle(b.turns.cancelRunningTurns(CancelRunningTurnsRequest.fromPartial({ sessionId: 'a-main' })), {})).code).toBe(5);
      const [pending] = await suite.s.app.db.em().getConnection().execute(`select status from completions where completion_key = 'a-completion'`);
      expect(pending.status).toBe('pending');
      await a.turns.resolveCompletion(
        ResolveCompletionRequest.fromPartial({ completionKey: 'a-completion', resolution: { outcome: { $case: 'value', value: { approved: true } } } }),
      );
      const done = await running.done;
      expect(done.result?.toolCalls[0]).toMatchObject({ tool: 'approve', output: { approved: true } });
      // B's tenant-wide host of the same tool never saw A's call.
      expect(hostA.calls).toHaveLength(1);
      expect(hostB.calls).toEqual([]);
      hostA.close();
      hostB.close();
      // An image of A's, stored as an attachment of a-main.
      suite.fake.script({ steps: [{ text: 'seen' }] });
      const image = await runTurn(a, {
        sessionId: 'a-main',
        input: { items: [{ item: { $case: 'imageRef', value: { id: 'img' } } }], imageBlobs: { img: { data: PNG, mimeType: 'image/png' } } },
      });
      expect(image.result?.outcome?.$case).toBe('finished');
      const attachment = createHash('sha256').update(PNG).digest('hex');
      expect((await a.sessions.getAttachment({ sessionId: 'a-main', attachmentId: attachment, offset: 0n, length: 0 })).data).toEqual(PNG);

      const batch = (await a.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId: 'a-main', input: textInput('later'), id: 'a-batch' })))
        .batch!;
      await a.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: 'a-main', childSessionId: 'a-child' }));
      const nodeId = (await a.sessions.getReadView(GetReadViewRequest.fromPartial({ sessionId: 'a-main' }))).messages[0]!.id;
      const firstFeed = await new Promise<FeedMessage>((resolve, reject) => {
        const call = a.sessions.raw.observeSession(ObserveSessionRequest.fromPartial({ sessionId: 'a-main' }));
        call.on('data', (m: { messages: FeedMessage[] }) => m.messages[0] && (resolve(m.messages[0]), call.cancel()));
        call.on('error', (e: { code: number }) => e.code !== 1 && reject(e));
      });
      const toolState = await a.admin.getToolState(GetToolStateRequest.fromPartial({ sessionId: 'a-main' }));
      // A background process of A's, waiting for a signal (it stays active through the sweep).
      const proc = (
        await a.admin.startProcess(
          StartProcessRequest.fromPartial({
            kind: ProcessKind.PROCESS_KIND_EXTERNAL,
            input: { awaitSignal: 'go' },
            scopeSessionId: 'a-main',
            idempotencyKey: 'a-proc',
          }),
        )
      ).process!;
      // A trigger subscription of A's, matching the source keys A emits.
      await a.admin.putTriggerSubscription({
        subscription: {
          subscriptionId: 'a-sub',
          sourceType: 'webhook',
          sourceKey: 'a-*',
          template: { kind: ProcessKind.PROCESS_KIND_NOTIFY, task: 'x', sessionId: '', wakeSessionId: 'a-main', awaitSignal: '' },
          intervalMs: 0n,
          cron: '',
          timeZone: '',
        },
        firstDueTime: undefined,
      });
      const ids = {
        session: 'a-main',
        turn: 'a-turn',
        batch: batch.batchId,
        child: 'a-child',
        node: nodeId,
        completion: 'a-completion',
        cursor: firstFeed.cursor,
        process: proc.processId,
        subscription: 'a-sub',
        sourceKey: 'a-order',
        attachment,
      };
      const never = {
        session: 'zz-main',
        turn: 'zz-turn',
        batch: '00000000-0000-4000-8000-000000000000',
        child: 'zz-child',
        node: 'zz-node',
        completion: 'zz-completion',
        cursor: '',
        process: '00000000-0000-4000-8000-000000000001',
        subscription: 'zz-sub',
        sourceKey: 'zz-order',
        attachment: 'zz-attachment',
      };

      // Every RPC of the four services, as tenant B, on a set of ids.
      const calls = (i: typeof ids): [string, () => Promise<unknown>][] => [
        ['GetSession', () => b.sessions.getSession(GetSessionRequest.fromPartial({ sessionId: i.session }))],
        ['CloseSession', () => b.sessions.closeSession(CloseSessionRequest.fromPartial({ sessionId: i.session }))],
        ['DeleteSession', () => b.sessions.deleteSession(DeleteSessionRequest.fromPartial({ sessionId: i.session }))],
        ['GetReadView', () => b.sessions.getReadView(GetReadViewRequest.fromPartial({ sessionId: i.session }))],
        ['GetAttachment', () => b.sessions.getAttachment({ sessionId: i.session, attachmentId: i.attachment, offset: 0n, length: 0 })],
        ['GetUsageReport', () => b.sessions.getUsageReport(GetUsageReportRequest.fromPartial({ sessionId: i.session }))],
        [
          'UpdateSessionConfig',
          () =>
            b.sessions.updateSessionConfig(UpdateSessionConfigRequest.fromPartial({ sessionId: i.session, providerId: 'echo', updateMask: ['provider_id'] })),
        ],
        ['ExportSessionState', () => b.sessions.exportSessionState(ExportSessionStateRequest.fromPartial({ sessionId: i.session }))],
        ['ObserveSession', () => streamStatus(b.sessions.raw.observeSession(ObserveSessionRequest.fromPartial({ sessionId: i.session })))],
        [
          'ObserveSession(cursor)',
          () => streamStatus(b.sessions.raw.observeSession(ObserveSessionRequest.fromPartial({ sessionId: i.session, cursor: i.cursor }))),
        ],
        ['RunTurn', () => streamStatus(b.turns.raw.runTurn(RunTurnRequest.fromPartial({ sessionId: i.session, input: textInput('hi') })))],
        ['StartTurn', () => b.turns.startTurn(StartTurnRequest.fromPartial({ sessionId: i.session, input: textInput('hi') }))],
        ['GetTurn', () => b.turns.getTurn(GetTurnRequest.fromPartial({ sessionId: i.session, turnId: i.turn }))],
        ['CancelTurn', () => b.turns.cancelTurn(CancelTurnRequest.fromPartial({ sessionId: i.session, turnId: i.turn }))],
        ['CancelRunningTurns', () => b.turns.cancelRunningTurns(CancelRunningTurnsRequest.fromPartial({ sessionId: i.session }))],
        [
          'ResolveCompletion',
          () =>
            b.turns.resolveCompletion(
              ResolveCompletionRequest.fromPartial({ completionKey: i.completion, resolution: { outcome: { $case: 'timeout', value: {} } } }),
            ),
        ],
        ['EnqueueTurnInput', () => b.queue.enqueueTurnInput(EnqueueTurnInputRequest.fromPartial({ sessionId: i.session, input: textInput('x') }))],
        ['ListQueuedWork', () => b.queue.listQueuedWork(ListQueuedWorkRequest.fromPartial({ sessionId: i.session }))],
        ['CancelQueuedWorkBatch', () => b.queue.cancelQueuedWorkBatch(CancelQueuedWorkBatchRequest.fromPartial({ sessionId: i.session, batchId: i.batch }))],
        [
          'AwaitQueuedWorkBatch',
          () => b.queue.awaitQueuedWorkBatch(AwaitQueuedWorkBatchRequest.fromPartial({ sessionId: i.session, batchId: i.batch }), { deadlineMs: 5_000 }),
        ],
        ['RunQueuedTurn', () => streamStatus(b.queue.raw.runQueuedTurn(RunQueuedTurnRequest.fromPartial({ sessionId: i.session, batchIds: [i.batch] })))],
        ['GetToolState', () => b.admin.getToolState(GetToolStateRequest.fromPartial({ sessionId: i.session }))],
        [
          'SetToolAvailability',
          () =>
            b.admin.setToolAvailability(
              SetToolAvailabilityRequest.fromPartial({ sessionId: i.session, availability: { approve: ToolAvailability.TOOL_AVAILABILITY_OFF } }),
            ),
        ],
        [
          'ClearToolAvailabilityOverride',
          () => b.admin.clearToolAvailabilityOverride(ClearToolAvailabilityOverrideRequest.fromPartial({ sessionId: i.session, names: ['approve'] })),
        ],
        [
          'ApplyToolState',
          () => b.admin.applyToolState(ApplyToolStateRequest.fromPartial({ sessionId: i.session, state: { overrides: {}, generation: toolState.generation } })),
        ],
        [
          'RestoreToolState',
          () =>
            b.admin.restoreToolState(RestoreToolStateRequest.fromPartial({ sessionId: i.session, state: { overrides: {}, generation: toolState.generation } })),
        ],
        [
          'RefreshToolCatalog',
          () => b.admin.refreshToolCatalog(RefreshToolCatalogRequest.fromPartial({ sessionId: i.session, reason: 'x', idempotencyKey: 'b-refresh' })),
        ],
        ['ResetSession', () => b.admin.resetSession(ResetSessionRequest.fromPartial({ sessionId: i.session, reason: 'x', idempotencyKey: 'b-reset' }))],
        ['AppendMessages', () => b.admin.appendMessages(AppendMessagesRequest.fromPartial({ sessionId: i.session, messages: [text('from b')] }))],
        ['BranchToNode', () => b.admin.branchToNode(BranchToNodeRequest.fromPartial({ sessionId: i.session, nodeId: i.node }))],
        ['CompactContext', () => b.admin.compactContext(CompactContextRequest.fromPartial({ sessionId: i.session }))],
        ['CreateChildSession', () => b.admin.createChildSession(CreateChildSessionRequest.fromPartial({ sessionId: i.session, childSessionId: 'b-child' }))],
        ['ListChildSessions', () => b.admin.listChildSessions(ListChildSessionsRequest.fromPartial({ sessionId: i.session }))],
        ['CloseChildSession', () => b.admin.closeChildSession(CloseChildSessionRequest.fromPartial({ sessionId: i.session, childSessionId: i.child }))],
        ['ExportSessionStateChunk', () => b.sessions.exportSessionStateChunk({ sessionId: i.session, pageToken: '' })],
        ['GetProcess', () => b.admin.getProcess({ processId: i.process })],
        ['AwaitProcess', () => b.admin.awaitProcess({ processId: i.process, waitMs: 10 })],
        ['CancelProcess', () => b.admin.cancelProcess({ processId: i.process, reason: 'b' })],
        ['SignalProcess', () => b.admin.signalProcess({ processId: i.process, name: 'go', payload: 'from b', idempotencyKey: 'b-signal' })],
        ['ListProcessEvents', () => b.admin.listProcessEvents({ processId: i.process, afterSeq: 0n, pageSize: 10 })],
        ['WatchProcessEvents', () => streamStatus(b.admin.raw.watchProcessEvents({ processId: i.process, afterSeq: 0n }))],
        ['ListProcesses', () => b.admin.listProcesses(ListProcessesRequest.fromPartial({ scopeSessionId: i.session }))],
        ['CancelProcesses', () => b.admin.cancelProcesses({ scopeSessionId: i.session, reason: 'b' })],
        ['ListTriggerSubscriptions', () => b.admin.listTriggerSubscriptions({ sourceType: 'webhook', pageSize: 10, pageToken: '' })],
        ['DeleteTriggerSubscription', () => b.admin.deleteTriggerSubscription({ subscriptionId: i.subscription })],
        ['EmitTrigger', () => b.admin.emitTrigger({ sourceType: 'webhook', sourceKey: i.sourceKey, payload: undefined, idempotencyKey: 'b-emit' })],
      ];

      const before = await quietHash();
      const onA: Record<string, Outcome> = {};
      const onNever: Record<string, Outcome> = {};
      for (const [name, call] of calls(ids)) onA[name] = await settle(call(), ids);
      for (const [name, call] of calls(never)) onNever[name] = await settle(call(), never);
      expect(await quietHash()).toBe(before);

      for (const [name] of calls(ids)) {
        // No hint: exactly the answer for ids that never existed.
        expect({ name, ...onA[name] }).toEqual({ name, ...onNever[name] });
      }
      // Idempotent calls answer "nothing there" instead of NOT_FOUND, the same for any unknown id.
      const answered = Object.entries(onA)
        .filter(([, o]) => o.code !== 5)
        .map(([name, o]) => [name, o.code, o.value]);
      expect(answered).toEqual([
        ['DeleteSession', 0, { deleted: false, failedProcessIds: [], keptProcessIds: [], orphanedProcessIds: [] }],
        ['ResolveCompletion', 0, expect.objectContaining({ outcome: ResolveCompletionOutcome.RESOLVE_COMPLETION_OUTCOME_UNKNOWN })],
        ['AwaitQueuedWorkBatch', 0, expect.objectContaining({ status: AwaitStatus.AWAIT_STATUS_UNKNOWN })],
        // Filters by a session: B's own processes in that scope, of which it has none.
        ['ListProcesses', 0, { processes: [], nextPageToken: '' }],
        ['CancelProcesses', 0, { cancelledProcessIds: [] }],
        // B's own subscriptions (none), nothing of B's to delete, no subscription of B's matches.
        ['ListTriggerSubscriptions', 0, { subscriptions: [], nextPageToken: '' }],
        ['DeleteTriggerSubscription', 0, { deleted: false }],
        ['EmitTrigger', 0, { deliveries: [] }],
      ]);
      // B's listings show none of A's sessions.
      expect((await b.sessions.listSessions(ListSessionsRequest.fromPartial({ pageSize: 100 }))).sessions).toEqual([]);
      // A's rows are all still there.
      expect((await a.queue.listQueuedWork(ListQueuedWorkRequest.fromPartial({ sessionId: 'a-main' }))).batches.map((x) => x.batchId)).toEqual([batch.batchId]);
      expect((await a.admin.listChildSessions(ListChildSessionsRequest.fromPartial({ sessionId: 'a-main' }))).sessions.map((x) => x.sessionId)).toEqual([
        'a-child',
      ]);
      expect((await a.admin.getProcess({ processId: proc.processId })).process?.status).toBe(proc.status);
      expect((await a.admin.listTriggerSubscriptions({ sourceType: '', pageSize: 10, pageToken: '' })).subscriptions.map((x) => x.subscriptionId)).toEqual([
        'a-sub',
      ]);
      // The audit trail: B lists only its own (refused) attempts, A none of them.
      await suite.s.app.audit.drain();
      const trail = async (c: LashClients) => (await c.admin.listAuditRecords(ListAuditRecordsRequest.fromPartial({ pageSize: 1_000 }))).records;
      const bTrail = await trail(b);
      expect(bTrail.length).toBeGreaterThan(10);
      expect(new Set(bTrail.map((r) => r.subject))).toEqual(new Set(['bob']));
      expect((await trail(a)).filter((r) => r.subject !== 'alice')).toEqual([]);
    });

    it('both tenants use the same session id, process idempotency key and trigger subscription id without meeting', async () => {
      // B's StartProcess with A's idempotency key starts B's own process, not A'suite.s.
      const bProc = (
        await b.admin.startProcess(
          StartProcessRequest.fromPartial({ kind: ProcessKind.PROCESS_KIND_EXTERNAL, input: { awaitSignal: 'go' }, idempotencyKey: 'a-proc' }),
        )
      ).process!;
      const aProcs = (await a.admin.listProcesses(ListProcessesRequest.fromPartial({ pageSize: 100 }))).processes.map((p) => p.processId);
      expect(aProcs).not.toContain(bProc.processId);
      expect((await rejection(a.admin.getProcess({ processId: bProc.processId }))).code).toBe(5);
      // B's subscription with A's id is B's own; A's stays as it was.
      await b.admin.putTriggerSubscription({
        subscription: {
          subscriptionId: 'a-sub',
          sourceType: 'webhook',
          sourceKey: 'b-*',
          template: { kind: ProcessKind.PROCESS_KIND_NOTIFY, task: 'y', sessionId: '', wakeSessionId: 'shared', awaitSignal: '' },
          intervalMs: 0n,
          cron: '',
          timeZone: '',
        },
        firstDueTime: undefined,
      });
      const keyOf = async (c: LashClients) =>
        (await c.admin.listTriggerSubscriptions({ sourceType: '', pageSize: 10, pageToken: '' })).subscriptions.map((x) => [x.subscriptionId, x.sourceKey]);
      expect(await keyOf(a)).toEqual([['a-sub', 'a-*']]);
      expect(await keyOf(b)).toEqual([['a-sub', 'b-*']]);

      const opened = await b.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'shared' }));
      expect(opened.created).toBe(true);
      await a.admin.appendMessages(AppendMessagesRequest.fromPartial({ sessionId: 'shared', messages: [text('only a')] }));
      suite.fake.script({ steps: [{ text: 'hello b' }] });
      const t = await runTurn(b, { sessionId: 'shared', input: textInput('only b') });
      expect(t.result?.outcome?.$case).toBe('finished');
      const view = async (c: LashClients) =>
        (await c.sessions.getReadView(GetReadViewRequest.fromPartial({ sessionId: 'shared' }))).messages.map((m) =>
          m.parts[0]?.kind?.$case === 'text' ? m.parts[0].kind.value.text : '?',
        );
      expect(await view(a)).toEqual(['only a']);
      expect(await view(b)).toEqual(['only b', 'hello b']);
      // A deletes its "shared"; B's is untouched.
      expect((await a.sessions.deleteSession(DeleteSessionRequest.fromPartial({ sessionId: 'shared' }))).deleted).toBe(true);
      expect(await view(b)).toEqual(['only b', 'hello b']);
    });
  });
}
