// Checks, before the store opens, that the addresses the server will listen on are free, so a
// port in use is a configuration error at once rather than after the store's start-up.

import { createServer } from 'node:net';
import { ConfigError } from './config.js';

/** Resolves when host:port can be bound (and releases it at once); ConfigError naming `variable` otherwise. */
export async function assertListenable(variable: string, host: string, port: number): Promise<void> {
  if (port === 0) return;
  const bindHost = host.replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'the address is already in use (another server?)'
          : err.code === 'EADDRNOTAVAIL'
            ? 'no interface here has that address'
            : err.code === 'EACCES'
              ? 'this user may not listen on that port'
              : err.message;
      reject(new ConfigError(`${variable} ${host}:${port}: ${why}; set ${variable} to a free host:port`));
    });
    probe.listen({ host: bindHost, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
