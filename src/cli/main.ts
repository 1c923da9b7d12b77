// The lash-grpc command-line client: open and inspect sessions, run turns and chat with streamed
// output, follow a session's feed from a cursor, queue input. A plain gRPC client of the server
// (`--address`, default LASH_ADDRESS or 127.0.0.1:50051) built on the client library src/client,
// authenticated by a bearer token (`--token` / LASH_TOKEN) and/or a client certificate
// (`--tls-cert` / `--tls-key`).

import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { LashClient, type LashClientOptions } from '../client/lash-client.js';
import { LashError } from '../client/errors.js';
import { COMMANDS, UsageError } from './commands.js';
import { PROCESS_COMMANDS, ProcessUsageError } from './process-commands.js';

const USAGE = `usage: lash-grpc [--address host:port] [--token T] [--tls-ca file] [--tls-cert file --tls-key file] <command> [options]

  --token T        bearer token sent with every call (default: LASH_TOKEN)
  --tls-ca FILE    connect with TLS, trusting this CA (default: LASH_TLS_CA)
  --tls-cert FILE  client certificate for mTLS, with --tls-key (defaults: LASH_TLS_CLIENT_CERT, LASH_TLS_CLIENT_KEY)

  sessions list [--parent ID]              list sessions (roots, or the children of ID)
  sessions open ID [--mode standard|rlm] [--provider P] [--model M] [--fresh]
  sessions get ID                          one session, as JSON
  sessions delete ID                       delete it (and its children)
  turn ID TEXT… [--turn-id T]              run one turn; the answer streams to stdout
  chat ID                                  one turn per line read from stdin
  observe ID [--cursor C] [--count N]      follow the session's feed (one JSON line per message)
  queue enqueue ID TEXT… [--id BATCH]      queue input for the session
  queue list ID                            its open batches
  processes start KIND [TASK…] [--scope S] [--wake S] [--key K] [--session S] [--signal NAME] [--payload JSON]
  processes list [--status S] [--scope S] [--session S]
  processes get|await|cancel ID [--wait-ms N] [--reason R]
  processes cancel-scope SESSION_ID        cancel every active process of a session's scope
  processes signal ID NAME --key K [--payload JSON]
  processes events ID [--after SEQ] [--follow]
  triggers put ID SOURCE_TYPE KEY KIND [TASK…] [--wake S] [--session S] [--interval-ms N | --cron EXPR [--time-zone TZ]]
  triggers list [--source-type T] | triggers delete ID
  triggers emit SOURCE_TYPE KEY --key K [--payload JSON]

Exit codes: 0 done, 1 the server refused (code, reason and message on stderr), 2 usage,
3 a turn that stopped instead of finishing.`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      address: { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      parent: { type: 'string' },
      mode: { type: 'string' },
      provider: { type: 'string' },
      model: { type: 'string' },
      fresh: { type: 'boolean' },
      'turn-id': { type: 'string' },
      cursor: { type: 'string' },
      count: { type: 'string' },
      id: { type: 'string' },
      status: { type: 'string' },
      scope: { type: 'string' },
      wake: { type: 'string' },
      key: { type: 'string' },
      session: { type: 'string' },
      signal: { type: 'string' },
      'wait-ms': { type: 'string' },
      reason: { type: 'string' },
      after: { type: 'string' },
      follow: { type: 'boolean' },
      'interval-ms': { type: 'string' },
      cron: { type: 'string' },
      'time-zone': { type: 'string' },
      'source-type': { type: 'string' },
      payload: { type: 'string' },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const clients = new LashClient({
    address: values.address ?? process.env.LASH_ADDRESS ?? '127.0.0.1:50051',
    tls: channelCredentials(values),
    token: values.token ?? (process.env.LASH_TOKEN || undefined),
  });
  try {
    const [group, verb] = positionals;
    const all = { ...COMMANDS, ...PROCESS_COMMANDS };
    const command = all[`${group} ${verb}`]
      ? { run: all[`${group} ${verb}`]!, args: positionals.slice(2) }
      : all[group!]
        ? { run: all[group!]!, args: positionals.slice(1) }
        : undefined;
    if (!command) throw new UsageError(`unknown command "${positionals.join(' ')}"`);
    return await command.run(clients, command.args, values);
  } finally {
    clients.close();
  }
}

/** Plaintext, TLS (a CA to trust) or mTLS (plus a client certificate and key), as LashClient's `tls` option. */
function channelCredentials(values: { 'tls-ca'?: string; 'tls-cert'?: string; 'tls-key'?: string }): LashClientOptions['tls'] {
  const ca = values['tls-ca'] ?? (process.env.LASH_TLS_CA || undefined);
  const cert = values['tls-cert'] ?? (process.env.LASH_TLS_CLIENT_CERT || undefined);
  const key = values['tls-key'] ?? (process.env.LASH_TLS_CLIENT_KEY || undefined);
  if (Boolean(cert) !== Boolean(key)) throw new UsageError('--tls-cert and --tls-key go together (a client certificate and its private key)');
  if (!ca && !cert) return false;
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new UsageError(`${what}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  return { ca: ca ? read('--tls-ca', ca) : undefined, key: key ? read('--tls-key', key) : undefined, cert: cert ? read('--tls-cert', cert) : undefined };
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ProcessUsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof LashError) {
      process.stderr.write(`error: ${err.code} ${err.reason ?? ''} ${err.details}\n`.replace(/ {2,}/g, ' '));
    } else process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
