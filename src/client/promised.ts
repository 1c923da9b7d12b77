// Promise wrappers over the callback-style clients ts-proto generates for grpc-js, for unary
// calls. Used by the CLI, the benchmarks and the tests.

import { credentials, Metadata, type CallOptions, type ClientUnaryCall, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { AdminServiceClient } from '../../gen/lash/v1/admin_service.js';
import { QueueServiceClient } from '../../gen/lash/v1/queue_service.js';
import { SessionServiceClient } from '../../gen/lash/v1/session_service.js';
import { TurnServiceClient } from '../../gen/lash/v1/turn_service.js';
import { HealthClient } from '../../gen/grpc/health/v1/health.js';

type UnaryOf<F> = F extends (req: infer Q, md: Metadata, opts: Partial<CallOptions>, cb: (e: ServiceError | null, r: infer R) => void) => ClientUnaryCall
  ? (req: Q, options?: { metadata?: Metadata; deadlineMs?: number }) => Promise<R>
  : never;

type UnaryMethods<C> = {
  [K in keyof C as UnaryOf<C[K]> extends never ? never : K]: UnaryOf<C[K]>;
};

export type Promised<C> = UnaryMethods<C> & { raw: C };

export function promised<C extends Client>(client: C): Promised<C> {
  return new Proxy({ raw: client } as Promised<C>, {
    get(target, name) {
      if (name === 'raw') return target.raw;
      const method = (client as unknown as Record<string | symbol, unknown>)[name];
      if (typeof method !== 'function') return undefined;
      return (req: unknown, options: { metadata?: Metadata; deadlineMs?: number } = {}) =>
        new Promise((resolve, reject) => {
          const callOptions: Partial<CallOptions> = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
          (method as (...a: unknown[]) => unknown).call(
            client,
            req,
            options.metadata ?? new Metadata(),
            callOptions,
            (err: ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)),
          );
        });
    },
  });
}

export interface LashClients {
  sessions: Promised<SessionServiceClient>;
  turns: Promised<TurnServiceClient>;
  queue: Promised<QueueServiceClient>;
  admin: Promised<AdminServiceClient>;
  health: Promised<HealthClient>;
  close(): void;
}

export function connect(address: string, creds: ChannelCredentials = credentials.createInsecure(), options: Record<string, unknown> = {}): LashClients {
  const clients = [
    new SessionServiceClient(address, creds, options),
    new TurnServiceClient(address, creds, options),
    new QueueServiceClient(address, creds, options),
    new AdminServiceClient(address, creds, options),
    new HealthClient(address, creds, options),
  ] as const;
  return {
    sessions: promised(clients[0]),
    turns: promised(clients[1]),
    queue: promised(clients[2]),
    admin: promised(clients[3]),
    health: promised(clients[4]),
    close: () => clients.forEach((c) => c.close()),
  };
}
