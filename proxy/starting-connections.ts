// The connections still to send their startup packet, each holding a socket until --startup-timeout. They are bounded
// in number, as PostgreSQL bounds its backends; and once half the places are taken, one client address may hold no
// more than a tenth of them, so that one host opening connections and saying nothing cannot lock every other client
// out. Below half, a pool connecting all at once from one host is not held back. An IPv6 host counts by its /64: it
// has one of its own, 2^64 addresses to connect from. (This machine's processes may use any 127.0.0.0/8 address;
// they could stop the proxy in other ways.)

import type net from 'node:net';

export class StartingConnections {
  /** Each socket with its client's address (a Unix socket's clients count as one address). */
  private readonly sockets = new Map<net.Socket, string>();
  /** How many of the sockets each client address holds. */
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.sockets.size;
  }

  /** Takes a place for the socket; false when there is none for it. */
  admit(socket: net.Socket): boolean {
    const address = clientHost(socket.remoteAddress ?? '');
    const held = this.byAddress.get(address) ?? 0;
    if (this.sockets.size >= this.max) return false;
    if (this.sockets.size >= this.max / 2 && held >= Math.max(1, Math.floor(this.max / 10))) return false;
    this.sockets.set(socket, address);
    this.byAddress.set(address, held + 1);
    return true;
  }

  /** The socket's startup is over (or it is gone): its place is free. */
  leave(socket: net.Socket): void {
    const address = this.sockets.get(socket);
    if (address === undefined) return;
    this.sockets.delete(socket);
    const held = this.byAddress.get(address)! - 1;
    if (held === 0) this.byAddress.delete(address);
    else this.byAddress.set(address, held);
  }

  destroyAll(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
  }
}

/** The host an address counts for: its IPv4 address (an IPv4-mapped one's too), or its IPv6 /64. */
export function clientHost(address: string): string {
  const ipv4 = address.replace(/^::ffff:(?=\d+\.)/i, '');
  if (!ipv4.includes(':') || ipv4 === '::1') return ipv4;
  const [head = '', tail] = ipv4.toLowerCase().replace(/%.*$/, '').split('::');
  const groups = head === '' ? [] : head.split(':');
  // Written with ::, the groups after it are the address's last ones: only those before the /64 matter.
  const after = tail === undefined || tail === '' ? [] : tail.split(':');
  const full = [...groups, ...Array<string>(Math.max(0, 8 - groups.length - after.length)).fill('0'), ...after];
  return `${full.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
