// Runs a real nginx (Debian's package) as an HTTP/2 gRPC reverse proxy in front of lash-grpc
// replicas, for tests of what passes through an L7 proxy. One listener balances over every
// replica; one more per replica pins calls to it, so a test can choose where a stream lives.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

export interface Nginx {
  /** host:port balancing over every replica. */
  balanced: string;
  /** host:port reaching only replica i. */
  pinned: string[];
  errorLog(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  const port = await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
  await new Promise((r) => s.close(r));
  return port;
}

/** The site configuration: deploy/nginx/lash-grpc.conf with the test's addresses filled in. */
export function siteConfig(replicas: string[], ports: { balanced: number; pinned: number[] }): string {
  const template = readFileSync(join(import.meta.dirname, '../../deploy/nginx/lash-grpc.conf'), 'utf8');
  const servers = (list: string[]) => list.map((r) => `    server ${r};`).join('\n');
  const pinned = replicas
    .map(
      (r, i) =>
        `upstream lash_replica_${i} {\n${servers([r])}\n    keepalive 8;\n}\nserver {\n    listen 127.0.0.1:${ports.pinned[i]} http2;\n    include lash-grpc-locations.conf;\n    location / { grpc_pass grpc://lash_replica_${i}; }\n}`,
    )
    .join('\n');
  return (
    template
      .replace('    server 10.0.0.11:50051;\n    server 10.0.0.12:50051;', servers(replicas))
      .replace('listen 8080 http2;', `listen 127.0.0.1:${ports.balanced} http2;`) + `\n${pinned}\n`
  );
}

export async function startNginx(replicas: string[]): Promise<Nginx> {
  if (!NGINX) throw new Error('nginx is not installed (apt-get install -y nginx)');
  const dir = mkdtempSync(join(tmpdir(), 'lash-nginx-'));
  const balanced = await freePort();
  const pinned = await Promise.all(replicas.map(() => freePort()));
  writeFileSync(join(dir, 'lash-grpc-locations.conf'), readFileSync(join(import.meta.dirname, '../../deploy/nginx/lash-grpc-locations.conf'), 'utf8'));
  writeFileSync(join(dir, 'site.conf'), siteConfig(replicas, { balanced, pinned }));
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${join(dir, t)};`).join('\n');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 1024; }
http {
    access_log off;
${temp}
    include ${join(dir, 'site.conf')};
}
`,
  );
  const check = spawnSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')]);
  if (check.status !== 0) throw new Error(`nginx -t failed: ${check.stderr.toString()}`);
  const proc: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  // Ready once every listener accepts connections.
  for (const port of [balanced, ...pinned]) await waitForPort(port, () => stderr);
  return {
    balanced: `127.0.0.1:${balanced}`,
    pinned: pinned.map((p) => `127.0.0.1:${p}`),
    errorLog: () => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '') + stderr,
    async stop() {
      proc.kill('SIGQUIT');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, out: () => string): Promise<void> {
  const { connect } = await import('node:net');
  const end = Date.now() + 30_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nginx did not listen on ${port}: ${out()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
