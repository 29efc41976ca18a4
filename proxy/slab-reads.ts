// Reads of a socket straight into memory of the proxy's own (net.Socket's onread), without the stream machinery a
// 'data' event costs per read (a Buffer allocated, pushed, emitted, and a tick scheduled to read more). The memory is
// a slab handed out a piece per read and never reused, so a chunk stays valid however long a write or a sink holds on
// to it, as a chunk of a 'data' event would; a slab with too little room left is left to the chunks still holding it.

import type net from 'node:net';

/** A fresh slab's size: a read never gets more room than this, as with 'data' events. */
const SLAB_BYTES = 64 * 1024;
/** A read is given at least this much room: below it, the next read starts a fresh slab. */
const MIN_ROOM_BYTES = 16 * 1024;

/**
 * net.Socket's onread option that hands each chunk read to `onChunk`. Backpressure is the reader's own: pause() and
 * resume() stop and start reading a socket with onread as any other.
 */
export function slabReads(onChunk: (chunk: Buffer) => void): net.OnReadOpts {
  let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  let used = 0;
  let room = slab;
  return {
    buffer: () => {
      if (SLAB_BYTES - used < MIN_ROOM_BYTES) {
        slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
        used = 0;
      }
      room = slab.subarray(used);
      return room;
    },
    callback: (bytes) => {
      used += bytes;
      onChunk(room.subarray(0, bytes));
      return true;
    },
  };
}
