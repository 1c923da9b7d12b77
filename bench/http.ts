// The HTTP listener against the gRPC port, same server, same run: GetSession (unary) and RunTurn
// with the echo model (a streamed turn, call to end), each over gRPC and over the Connect protocol
// (binary, HTTP/1.1 keep-alive), alternating in rounds; printed as HTTP/gRPC throughput ratios.
//
//   npm run bench:http                      # PGlite in a temp folder
//   DATABASE_URL=postgresql://… npm run bench:http
//
// Tuning (env): BENCH_CALLS (1000 unary; a tenth of it for turns), BENCH_WARMUP (100),
// BENCH_CONCURRENCY (8), BENCH_ROUNDS (5), BENCH_MAX_SECONDS (60 per comparison).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Metadata } from '@grpc/grpc-js';
import { createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { OpenSessionRequest } from '../gen/lash/v1/session_service.js';
import { RunTurnRequest } from '../gen/lash/v1/turn_service.js';
import { textInput } from '../test/support/turns.js';
import { compare, header, intEnv, openBenchStore, round, runBench, startBenchApp, table, type Call, type LoadOptions } from './harness.js';

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(fileURLToPath(new URL('../gen/descriptors.binpb', import.meta.url)))));

await runBench(
  'http',
  () => {
    const calls = intEnv('BENCH_CALLS', 1000, 10);
    return {
      calls,
      warmup: intEnv('BENCH_WARMUP', 100, 0),
      concurrency: intEnv('BENCH_CONCURRENCY', 8, 1),
      rounds: intEnv('BENCH_ROUNDS', 5, 1),
      maxSeconds: intEnv('BENCH_MAX_SECONDS', 60, 1),
    } satisfies LoadOptions;
  },
  async (o, run) => {
    const { store, startLoad } = await openBenchStore('http', run);
    const { app, clients } = await startBenchApp(store, { LASH_HTTP_LISTEN: '127.0.0.1:0' }, run);
    const transport = createConnectTransport({ baseUrl: `http://${app.httpAddress}`, httpVersion: '1.1', useBinaryFormat: true });
    // Built at run time from the descriptors, so typed loosely to the two methods used.
    const sessions = createClient(registry.getService('lash.v1.SessionService')!, transport) as unknown as { getSession(r: object): Promise<unknown> };
    const turns = createClient(registry.getService('lash.v1.TurnService')!, transport) as unknown as { runTurn(r: object): AsyncIterable<unknown> };
    const spec = { providerId: 'echo', model: { id: 'echo' } };
    for (const sessionId of ['bench-get', ...Array.from({ length: o.concurrency }, (_, w) => [`bench-grpc-${w}`, `bench-http-${w}`]).flat()]) {
      await clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId, spec }));
    }
    const grpcGet: Call = () => clients.sessions.getSession({ sessionId: 'bench-get' });
    const httpGet: Call = () => sessions.getSession({ sessionId: 'bench-get' });
    const grpcTurn: Call = (w) =>
      new Promise((resolve, reject) => {
        const call = clients.turns.raw.runTurn(RunTurnRequest.fromPartial({ sessionId: `bench-grpc-${w}`, input: textInput('hello') }), new Metadata());
        call
          .on('data', () => {})
          .on('error', reject)
          .on('end', resolve);
      });
    const httpTurn: Call = async (w) => {
      for await (const _ of turns.runTurn({ sessionId: `bench-http-${w}`, input: { items: [{ item: { case: 'text', value: { text: 'hello' } } }] } })) void _;
    };
    const rows: string[][] = [];
    for (const [op, ref, sub, opts] of [
      ['get_session', grpcGet, httpGet, o],
      ['run_turn', grpcTurn, httpTurn, { ...o, calls: Math.max(10, Math.floor(o.calls / 10)), warmup: Math.floor(o.warmup / 10) }],
    ] as const) {
      const { reference, subject } = await compare(ref, sub, opts);
      const g = reference.result();
      const h = subject.result();
      process.stdout.write(
        `${JSON.stringify({ bench: 'http', op, engine: store.engine, concurrency: o.concurrency, grpc: g, http: h, ratio: round(h.rps / g.rps, 3) })}\n`,
      );
      rows.push([
        op,
        String(o.concurrency),
        round(g.rps, 1).toString(),
        round(h.rps, 1).toString(),
        round(h.rps / g.rps, 2).toString(),
        `${round(g.p50Ms, 2)} / ${round(h.p50Ms, 2)}`,
        `${round(g.p99Ms, 2)} / ${round(h.p99Ms, 2)}`,
      ]);
    }
    return `${header('http', store.engine, 'Connect binary over HTTP/1.1 vs gRPC', startLoad)}\n${table(['op', 'concurrency', 'gRPC /s', 'HTTP /s', 'HTTP/gRPC', 'p50 ms gRPC / HTTP', 'p99 ms gRPC / HTTP'], rows)}`;
  },
);
