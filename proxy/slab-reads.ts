// Reads of a socket straight into memory of the proxy's own (net.Socket's onread), without the stream machinery a
// 'data' event costs per read (a Buffer allocated, pushed, emitted, and a tick scheduled to read more). The memory is
// a slab handed out a piece per read and never reused, so a chunk stays valid however long a write or a sink holds on
// to it, as a chunk of a 'data' event would; a slab with too little room left is left to the chunks still holding it.
//
// Node asks for the room of the next read as soon as a read is handed over, so whatever room a socket was given last
// stays held while it sits idle. After a read that ends a burst (for the upstream: a ReadyForQuery) the next room is a
// small one cut from Node's shared pool, and the connection's slab is let go: a thousand idle sessions then hold a
// few KiB each rather than a slab each. A read that fills the small room means more is coming: a slab again.

import type net from 'node:net';

/** A fresh slab's size: a read never gets more room than this, as with 'data' events. */
const SLAB_BYTES = 64 * 1024;
/** A read is given at least this much room: below it, the next read starts a fresh slab. */
const MIN_ROOM_BYTES = 16 * 1024;
/**
 * The room of the first read after a burst: enough for a short answer whole (a pgbench transaction's is some
 * hundred bytes), and small enough that Node's shared pool hands it out.
 */
export const IDLE_ROOM_BYTES = 2 * 1024;

/**
 * net.Socket's onread option that hands each chunk read to `onChunk`. `endsBurst` tells from a chunk, once
 * `onChunk` has had it, whether the peer is now likely to stay quiet. Backpressure is the reader's own: pause() and resume() stop and start reading a
 * socket with onread as any other.
 */
export function slabReads(onChunk: (chunk: Buffer) => void, endsBurst: (chunk: Buffer) => boolean): net.OnReadOpts {
  let slab: Buffer | undefined;
  let used = 0;
  let room: Buffer;
  let quiet = true;
  return {
    // Node asks for the next read's room right after each callback, and once before the first read.
    buffer: () => {
      if (quiet) {
        slab = undefined;
        room = Buffer.allocUnsafe(IDLE_ROOM_BYTES);
      } else {
        if (slab === undefined || SLAB_BYTES - used < MIN_ROOM_BYTES) {
          slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
          used = 0;
        }
        room = slab.subarray(used);
      }
      return room;
    },
    callback: (bytes) => {
      const chunk = room.subarray(0, bytes);
      if (slab !== undefined) used += bytes;
      onChunk(chunk);
      quiet = bytes < room.length && endsBurst(chunk);
      return true;
    },
  };
}
