// grpc.health.v1: overall ("") and per-service status. NOT_SERVING while the store is
// unreachable or the server is shutting down; Watch streams every change. The service name
// "liveness" answers for the process alone (SERVING whenever it answers, store down or draining):
// a liveness probe on "" would restart every replica during a database outage, into a crash loop
// that outlasts it, and kill a draining replica before its grace. The service name "lash.feed"
// is NOT_SERVING while any session's feed writes are failing (events wait in memory and turns
// are back-pressured, ADR 0078); it leaves the overall status alone, since replicas share the store.

import { status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { build } from './errors.js';
import {
  HealthCheckResponse_ServingStatus as Serving,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthListRequest,
  type HealthListResponse,
  type HealthServer,
} from '../../gen/grpc/health/v1/health.js';

/** The health service name of a liveness probe: the process answers, nothing more. */
export const LIVENESS = 'liveness';
/** The health service name that reports whether feed writes succeed. */
export const FEED_HEALTH = 'lash.feed';

export class HealthState {
  private storeUp = true;
  private shuttingDown = false;
  private feedWriting = true;
  private readonly watchers = new Set<() => void>();

  constructor(readonly services: string[]) {}

  setStoreReachable(up: boolean): void {
    if (up === this.storeUp) return;
    this.storeUp = up;
    this.notify();
  }

  setFeedWriting(ok: boolean): void {
    if (ok === this.feedWriting) return;
    this.feedWriting = ok;
    this.notify();
  }

  setShuttingDown(): void {
    this.shuttingDown = true;
    this.notify();
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  statusOf(service: string): Serving {
    if (service === LIVENESS) return Serving.SERVING;
    if (service === FEED_HEALTH) return this.storeUp && !this.shuttingDown && this.feedWriting ? Serving.SERVING : Serving.NOT_SERVING;
    if (service !== '' && !this.services.includes(service)) return Serving.SERVICE_UNKNOWN;
    return this.storeUp && !this.shuttingDown ? Serving.SERVING : Serving.NOT_SERVING;
  }

  onChange(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  private notify(): void {
    for (const fn of this.watchers) fn();
  }
}

export function healthHandlers(state: HealthState): HealthServer & UntypedServiceImplementation {
  return {
    check(call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) {
      const s = state.statusOf(call.request.service);
      if (s === Serving.SERVICE_UNKNOWN)
        callback(
          build(
            status.NOT_FOUND,
            `unknown service "${call.request.service}"; known: "" (overall), ${LIVENESS}, ${FEED_HEALTH}, ${state.services.join(', ')}`,
            'SERVICE_UNKNOWN',
            'grpc.health.v1.Health',
            { service: call.request.service },
          ),
          null,
        );
      else callback(null, { status: s });
    },
    list(_call: ServerUnaryCall<HealthListRequest, HealthListResponse>, callback: sendUnaryData<HealthListResponse>) {
      const statuses: Record<string, HealthCheckResponse> = { '': { status: state.statusOf('') } };
      for (const s of [LIVENESS, FEED_HEALTH, ...state.services]) statuses[s] = { status: state.statusOf(s) };
      callback(null, { statuses });
    },
    watch(call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) {
      let last: Serving | undefined;
      const push = () => {
        const s = state.statusOf(call.request.service);
        if (s !== last) {
          last = s;
          call.write({ status: s });
        }
      };
      const off = state.onChange(() => {
        push();
        // Watchers have now seen NOT_SERVING: end their streams so the drain need not wait.
        if (state.isShuttingDown) {
          off();
          call.end();
        }
      });
      call.on('cancelled', off);
      call.on('close', off);
      push();
    },
  };
}
