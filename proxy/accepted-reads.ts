// Gives a socket a server accepted net.Socket's onread (slab-reads.ts), which Node offers only to the sockets it
// makes for connect(): a client's every read through the proxy otherwise costs a 64 KiB allocation, a copy of what
// was read into a Buffer of its own, and the stream machinery of a 'data' event. The socket takes it as its
// constructor would have: the fields net.js keeps it in (kBuffer, kBufferGen, kBufferCb), and the handle's
// useUserBuffer. Where these are not there (another Node, a TLS socket, whose reads are the TLS layer's), the
// socket is left to 'data' events.

import type net from 'node:net';
import tls from 'node:tls';

interface StreamHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/**
 * Has a paused socket read through `onread` from now on, and returns what it had read before (in order, to be taken
 * first); undefined when it cannot, the socket then left untouched.
 */
export function readThrough(socket: net.Socket, onread: net.OnReadOpts): Buffer[] | undefined {
  if (socket instanceof tls.TLSSocket) return undefined;
  const symbols = Object.getOwnPropertySymbols(socket);
  const field = (description: string): symbol | undefined => symbols.find((symbol) => symbol.description === description);
  const buffer = field('kBuffer');
  const bufferGenerator = field('kBufferGen');
  const bufferCallback = field('kBufferCb');
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (!buffer || !bufferGenerator || !bufferCallback || typeof handle?.useUserBuffer !== 'function') return undefined;
  // Paused, a socket still reads into its stream's buffer: that comes before anything read from now on.
  const earlier: Buffer[] = [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) earlier.push(chunk);
  const generate = typeof onread.buffer === 'function' ? onread.buffer : null;
  const first = generate ? generate() : (onread.buffer as Uint8Array);
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[buffer] = first;
  fields[bufferGenerator] = generate;
  fields[bufferCallback] = onread.callback;
  handle.useUserBuffer(first);
  return earlier;
}
