// Every RPC of the four lash.v1 services is classified: a write (audited) or a read (not). A new
// RPC that is neither fails here, so no write can slip past the audit trail unnoticed.

import { describe, expect, it } from 'vitest';
import { AdminServiceService } from '../../gen/lash/v1/admin_service.js';
import { QueueServiceService } from '../../gen/lash/v1/queue_service.js';
import { SessionServiceService } from '../../gen/lash/v1/session_service.js';
import { TurnServiceService } from '../../gen/lash/v1/turn_service.js';
import { AUDITED_METHODS } from '../../src/grpc/audit.js';

const READS = new Set([
  ...['GetSession', 'ListSessions', 'GetReadView', 'GetAttachment', 'GetUsageReport', 'ExportSessionState', 'ExportSessionStateChunk', 'ObserveSession'].map(
    (m) => `lash.v1.SessionService/${m}`,
  ),
  'lash.v1.TurnService/GetTurn',
  ...['ListQueuedWork', 'AwaitQueuedWorkBatch'].map((m) => `lash.v1.QueueService/${m}`),
  ...[
    'GetToolState',
    'ListChildSessions',
    'ListAuditRecords',
    'GetProcess',
    'ListProcesses',
    'AwaitProcess',
    'ListProcessEvents',
    'WatchProcessEvents',
    'ListTriggerSubscriptions',
  ].map((m) => `lash.v1.AdminService/${m}`),
]);

describe('audit classification', () => {
  it('names every RPC either a write (audited) or a read, never both', () => {
    const methods = [SessionServiceService, TurnServiceService, QueueServiceService, AdminServiceService].flatMap((service) =>
      Object.values(service).map((m) => m.path.slice(1)),
    );
    expect(methods.length).toBeGreaterThan(40);
    const unclassified = methods.filter((m) => !AUDITED_METHODS.has(m) && !READS.has(m));
    expect(unclassified).toEqual([]);
    expect(methods.filter((m) => AUDITED_METHODS.has(m) && READS.has(m))).toEqual([]);
    expect([...AUDITED_METHODS].filter((m) => !methods.includes(m))).toEqual([]);
  });
});
