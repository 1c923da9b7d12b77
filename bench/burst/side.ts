// The burst bench's side probe: its own OS process and its own connection, calling GetSession on
// one session one call at a time, idle or while a burst runs. Alone in its process, its latency
// is the server's answer time plus loopback, not time spent waiting for the bench's load clients.

import { credentials } from '@grpc/grpc-js';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { connect } from '../../src/client/promised.js';
import { percentile } from '../harness/load.js';
import { serveParent } from './ipc.js';

export interface Latency {
  calls: number;
  p50: number;
  p99: number;
  max: number;
}

const address = process.env.BURST_ADDRESS!;
const client = connect(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
const sessionId = 'side';
const get = () => client.sessions.getSession({ sessionId }, { deadlineMs: 120_000 });
const r2 = (n: number) => Math.round(n * 100) / 100;

function summary(times: number[]): Latency {
  const sorted = Float64Array.from(times).sort();
  return { calls: sorted.length, p50: r2(percentile(sorted, 0.5)), p99: r2(percentile(sorted, 0.99)), max: r2(sorted[sorted.length - 1] ?? 0) };
}

async function timed(times: number[]): Promise<void> {
  const t = performance.now();
  await get();
  times.push(performance.now() - t);
}

let running = false;
let loop: Promise<void> = Promise.resolve();
let loopTimes: number[] = [];

serveParent(
  {
    open: async () => {
      await client.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      for (let i = 0; i < 50; i++) await get();
    },
    idle: async (n: unknown) => {
      const times: number[] = [];
      for (let i = 0; i < Number(n); i++) await timed(times);
      return summary(times);
    },
    start: () => {
      running = true;
      loopTimes = [];
      loop = (async () => {
        while (running) await timed(loopTimes);
      })();
    },
    stop: async () => {
      running = false;
      await loop;
      return summary(loopTimes);
    },
    close: () => client.close(),
  },
  null,
);
