// Which role each RPC needs, and which held roles satisfy it. One table for all four lash.v1
// services: a method missing here is refused (fail closed), so a new RPC must be placed in it.

import type { Role } from '../domain/auth/principal.js';

/** `authenticated`: any identity will do (health and reflection when they are not open). */
export type Requirement = Role | 'authenticated';

const OBSERVE: Requirement = 'observer';
const RUN: Requirement = 'runner';
const ADMIN: Requirement = 'admin';

/** Full gRPC method path → the role it needs. */
export const METHOD_ROLES: Readonly<Record<string, Requirement>> = {
  '/lash.v1.SessionService/OpenSession': RUN,
  '/lash.v1.SessionService/GetSession': OBSERVE,
  '/lash.v1.SessionService/ListSessions': OBSERVE,
  '/lash.v1.SessionService/CloseSession': RUN,
  '/lash.v1.SessionService/DeleteSession': ADMIN,
  '/lash.v1.SessionService/GetReadView': OBSERVE,
  '/lash.v1.SessionService/GetAttachment': OBSERVE,
  '/lash.v1.SessionService/GetUsageReport': OBSERVE,
  '/lash.v1.SessionService/UpdateSessionConfig': ADMIN,
  '/lash.v1.SessionService/ExportSessionState': OBSERVE,
  '/lash.v1.SessionService/ExportSessionStateChunk': OBSERVE,
  '/lash.v1.SessionService/ObserveSession': OBSERVE,
  '/lash.v1.TurnService/RunTurn': RUN,
  '/lash.v1.TurnService/StartTurn': RUN,
  '/lash.v1.TurnService/GetTurn': OBSERVE,
  '/lash.v1.TurnService/CancelTurn': RUN,
  '/lash.v1.TurnService/CancelRunningTurns': RUN,
  '/lash.v1.TurnService/ResolveCompletion': RUN,
  '/lash.v1.TurnService/ServeTools': 'tool_host',
  '/lash.v1.QueueService/EnqueueTurnInput': RUN,
  '/lash.v1.QueueService/ListQueuedWork': OBSERVE,
  '/lash.v1.QueueService/CancelQueuedWorkBatch': RUN,
  '/lash.v1.QueueService/AwaitQueuedWorkBatch': OBSERVE,
  '/lash.v1.QueueService/RunQueuedTurn': RUN,
  '/lash.v1.AdminService/GetToolState': ADMIN,
  '/lash.v1.AdminService/SetToolAvailability': ADMIN,
  '/lash.v1.AdminService/ClearToolAvailabilityOverride': ADMIN,
  '/lash.v1.AdminService/ApplyToolState': ADMIN,
  '/lash.v1.AdminService/RestoreToolState': ADMIN,
  '/lash.v1.AdminService/RefreshToolCatalog': ADMIN,
  '/lash.v1.AdminService/ResetSession': ADMIN,
  '/lash.v1.AdminService/AppendMessages': ADMIN,
  '/lash.v1.AdminService/BranchToNode': ADMIN,
  '/lash.v1.AdminService/CompactContext': ADMIN,
  '/lash.v1.AdminService/CreateChildSession': ADMIN,
  '/lash.v1.AdminService/ListChildSessions': ADMIN,
  '/lash.v1.AdminService/CloseChildSession': ADMIN,
  '/lash.v1.AdminService/ListAuditRecords': ADMIN,
  // Background processes and triggers: reading and awaiting is observing, starting and steering
  // is running work, and trigger subscriptions are configuration.
  '/lash.v1.AdminService/GetProcess': OBSERVE,
  '/lash.v1.AdminService/ListProcesses': OBSERVE,
  '/lash.v1.AdminService/AwaitProcess': OBSERVE,
  '/lash.v1.AdminService/ListProcessEvents': OBSERVE,
  '/lash.v1.AdminService/WatchProcessEvents': OBSERVE,
  '/lash.v1.AdminService/ListTriggerSubscriptions': OBSERVE,
  '/lash.v1.AdminService/StartProcess': RUN,
  '/lash.v1.AdminService/CancelProcess': RUN,
  '/lash.v1.AdminService/CancelProcesses': RUN,
  '/lash.v1.AdminService/SignalProcess': RUN,
  '/lash.v1.AdminService/EmitTrigger': RUN,
  '/lash.v1.AdminService/PutTriggerSubscription': ADMIN,
  '/lash.v1.AdminService/DeleteTriggerSubscription': ADMIN,
};

/**
 * observer ⊂ runner ⊂ admin: each includes what the one before may do. tool_host stands apart: a
 * tool host answers tool calls and nothing else, and no other role may serve tools.
 */
const IMPLIED_BY: Readonly<Record<Role, readonly Role[]>> = {
  observer: ['observer', 'runner', 'admin'],
  runner: ['runner', 'admin'],
  admin: ['admin'],
  tool_host: ['tool_host'],
};

export function satisfies(held: ReadonlySet<Role>, needed: Requirement): boolean {
  if (needed === 'authenticated') return true;
  return IMPLIED_BY[needed].some((r) => held.has(r));
}
