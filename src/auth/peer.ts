// The transport peer's IP address from grpc-js's peer string, for checking it against the trusted
// proxies. grpc-js writes `${remoteAddress}:${remotePort}` without brackets, so `::1:5555` is the
// IPv6 address ::1 on port 5555: the last `:digits` is always the port. A string that does not
// leave a valid address is no address (and so never a trusted proxy).

import { isIP } from 'node:net';

export function peerAddress(peer: string): { ip: string; family: 'ipv4' | 'ipv6' } | undefined {
  let p = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(p);
  if (bracketed) p = bracketed[1]!;
  else p = p.replace(/:\d+$/, '');
  // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(p);
  if (mapped) p = mapped[1]!;
  const family = isIP(p);
  return family ? { ip: p, family: family === 6 ? 'ipv6' : 'ipv4' } : undefined;
}
