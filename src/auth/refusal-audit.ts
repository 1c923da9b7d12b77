// Files writes refused for their credential in the audit trail (ADR 0062). Such a caller has no
// tenant of its own: the row goes to the reserved `_unauthenticated` tenant, unless the credential
// was an issuer-signed JWT refused for its claims (expired, wrong audience …), whose tenant and
// subject are then trusted enough to show the refusal to that tenant. The caller is named by its
// verified subject or its peer address, never by what it sent; a RefusalBudget bounds the rows.

import type { Metadata } from '@grpc/grpc-js';
import type { AuditRecord } from '../domain/audit/types.js';
import type { RefusalBudget } from '../domain/audit/refusal-budget.js';
import type { DomainError } from '../domain/errors.js';
import { requestIdOf } from '../grpc/call.js';
import { refusalRecordOf } from '../grpc/audit.js';
import { mechanismOf, UNAUTHENTICATED_TENANT, verifiedClaimsOf } from './failures.js';
import { peerAddress } from './peer.js';

export interface UnauthenticatedCall {
  /** "service/Method". */
  method: string;
  err: DomainError;
  code: string;
  peer: string;
  metadata: Metadata;
  request: unknown;
}

export function refusalAuditor(budget: RefusalBudget, record: (r: AuditRecord) => void, onError: (err: unknown) => void): (call: UnauthenticatedCall) => void {
  return (call) => {
    try {
      const claims = verifiedClaimsOf(call.err);
      const tenantId = claims.tenantId ?? UNAUTHENTICATED_TENANT;
      const subject = claims.subject ?? `peer:${peerAddress(call.peer)?.ip ?? 'unknown'}`;
      const mechanism = mechanismOf(call.err.reason);
      const r = refusalRecordOf({
        method: call.method,
        request: call.request,
        tenantId,
        subject,
        mechanism,
        code: call.code,
        reason: call.err.reason,
        requestId: requestIdOf(call.metadata),
      });
      // One row per distinct refusal per minute, and a bounded number of rows per minute.
      if (r && budget.admit(JSON.stringify([tenantId, mechanism, subject, call.method, call.err.reason]))) record(r);
    } catch (err) {
      onError(err);
    }
  };
}
