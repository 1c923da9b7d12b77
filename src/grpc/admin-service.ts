// lash.v1.AdminService handlers. Messages and branches are implemented; tool state, commands,
// compaction and child sessions arrive with the admin capability.

import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { AdminServiceServer, AppendMessagesRequest, AppendMessagesResponse, BranchToNodeRequest, BranchToNodeResponse, RefreshToolCatalogRequest, RefreshToolCatalogResponse, ResetSessionRequest, ResetSessionResponse } from '../../gen/lash/v1/admin_service.js';
import type { QueueService } from '../domain/queue/service.js';
import type { SessionService } from '../domain/sessions.js';
import { unary, type CallEnv } from './call.js';
import { messageFromPb } from './mappers/common.js';
import { unimplementedUnary } from './unimplemented.js';

const DOMAIN = 'lash.v1.AdminService';

export function adminServiceHandlers(env: CallEnv, sessions: SessionService, queue: QueueService): AdminServiceServer & UntypedServiceImplementation {
  const later = (method: string, capability: string) => unimplementedUnary(env, DOMAIN, method, capability);
  return {
    appendMessages: unary<AppendMessagesRequest, AppendMessagesResponse>(env, DOMAIN, 'AppendMessages', async (req, ctx) => {
      const messages = req.messages.map((m, i) => messageFromPb(m, `messages[${i}]`));
      return { headRevision: (await sessions.appendMessages(ctx, req.sessionId, messages)).headRevision };
    }),
    branchToNode: unary<BranchToNodeRequest, BranchToNodeResponse>(env, DOMAIN, 'BranchToNode', async (req, ctx) => ({
      leafNodeId: (await sessions.branchToNode(ctx, req.sessionId, req.nodeId)).leafNodeId ?? '',
    })),
    getToolState: later('GetToolState', 'tool administration'),
    setToolAvailability: later('SetToolAvailability', 'tool administration'),
    clearToolAvailabilityOverride: later('ClearToolAvailabilityOverride', 'tool administration'),
    applyToolState: later('ApplyToolState', 'tool administration'),
    restoreToolState: later('RestoreToolState', 'tool administration'),
    refreshToolCatalog: unary<RefreshToolCatalogRequest, RefreshToolCatalogResponse>(env, DOMAIN, 'RefreshToolCatalog', async (req, ctx) => {
      const r = await queue.enqueueCommand(ctx, req.sessionId, { kind: 'refresh_tool_catalog', reason: req.reason }, req.idempotencyKey);
      return { receipt: { batchId: r.batch.batchId, sourceKey: r.batch.sourceKey ?? '', deduplicated: r.deduplicated } };
    }),
    resetSession: unary<ResetSessionRequest, ResetSessionResponse>(env, DOMAIN, 'ResetSession', async (req, ctx) => {
      const r = await queue.enqueueCommand(ctx, req.sessionId, { kind: 'reset', reason: req.reason }, req.idempotencyKey);
      return { receipt: { batchId: r.batch.batchId, sourceKey: r.batch.sourceKey ?? '', deduplicated: r.deduplicated } };
    }),
    compactContext: later('CompactContext', 'context compaction'),
    createChildSession: later('CreateChildSession', 'child session administration'),
    listChildSessions: later('ListChildSessions', 'child session administration'),
    closeChildSession: later('CloseChildSession', 'child session administration'),
  };
}
