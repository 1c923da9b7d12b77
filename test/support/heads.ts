// A session head for store and unit tests: a standard echo session at revision 0, idle, in tenant
// `t` unless `extra` says otherwise.

import type { SessionHead } from '../../src/domain/session.js';

export function testHead(sessionId: string, extra: Partial<SessionHead> = {}): SessionHead {
  const now = new Date();
  return {
    tenantId: 't',
    sessionId,
    mode: 'standard',
    policy: { model: { id: 'echo', contextWindowTokens: 1000 }, providerId: 'echo', autonomous: false },
    residency: 'keep_all',
    finalAnswerFormat: { kind: 'markdown' },
    metadata: {},
    headRevision: 0n,
    turnIndex: 0n,
    currentFrameId: `f-${sessionId}`,
    status: 'idle',
    toolState: { generation: 0n, overrides: {} },
    createdAt: now,
    updatedAt: now,
    ...extra,
  };
}
