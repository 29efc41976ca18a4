// The connections still to send their startup packet, each holding a socket until --startup-timeout. They are bounded
// in number, as PostgreSQL bounds its backends; and once half the places are taken, one client address may hold no
// more than a tenth of them, so that one host opening connections and saying nothing cannot lock every other client
// out. Below half, a pool connecting all at once from one host is not held back.

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
    const address = socket.remoteAddress ?? '';
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
