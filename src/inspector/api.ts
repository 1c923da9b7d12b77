// The inspector's only way to the server: the lash.v1 services over the Connect protocol
// (@connectrpc/connect-web), built at run time from the descriptor set the server publishes next
// to the page, with the operator's bearer token on every call. Messages cross as protobuf JSON.

import { createFileRegistry, fromBinary, fromJson, toJson, type DescMethod, type DescService, type JsonObject, type Registry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';

export type Service = 'SessionService' | 'TurnService' | 'QueueService' | 'AdminService';

export interface Api {
  call(service: Service, method: string, request: JsonObject, signal?: AbortSignal): Promise<JsonObject>;
  stream(service: Service, method: string, request: JsonObject, signal?: AbortSignal): AsyncIterable<JsonObject>;
  describe(err: unknown): string;
}

const TOKEN_KEY = 'lash.inspector.token';

/** The bearer token the operator entered (kept in this browser's localStorage). */
export const token = {
  get: (): string => localStorage.getItem(TOKEN_KEY) ?? '',
  set: (value: string): void => (value ? localStorage.setItem(TOKEN_KEY, value) : localStorage.removeItem(TOKEN_KEY)),
};

type Callable = (request: unknown, options: { signal?: AbortSignal }) => unknown;

/** Loads the descriptors the page is served with and returns a client for `baseUrl`. */
export async function connectApi(baseUrl: string, descriptorsUrl: string): Promise<Api> {
  const res = await fetch(descriptorsUrl);
  if (!res.ok) throw new Error(`cannot load ${descriptorsUrl}: HTTP ${res.status}`);
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, new Uint8Array(await res.arrayBuffer())));
  const auth: Interceptor = (next) => (req) => {
    const t = token.get();
    if (t) req.header.set('authorization', `Bearer ${t}`);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl, interceptors: [auth] });
  const clients = new Map<Service, Record<string, Callable>>();
  const resolve = (service: Service, name: string): { method: DescMethod; fn: Callable } => {
    const desc = registry.getService(`lash.v1.${service}`) as DescService | undefined;
    const method = desc?.methods.find((m) => m.name === name);
    if (!desc || !method) throw new Error(`lash.v1.${service}/${name} is not in the served descriptors`);
    let client = clients.get(service);
    if (!client) clients.set(service, (client = createClient(desc, transport) as unknown as Record<string, Callable>));
    return { method, fn: client[method.localName]!.bind(client) };
  };
  return {
    async call(service, name, request, signal) {
      const { method, fn } = resolve(service, name);
      const out = await (fn(fromJson(method.input, request), { signal }) as Promise<never>);
      return toJson(method.output, out) as JsonObject;
    },
    async *stream(service, name, request, signal) {
      const { method, fn } = resolve(service, name);
      for await (const out of fn(fromJson(method.input, request), { signal }) as AsyncIterable<never>) yield toJson(method.output, out) as JsonObject;
    },
    describe: (err) => describeError(registry, err),
  };
}

/** "code REASON: message", the reason from the error's google.rpc.ErrorInfo when it has one. */
function describeError(registry: Registry, err: unknown): string {
  const e = ConnectError.from(err);
  const infoDesc = registry.getMessage('google.rpc.ErrorInfo');
  const info = infoDesc ? (e.findDetails(infoDesc)[0] as { reason?: string } | undefined) : undefined;
  return `${Code[e.code] ?? e.code}${info?.reason ? ` ${info.reason}` : ''}: ${e.rawMessage}`;
}
