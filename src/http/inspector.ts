// Serves the inspector page on the HTTP listener: /inspector/ (index.html, app.css, app.js and the
// descriptor set the page builds its Connect client from). These files are public (no auth): they
// hold no data; every API call the page makes carries the operator's token and passes the normal
// auth. app.js is bundled once, on first request, from src/inspector with esbuild.

import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

const PREFIX = '/inspector/';
const UI = fileURLToPath(new URL('../inspector/', import.meta.url));
const DESCRIPTORS = fileURLToPath(new URL('../../gen/descriptors.binpb', import.meta.url));

interface Asset {
  type: string;
  load(): Promise<Uint8Array | string>;
}

async function bundle(): Promise<Uint8Array> {
  // Loaded only when the page is asked for: a server nobody inspects never pays for esbuild.
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: [`${UI}main.ts`],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.contents;
}

/** Each asset loaded once; a failed load is retried on the next request. */
function cached(load: () => Promise<Uint8Array | string>): () => Promise<Uint8Array | string> {
  let p: Promise<Uint8Array | string> | undefined;
  return () =>
    (p ??= load().catch((err: unknown) => {
      p = undefined;
      throw err;
    }));
}

const ASSETS: Record<string, Asset> = {
  '': { type: 'text/html; charset=utf-8', load: cached(() => readFile(`${UI}index.html`, 'utf8')) },
  'index.html': { type: 'text/html; charset=utf-8', load: cached(() => readFile(`${UI}index.html`, 'utf8')) },
  'app.css': { type: 'text/css; charset=utf-8', load: cached(() => readFile(`${UI}app.css`, 'utf8')) },
  'app.js': { type: 'text/javascript; charset=utf-8', load: cached(bundle) },
  'descriptors.binpb': { type: 'application/octet-stream', load: cached(() => readFile(DESCRIPTORS)) },
};

const HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  // The page loads only its own files and talks only to this listener.
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'",
};

/** Answers GET/HEAD requests under /inspector; returns false for any other request. */
export function serveInspector(req: IncomingMessage, res: ServerResponse, onError: (err: unknown) => void): boolean {
  const path = (req.url ?? '').split('?')[0]!;
  if (path !== '/inspector' && !path.startsWith(PREFIX)) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('the inspector is read with GET\n');
    return true;
  }
  if (path === '/inspector') {
    res.writeHead(308, { location: PREFIX }).end();
    return true;
  }
  const asset = ASSETS[path.slice(PREFIX.length)];
  if (!asset) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('no such inspector file; open /inspector/\n');
    return true;
  }
  asset.load().then(
    (body) => {
      res.writeHead(200, { ...HEADERS, 'content-type': asset.type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
    (err: unknown) => {
      onError(err);
      res.writeHead(500, { 'content-type': 'text/plain' }).end('the inspector page could not be built; the server logged the cause\n');
    },
  );
  return true;
}
