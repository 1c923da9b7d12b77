// A remote tool host for tests: connects ServeTools, advertises tools and answers calls with a
// handler of the test's choosing.

import type { ClientDuplexStream } from '@grpc/grpc-js';
import { ToolScheduling } from '../../gen/lash/v1/tool.js';
import type { ServeToolsRequest, ServeToolsResponse, ToolCallRequest } from '../../gen/lash/v1/turn_service.js';
import type { LashClients } from '../../src/client/promised.js';

export type HostReply = { success: unknown } | { failure: string } | { cancelled: true } | { pending: string } | 'no-answer';

export interface TestToolHost {
  stream: ClientDuplexStream<ServeToolsRequest, ServeToolsResponse>;
  hostId: string;
  calls: ToolCallRequest[];
  cancels: string[];
  close(): void;
}

export async function connectToolHost(
  clients: LashClients,
  opts: {
    sessionId?: string;
    tools: { name: string; description?: string; serial?: boolean; inputSchema?: Record<string, unknown> }[];
    reply: (call: ToolCallRequest) => HostReply | Promise<HostReply>;
  },
): Promise<TestToolHost> {
  const stream = clients.turns.raw.serveTools();
  const calls: ToolCallRequest[] = [];
  const cancels: string[] = [];
  stream.on('error', () => {});
  const ready = new Promise<string>((resolve, reject) => {
    stream.on('data', (m: ServeToolsResponse) => {
      const msg = m.message;
      if (msg?.$case === 'ready') resolve(msg.value.hostId);
      if (msg?.$case === 'cancel') cancels.push(msg.value.callId);
      if (msg?.$case === 'toolCall') {
        calls.push(msg.value);
        void Promise.resolve(opts.reply(msg.value)).then((r) => {
          if (r === 'no-answer') return;
          const outcome =
            'success' in r
              ? { $case: 'success' as const, value: r.success }
              : 'failure' in r
                ? { $case: 'failure' as const, value: { message: r.failure } }
                : 'cancelled' in r
                  ? { $case: 'cancelled' as const, value: {} }
                  : { $case: 'pending' as const, value: { completionKey: r.pending } };
          stream.write({ message: { $case: 'toolResult', value: { callId: msg.value.callId, outcome } } });
        });
      }
    });
    stream.on('error', reject);
  });
  stream.write({
    message: {
      $case: 'hello',
      value: {
        tools: opts.tools.map((t) => ({
          name: t.name,
          description: t.description ?? t.name,
          inputSchema: t.inputSchema ?? { type: 'object' },
          scheduling: t.serial ? ToolScheduling.TOOL_SCHEDULING_SERIAL : ToolScheduling.TOOL_SCHEDULING_PARALLEL,
        })),
        scope: { target: opts.sessionId ? { $case: 'sessionId', value: opts.sessionId } : { $case: 'tenantWide', value: true } },
      },
    },
  });
  const hostId = await ready;
  return { stream, hostId, calls, cancels, close: () => stream.cancel() };
}
