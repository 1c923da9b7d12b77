// lash.v1.AdminService handlers: messages, branches, tool state, session commands (through the
// queue), compaction and child sessions.

import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type {
  AdminServiceServer,
  AppendMessagesRequest,
  AppendMessagesResponse,
  ApplyToolStateRequest,
  ApplyToolStateResponse,
  BranchToNodeRequest,
  BranchToNodeResponse,
  ClearToolAvailabilityOverrideRequest,
  ClearToolAvailabilityOverrideResponse,
  CloseChildSessionRequest,
  CloseChildSessionResponse,
  CompactContextRequest,
  CompactContextResponse,
  CreateChildSessionRequest,
  CreateChildSessionResponse,
  GetToolStateRequest,
  GetToolStateResponse,
  ListChildSessionsRequest,
  ListChildSessionsResponse,
  ListAuditRecordsRequest,
  ListAuditRecordsResponse,
  RefreshToolCatalogRequest,
  RefreshToolCatalogResponse,
  ResetSessionRequest,
  ResetSessionResponse,
  RestoreToolStateRequest,
  RestoreToolStateResponse,
  SetToolAvailabilityRequest,
  SetToolAvailabilityResponse,
} from '../../gen/lash/v1/admin_service.js';
import { ChildStart } from '../../gen/lash/v1/admin_service.js';
import { decodeEnum } from './mappers/enums.js';
import type { ChildSessions } from '../domain/admin/children.js';
import type { ToolAdmin } from '../domain/admin/tool-state.js';
import { invalid } from '../domain/errors.js';
import { listAuditRecords } from '../domain/audit/listing.js';
import type { AuditStore } from '../domain/audit/types.js';
import type { QueueService } from '../domain/queue/service.js';
import type { SessionService } from '../domain/sessions.js';
import type { TurnService } from '../domain/turns/runner.js';
import { unary, type CallEnv } from './call.js';
import type { processHandlers } from './process-handlers.js';
import { messageFromPb } from './mappers/common.js';
import { fafFromPb, modeFromPb, residencyFromPb, sessionToPb, specFromPb, stateDocumentFromPb } from './mappers/session.js';
import { availabilityMapFromPb, toolEntryToPb } from './mappers/tools.js';

const DOMAIN = 'lash.v1.AdminService';

const CHILD_START: Record<number, 'empty' | 'parent' | 'snapshot'> = {
  [ChildStart.CHILD_START_UNSPECIFIED]: 'empty',
  [ChildStart.CHILD_START_EMPTY]: 'empty',
  [ChildStart.CHILD_START_PARENT]: 'parent',
  [ChildStart.CHILD_START_SNAPSHOT]: 'snapshot',
};

function childStartFromPb(start: number, document: unknown) {
  const kind = decodeEnum('start', start, CHILD_START, 'ChildStart');
  if (kind !== 'snapshot') return { kind };
  if (!document) throw invalid('SNAPSHOT_REQUIRED', 'start CHILD_START_SNAPSHOT needs `snapshot` (a state from ExportSessionState)');
  return { kind, document };
}

export function adminServiceHandlers(
  env: CallEnv,
  sessions: SessionService,
  queue: QueueService,
  tools: ToolAdmin,
  children: ChildSessions,
  turns: TurnService,
  audit: AuditStore,
  processes: ReturnType<typeof processHandlers>,
): AdminServiceServer & UntypedServiceImplementation {
  const rpc = <Req, Res>(method: string, fn: Parameters<typeof unary<Req, Res>>[3]) => unary<Req, Res>(env, DOMAIN, method, fn);
  return {
    ...processes,
    appendMessages: rpc<AppendMessagesRequest, AppendMessagesResponse>('AppendMessages', async (req, ctx) => {
      const messages = req.messages.map((m, i) => messageFromPb(m, `messages[${i}]`));
      return { headRevision: (await sessions.appendMessages(ctx, req.sessionId, messages)).headRevision };
    }),
    branchToNode: rpc<BranchToNodeRequest, BranchToNodeResponse>('BranchToNode', async (req, ctx) => ({
      leafNodeId: (await sessions.branchToNode(ctx, req.sessionId, req.nodeId)).leafNodeId ?? '',
    })),
    getToolState: rpc<GetToolStateRequest, GetToolStateResponse>('GetToolState', async (req, ctx) => {
      const view = await tools.get(ctx, req.sessionId);
      return { generation: view.generation, tools: view.tools.map(toolEntryToPb) };
    }),
    setToolAvailability: rpc<SetToolAvailabilityRequest, SetToolAvailabilityResponse>('SetToolAvailability', async (req, ctx) => ({
      generation: await tools.setAvailability(ctx, req.sessionId, availabilityMapFromPb(req.availability, 'availability'), req.expectedGeneration),
    })),
    clearToolAvailabilityOverride: rpc<ClearToolAvailabilityOverrideRequest, ClearToolAvailabilityOverrideResponse>(
      'ClearToolAvailabilityOverride',
      async (req, ctx) => ({
        generation: await tools.clear(ctx, req.sessionId, req.names),
      }),
    ),
    applyToolState: rpc<ApplyToolStateRequest, ApplyToolStateResponse>('ApplyToolState', async (req, ctx) => {
      if (!req.state) throw invalid('STATE_REQUIRED', 'state is required: the tool state to apply (from GetToolState)');
      return { generation: await tools.apply(ctx, req.sessionId, availabilityMapFromPb(req.state.overrides, 'state.overrides'), req.expectedGeneration) };
    }),
    restoreToolState: rpc<RestoreToolStateRequest, RestoreToolStateResponse>('RestoreToolState', async (req, ctx) => {
      if (!req.state) throw invalid('STATE_REQUIRED', 'state is required: a tool state saved earlier');
      return tools.restore(ctx, req.sessionId, availabilityMapFromPb(req.state.overrides, 'state.overrides'), req.state.generation);
    }),
    refreshToolCatalog: rpc<RefreshToolCatalogRequest, RefreshToolCatalogResponse>('RefreshToolCatalog', async (req, ctx) => {
      const r = await queue.enqueueCommand(ctx, req.sessionId, { kind: 'refresh_tool_catalog', reason: req.reason }, req.idempotencyKey);
      return { receipt: { batchId: r.batch.batchId, sourceKey: r.batch.sourceKey ?? '', deduplicated: r.deduplicated } };
    }),
    resetSession: rpc<ResetSessionRequest, ResetSessionResponse>('ResetSession', async (req, ctx) => {
      const r = await queue.enqueueCommand(ctx, req.sessionId, { kind: 'reset', reason: req.reason }, req.idempotencyKey);
      return { receipt: { batchId: r.batch.batchId, sourceKey: r.batch.sourceKey ?? '', deduplicated: r.deduplicated } };
    }),
    compactContext: rpc<CompactContextRequest, CompactContextResponse>('CompactContext', async (req, ctx) =>
      turns.compact(ctx, req.sessionId, req.instructions),
    ),
    createChildSession: rpc<CreateChildSessionRequest, CreateChildSessionResponse>('CreateChildSession', async (req, ctx) => ({
      session: sessionToPb(
        await children.create(ctx, {
          parentSessionId: req.sessionId,
          childSessionId: req.childSessionId,
          mode: modeFromPb('mode', req.mode),
          policy: specFromPb(req.spec, 'spec'),
          residency: residencyFromPb('residency', req.residency),
          finalAnswerFormat: fafFromPb(req.finalAnswerFormat),
          source: req.source || undefined,
          metadata: req.metadata,
          start: childStartFromPb(req.start, req.snapshot && stateDocumentFromPb('snapshot', req.snapshot)),
        }),
      ),
    })),
    listChildSessions: rpc<ListChildSessionsRequest, ListChildSessionsResponse>('ListChildSessions', async (req, ctx) => {
      const page = await children.list(ctx, req.sessionId, req.pageSize, req.pageToken);
      return { sessions: page.sessions.map(sessionToPb), nextPageToken: page.nextPageToken };
    }),
    closeChildSession: rpc<CloseChildSessionRequest, CloseChildSessionResponse>('CloseChildSession', async (req, ctx) => {
      await children.close(ctx, req.sessionId, req.childSessionId);
      return {};
    }),
    listAuditRecords: rpc<ListAuditRecordsRequest, ListAuditRecordsResponse>('ListAuditRecords', async (req, ctx) => {
      const page = await listAuditRecords(
        audit,
        ctx,
        { sessionId: req.sessionId || undefined, method: req.method || undefined, since: req.since, until: req.until },
        req.pageSize,
        req.pageToken,
      );
      return {
        records: page.records.map((r) => ({
          time: r.at,
          subject: r.subject,
          identitySource: r.identitySource,
          method: r.method,
          sessionId: r.sessionId ?? '',
          turnId: r.turnId ?? '',
          batchId: r.batchId ?? '',
          code: r.code,
          reason: r.reason ?? '',
          requestId: r.requestId,
        })),
        nextPageToken: page.nextPageToken,
      };
    }),
  };
}
