// The HTTP listener (LASH_HTTP_LISTEN): the lash.v1 services over the Connect protocol and
// gRPC-web (@connectrpc/connect-node), served by the gRPC server's own handler objects through the
// bridge, with CORS for the configured origins, and the inspector page under /inspector/. Off
// unless configured.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { createFileRegistry, fromBinary, type DescMethod } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, cors, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { serveInspector } from './inspector.js';
import { divertUndecodableBodies } from './binary-body.js';
import { bridgeServerStream, bridgeUnary } from './grpc-bridge.js';

const DESCRIPTORS = fileURLToPath(new URL('../../gen/descriptors.binpb', import.meta.url));

/** One gRPC service as the gRPC server registers it: its (decode-guarded) definition and handlers. */
export interface RegisteredService {
  definition: ServiceDefinition;
  handlers: UntypedServiceImplementation;
}

export interface HttpOptions {
  listen: { host: string; port: number };
  corsOrigins: string[];
  /** The largest request body accepted, the gRPC server's receive limit. */
  maxRequestBytes: number;
  /** Told when the inspector page could not be built (the caller logs it). */
  onInspectorError: (err: unknown) => void;
}

export interface HttpServer {
  address: string;
  close(): Promise<void>;
}

/** Registers every method of `services` on a Connect router, bridged to its gRPC handler. */
export function routes(services: RegisteredService[], maxRequestBytes: number): (router: ConnectRouter) => void {
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(DESCRIPTORS)));
  return (router) => {
    for (const { definition, handlers } of services) {
      for (const [name, def] of Object.entries(definition)) {
        const [, serviceName, methodName] = def.path.split('/');
        const method = registry.getService(serviceName!)?.methods.find((m) => m.name === methodName);
        if (!method) throw new Error(`${def.path} is missing from gen/descriptors.binpb; run npm run gen`);
        const handler = handlers[name] as never;
        if (method.methodKind === 'unary') router.rpc(method, bridgeUnary(method, def, handler) as never);
        else if (method.methodKind === 'server_streaming') router.rpc(method, bridgeServerStream(method, def, handler) as never);
        else router.rpc(method, notOverHttp(method) as never);
        // The adapter reads router.handlers after this callback: the check wraps the one just added.
        const last = router.handlers.length - 1;
        router.handlers[last] = divertUndecodableBodies(router.handlers[last]!, maxRequestBytes);
      }
    }
  };
}

/**
 * Client- and bidi-streaming methods (ServeTools) need full duplex: gRPC port only. Over HTTP/1.1
 * Connect answers a bidi call 505 before this runs; a client-streaming call would reach it.
 */
function notOverHttp(method: DescMethod) {
  // eslint-disable-next-line require-yield
  return async function* () {
    throw new ConnectError(
      `${method.parent.typeName}/${method.name} streams both ways and is served over gRPC only; call it on the gRPC port (LASH_LISTEN)`,
      Code.Unimplemented,
    );
  };
}

/** CORS: allowed origins get the Connect / gRPC-web request and response headers; preflights end here. */
function applyCors(origins: string[], req: IncomingMessage, res: ServerResponse): boolean {
  const origin = req.headers.origin;
  if (!origin || !(origins.includes('*') || origins.includes(origin))) return false;
  res.setHeader('access-control-allow-origin', origins.includes('*') ? '*' : origin);
  res.setHeader('vary', 'origin');
  res.setHeader('access-control-expose-headers', [...cors.exposedHeaders, 'x-request-id'].join(', '));
  if (req.method !== 'OPTIONS') return false;
  res.writeHead(204, {
    'access-control-allow-methods': cors.allowedMethods.join(', '),
    'access-control-allow-headers': [...cors.allowedHeaders, 'authorization', 'x-request-id', 'traceparent'].join(', '),
    'access-control-max-age': '7200',
  });
  res.end();
  return true;
}

export async function startHttpServer(options: HttpOptions, services: RegisteredService[]): Promise<HttpServer> {
  const handler = connectNodeAdapter({
    routes: routes(services, options.maxRequestBytes),
    connect: true,
    grpcWeb: true,
    // Plain gRPC belongs on the gRPC port (HTTP/2); this listener speaks HTTP/1.1.
    grpc: false,
    readMaxBytes: options.maxRequestBytes,
  });
  const server = createServer((req, res) => {
    if (serveInspector(req, res, options.onInspectorError)) return;
    if (applyCors(options.corsOrigins, req, res)) return;
    handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host.replace(/^\[|\]$/g, ''), () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  return {
    address: `${options.listen.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
