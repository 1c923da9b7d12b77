// ListAuditRecords: the caller's tenant only, filters checked at the edge, pages newest first
// with an opaque token (the id to continue below).

import { invalid } from '../errors.js';
import { optionalId } from '../ids.js';
import type { RequestContext } from '../ports.js';
import type { AuditFilter, AuditStore, StoredAuditRecord } from './types.js';

export const DEFAULT_AUDIT_PAGE = 100;
export const MAX_AUDIT_PAGE = 1_000;
const EARLIEST = Date.parse('0001-01-01T00:00:00Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

export async function listAuditRecords(
  store: AuditStore,
  ctx: RequestContext,
  filter: AuditFilter,
  pageSize: number,
  pageToken: string,
): Promise<{ records: StoredAuditRecord[]; nextPageToken: string }> {
  optionalId('session_id', filter.sessionId);
  optionalId('method', filter.method);
  if (pageSize < 0 || pageSize > MAX_AUDIT_PAGE)
    throw invalid('PAGE_SIZE_INVALID', `page_size must be from 0 to ${MAX_AUDIT_PAGE} (0 means ${DEFAULT_AUDIT_PAGE})`, { field: 'page_size' });
  if (pageToken !== '' && !/^[1-9]\d{0,18}$/.test(pageToken))
    throw invalid('PAGE_TOKEN_INVALID', 'page_token must be a next_page_token from an earlier ListAuditRecords response', { field: 'page_token' });
  for (const [field, at] of [
    ['since', filter.since],
    ['until', filter.until],
  ] as const) {
    // The store keeps years 1 to 9999; anything else is a client mistake, not a store failure.
    if (at && !(at.getTime() >= EARLIEST && at.getTime() <= LATEST))
      throw invalid('TIME_INVALID', `${field} must be a time between the years 1 and 9999`, { field });
  }
  if (filter.since && filter.until && filter.since >= filter.until) throw invalid('TIME_RANGE_INVALID', 'since must be before until', { field: 'since' });
  const limit = pageSize || DEFAULT_AUDIT_PAGE;
  const rows = await store.list(ctx.tenantId, filter, pageToken ? BigInt(pageToken) : undefined, limit + 1);
  const records = rows.slice(0, limit);
  return { records, nextPageToken: rows.length > limit ? String(records.at(-1)!.id) : '' };
}
