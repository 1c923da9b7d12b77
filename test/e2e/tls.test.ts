// TLS and mTLS from the environment: a client trusting the CA connects; with a client CA the
// server requires a client certificate. Certificates are made with the openssl CLI.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponse_ServingStatus as Serving } from '../../gen/grpc/health/v1/health.js';
import { connect } from '../../src/client/promised.js';
import { engines } from '../support/engines.js';
import { makePki, type Pki } from '../support/pki.js';
import { startTestServer, type TestServer } from '../support/server.js';

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
})();

const engine = engines[0]!;

describe.skipIf(!hasOpenssl || !engine.enabled)('TLS and mTLS', () => {
  let dir: string;
  let pki: Pki;
  let tls: TestServer;
  let mtls: TestServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lash-tls-'));
    pki = makePki(dir);
    tls = await startTestServer(engine, { LASH_TLS_CERT: join(dir, 'server.pem'), LASH_TLS_KEY: join(dir, 'server.key') });
    mtls = await startTestServer(engine, {
      LASH_TLS_CERT: join(dir, 'server.pem'),
      LASH_TLS_KEY: join(dir, 'server.key'),
      LASH_TLS_CLIENT_CA: join(dir, 'ca.pem'),
    });
  });
  afterAll(async () => {
    await tls?.close();
    await mtls?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves TLS to a client that trusts the CA and refuses plaintext', async () => {
    const secure = connect(tls.app.address, credentials.createSsl(pki.ca));
    expect((await secure.health.check({ service: '' }, { deadlineMs: 10_000 })).status).toBe(Serving.SERVING);
    secure.close();
    const plain = connect(tls.app.address);
    await expect(plain.health.check({ service: '' }, { deadlineMs: 3_000 })).rejects.toBeDefined();
    plain.close();
  });

  it('with a client CA, requires a client certificate signed by it', async () => {
    const withCert = connect(mtls.app.address, credentials.createSsl(pki.ca, pki.clientKey, pki.clientCert));
    expect((await withCert.health.check({ service: '' }, { deadlineMs: 10_000 })).status).toBe(Serving.SERVING);
    withCert.close();
    const without = connect(mtls.app.address, credentials.createSsl(pki.ca));
    await expect(without.health.check({ service: '' }, { deadlineMs: 3_000 })).rejects.toBeDefined();
    without.close();
  });
});
