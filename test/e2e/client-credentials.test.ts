// Both client libraries, and the CLI built on the TypeScript one, send the bearer token over
// (mutual) TLS: a stand-in SessionService that requires a client certificate answers GetSession
// with the `authorization` metadata it got.
// (The real server's token checks are tested where authentication lives.)

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetSessionResponse, SessionServiceService, type GetSessionRequest } from '../../gen/lash/v1/session_service.js';
import { LashClient } from '../../src/client/lash-client.js';
import { LashError } from '../../src/client/errors.js';
import { runCli } from '../support/cli.js';
import { makePki, type Pki } from '../support/pki.js';
import { preparePythonClient, pythonOutput } from '../support/python.js';

describe('client credentials: TLS and bearer token', () => {
  let dir: string;
  let pki: Pki;
  let server: Server;
  let address: string;

  beforeAll(async () => {
    execFileSync('openssl', ['version']);
    preparePythonClient();
    dir = mkdtempSync(join(tmpdir(), 'lash-creds-'));
    pki = makePki(dir);
    server = new Server();
    const unimplemented = (_call: unknown, cb: sendUnaryData<never>) => cb({ code: status.UNIMPLEMENTED });
    const handlers = Object.fromEntries(Object.keys(SessionServiceService).map((k) => [k, unimplemented]));
    server.addService(SessionServiceService, {
      ...handlers,
      getSession(call: ServerUnaryCall<GetSessionRequest, GetSessionResponse>, cb: sendUnaryData<GetSessionResponse>) {
        const auth = call.metadata.get('authorization')[0];
        if (!auth) return cb({ code: status.UNAUTHENTICATED, details: 'no token' });
        cb(null, GetSessionResponse.fromPartial({ session: { sessionId: String(auth) } }));
      },
    });
    const creds = ServerCredentials.createSsl(pki.ca, [{ private_key: pki.serverKey, cert_chain: pki.serverCert }], true);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => {
    server?.forceShutdown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('TypeScript: the token arrives over mutual TLS; without it the call is refused', async () => {
    const client = new LashClient({ address, token: 'tok-ts', tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } });
    try {
      expect((await client.sessions.getSession({ sessionId: 'who-am-i' })).session?.sessionId).toBe('Bearer tok-ts');
    } finally {
      client.close();
    }
    const anonymous = new LashClient({ address, tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } });
    try {
      await expect(anonymous.sessions.getSession({ sessionId: 'x' })).rejects.toSatisfy((e) => e instanceof LashError && e.code === status.UNAUTHENTICATED);
    } finally {
      anonymous.close();
    }
  });

  it('CLI: --token and --tls-ca/--tls-cert/--tls-key reach the server through the client library', async () => {
    const tls = ['--tls-ca', join(dir, 'ca.pem'), '--tls-cert', join(dir, 'client.pem'), '--tls-key', join(dir, 'client.key')];
    const ok = await runCli(address, ['sessions', 'get', 'who-am-i', '--token', 'tok-cli', ...tls]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ sessionId: 'Bearer tok-cli' });
    // Without the client certificate the mTLS handshake fails: the call never reaches the service.
    const noCert = await runCli(address, ['sessions', 'get', 'who-am-i', '--token', 'tok-cli', '--tls-ca', join(dir, 'ca.pem')]);
    expect(noCert.code).not.toBe(0);
    expect(noCert.stdout).toBe('');
    const half = await runCli(address, ['sessions', 'get', 'x', '--tls-cert', join(dir, 'client.pem')]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--tls-cert and --tls-key go together');
  });

  it('Python: the token arrives over mutual TLS (LASH_TLS_CA / LASH_TLS_CERT / LASH_TLS_KEY / LASH_TOKEN)', async () => {
    const out = await pythonOutput('tests/credentials_check.py', [], {
      LASH_ADDRESS: address,
      LASH_TOKEN: 'tok-py',
      LASH_TLS_CA: join(dir, 'ca.pem'),
      LASH_TLS_CERT: join(dir, 'client.pem'),
      LASH_TLS_KEY: join(dir, 'client.key'),
    });
    expect(out.trim()).toBe('Bearer tok-py');
  });
});
