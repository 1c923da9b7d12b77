// The transport peer's IP address from grpc-js's peer string (`1.2.3.4:5678`, `[::1]:5678`,
// optionally prefixed `ipv4:` / `ipv6:`), for checking it against the trusted proxies.

import { isIP } from 'node:net';

export function peerAddress(peer: string): { ip: string; family: 'ipv4' | 'ipv6' } | undefined {
  let p = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(p);
  if (bracketed) p = bracketed[1]!;
  else if ((p.match(/:/g) ?? []).length === 1) p = p.slice(0, p.indexOf(':'));
  else if (!isIP(p)) p = p.slice(0, p.lastIndexOf(':'));
  // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(p);
  if (mapped) p = mapped[1]!;
  const family = isIP(p);
  return family ? { ip: p, family: family === 6 ? 'ipv6' : 'ipv4' } : undefined;
}
