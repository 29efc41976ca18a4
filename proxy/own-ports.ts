// The ports this process listens on (the proxy's, the admin server's), and whether an address is this host's own.
// Neither a model nor a document a role names is ever asked for at them (src/providers/host-policy.ts): the admin
// server trusts loopback without a token, and its /metrics names other roles, their databases and their spend.

import { BlockList, type Server, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';

const listening = new Map<number, number>();

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Counts `server`'s port as this process's own until it closes; call once it listens. */
export function ownPort(server: Server): void {
  const { port } = server.address() as AddressInfo;
  listening.set(port, (listening.get(port) ?? 0) + 1);
  server.once('close', () => {
    const left = listening.get(port)! - 1;
    if (left === 0) listening.delete(port);
    else listening.set(port, left);
  });
}

export function isOwnPort(port: number): boolean {
  return listening.has(port);
}

/**
 * Loopback, or an address of one of this host's interfaces. An IPv4 address written as IPv6 is judged as such by the
 * caller, which passes the IPv4 address it embeds too.
 */
export function isOwnAddress(address: string): boolean {
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  if (LOOPBACK.check(address, family)) return true;
  const own = new BlockList();
  for (const entry of Object.values(networkInterfaces()).flat()) if (entry) own.addAddress(entry.address, entry.family === 'IPv4' ? 'ipv4' : 'ipv6');
  return own.check(address, family);
}
