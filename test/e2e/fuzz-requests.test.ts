// A seeded corpus of hostile requests across all 51 lash.v1 RPCs, sent as raw bytes to a real
// server: no answer may be INTERNAL or UNKNOWN, every INVALID_ARGUMENT carries an ErrorInfo
// reason, and a rejected call writes no stored row.

import { Client, credentials, status } from '@grpc/grpc-js';
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageRole } from '../../gen/lash/v1/common.js';
import { OpenMode } from '../../gen/lash/v1/session.js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { engines } from '../support/engines.js';
import { hostileCorpus, KNOWN, sendRaw, type HostileCase } from '../support/hostile-requests.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Fixed, so a failure names a case that reproduces. */
const SEED = 20261127;
const RANDOM_PER_METHOD = 12;

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`hostile requests on ${engine.name}`, () => {
    let s: TestServer;
    let client: Client;
    let tables: string[] = [];

    /**
     * A fingerprint of every row of every table, in one statement: per table the row count and the
     * sum of the rows' `xmin` (the id of the transaction that wrote each row version). Any insert,
     * update or delete by a later transaction changes it (a newer xid replaces an older one), even
     * a write that restores the same values, and it costs a scan instead of hashing every row's text.
     */
    const rowsHash = async () => {
      const conn = s.app.db.em().getConnection();
      const parts = tables.map((t) => `select '${t}' as t, count(*)::int as n, coalesce(sum(x.xmin::text::bigint), 0)::text as h from "${t}" x`);
      const rows = (await conn.execute(parts.join(' union all '))) as { t: string; n: number; h: string }[];
      return rows.map((r) => `${r.t}:${r.n}:${r.h}`).join(',');
    };
    /** The sessions the corpus names, recreated after an accepted DeleteSession. */
    const fixture = async () => {
      // Failures here are the corpus's business (its own cases report them), not the fixture's.
      await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: KNOWN.sessionId })).catch(() => undefined);
      await s.clients.admin
        .createChildSession({ sessionId: KNOWN.sessionId, childSessionId: KNOWN.childSessionId, mode: 0, residency: 0, source: '', metadata: {}, start: 0 })
        .catch(() => undefined);
    };
    /** Waits until nothing the server accepted is still writing (turns, feed batches). */
    const settle = async (deleted = false) => {
      for (let i = 0; i < 200 && s.app.turns.registry.all().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
      if (deleted) await fixture();
      await s.app.feed.appender.drain();
    };

    beforeAll(async () => {
      // No background queue workers or process runners: queued work only runs when a request drains it, processes stay as started.
      // A writer linger longer than the run (ADR 0079): every refused write of a session finds the
      // idle lease an accepted one left and must leave it untouched (with the default 5 s, a
      // refusal more than 2.5 s after the last accepted write takes the lease anew, a write).
      s = await startTestServer(engine, { LASH_QUEUE_WORKERS: '0', LASH_PROCESS_RUNNERS: '0', LASH_TOOLS: 'calculate', LASH_WRITER_LINGER_MS: '600000' });
      client = new Client(s.app.address, credentials.createInsecure());
      await fixture();
      await s.clients.admin.appendMessages({
        sessionId: KNOWN.sessionId,
        messages: [{ id: '', role: MessageRole.MESSAGE_ROLE_USER, parts: [{ kind: { $case: 'text', value: { text: 'hello' } } }] }],
      });
      const rows = (await s.app.db
        .em()
        .getConnection()
        .execute(`select table_name as t from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`)) as {
        t: string;
      }[];
      // The audit trail records refused calls too (ADR 0046): every other row must stay untouched.
      tables = rows.map((r) => r.t).filter((t) => t !== 'audit_records');
    });
    afterAll(async () => {
      client?.close();
      await s?.close();
    });

    it('a corpus over every RPC: 0 INTERNAL, 0 UNKNOWN, a reason on every refusal, no row changed by a rejected call', async () => {
      const exported = await s.clients.sessions.exportSessionState({ sessionId: KNOWN.sessionId });
      const doc = exported.state!.document as Record<string, unknown> & { toolState: Record<string, unknown>; policy: { model: Record<string, unknown> } };
      const withState = (label: string, document: unknown): HostileCase => ({
        method: corpus.find((c) => c.method.name === 'OpenSession')!.method,
        label: `with_state: ${label}`,
        bodies: [
          OpenSessionRequest.encode(
            OpenSessionRequest.fromPartial({
              sessionId: KNOWN.sessionId,
              openMode: OpenMode.OPEN_MODE_WITH_STATE,
              state: { sessionId: KNOWN.sessionId, version: 1, document: document as never },
            }),
          ).finish(),
        ],
      });
      const corpus = hostileCorpus(SEED, RANDOM_PER_METHOD);
      corpus.push(
        withState('a turn index beyond 64 bits', { ...doc, turnIndex: '99999999999999999999999' }),
        withState('a tool-state generation beyond 64 bits', { ...doc, toolState: { ...doc.toolState, generation: '18446744073709551616' } }),
        withState('a context window of 1e30', { ...doc, policy: { ...doc.policy, model: { ...doc.policy.model, contextWindowTokens: 1e30 } } }),
        withState('NUL in a metadata key', { ...doc, metadata: { 'a\u0000': 'b' } }),
        withState('NUL in the current frame id', { ...doc, currentFrameId: 'f\u0000' }),
      );
      expect(corpus.length).toBeGreaterThan(2_000);
      expect(new Set(corpus.map((c) => c.method.path)).size).toBe(51);

      const bad: string[] = [];
      const counts = new Map<string, number>();
      await settle();
      let before = await rowsHash();
      for (const c of corpus) {
        const o = await sendRaw(client, c.method, c.bodies);
        counts.set(status[o.code]!, (counts.get(status[o.code]!) ?? 0) + 1);
        const where = `${c.method.name} [${c.label}]`;
        // FUZZ_REPORT=<file> writes every case and its answer, one per line, to see what a change reaches.
        if (process.env.FUZZ_REPORT) appendFileSync(process.env.FUZZ_REPORT, `${where}\t${status[o.code]}\t${o.reason ?? ''}\t${o.details.slice(0, 160)}\n`);
        if (o.code === status.INTERNAL || o.code === status.UNKNOWN) bad.push(`${where}: ${status[o.code]} ${o.details}`);
        // Every refusal is the server's own, with a reason: one without (say RESOURCE_EXHAUSTED on
        // the response headers) means the answer itself broke on the way to the client.
        else if (o.code !== status.OK && o.code !== status.CANCELLED && o.code !== status.DEADLINE_EXCEEDED && !o.reason)
          bad.push(`${where}: ${status[o.code]} without a reason: ${o.details}`);
        // gRPC C-core clients refuse response headers over 8 KiB by default: an error must fit.
        if (o.statusBytes > 8_192) bad.push(`${where}: ${status[o.code]} status of ${o.statusBytes} bytes`);
        if (o.accepted || o.code === status.DEADLINE_EXCEEDED) {
          await settle(c.method.name === 'DeleteSession');
          before = await rowsHash();
          continue;
        }
        const after = await rowsHash();
        if (after !== before) {
          bad.push(`${where}: rejected with ${status[o.code]} ${o.reason ?? ''} but changed stored rows`);
          await settle();
          before = await rowsHash();
        }
      }
      // A summary in the report helps to see what the corpus exercised.
      console.info(`${engine.name}: ${corpus.length} hostile requests`, Object.fromEntries(counts));
      expect(bad).toEqual([]);
      expect(counts.get('INVALID_ARGUMENT') ?? 0).toBeGreaterThan(1_000);
    }, 240_000);
  });
}
