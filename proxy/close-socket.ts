// Closing a client's connection for good. A gracefully ended socket stays open until the peer closes its side too,
// and it is not even noticed when the socket is no longer read; a client that neither reads nor closes would keep
// it open for ever. So the socket is destroyed once the last bytes are out, or after a grace period regardless.

import type net from 'node:net';

/** How long a closing client gets to take the proxy's last message before its socket is destroyed. */
export const CLOSE_GRACE_MS = 2000;

/** Sends `lastMessage` (none: just the end of the stream) and closes the socket, at the latest after `graceMs`. */
export function closeSocket(socket: net.Socket, lastMessage: Buffer = Buffer.alloc(0), graceMs = CLOSE_GRACE_MS): void {
  if (socket.destroyed || socket.writableEnded) return;
  const grace = setTimeout(() => socket.destroy(), graceMs);
  grace.unref();
  socket.end(lastMessage, () => {
    clearTimeout(grace);
    socket.destroy();
  });
}
