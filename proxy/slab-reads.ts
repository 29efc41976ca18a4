// Reads of a socket straight into memory of the proxy's own (net.Socket's onread), without the stream machinery a
// 'data' event costs per read (a Buffer allocated, pushed, emitted, and a tick scheduled to read more). The memory is
// a slab handed out a piece per read. A chunk its reader may still hold (a write that did not complete at once, a
// sink that kept a view) keeps its piece: the next read goes to the slab's next piece, and a slab with too little
// room left is left to the chunks still holding it. A chunk its reader says it let go of gives its memory back to
// the next read, which is what a relay's every read does while both peers keep up: no allocation per read then.
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
 * net.Socket's onread option that hands each chunk read to `onChunk`, which answers whether it has let go of the chunk
 * (nothing holds a view of it any longer: its memory may take the next read). `endsBurst` tells from a chunk, once
 * `onChunk` has had it, whether the peer is now likely to stay quiet. Backpressure is the reader's own: pause() and
 * resume() stop and start reading a socket with onread as any other.
 */
export function slabReads(onChunk: (chunk: Buffer) => boolean, endsBurst: (chunk: Buffer) => boolean): net.OnReadOpts {
  let slab: Buffer | undefined;
  let used = 0;
  let room: Buffer;
  let quiet = true;
  /** The last chunk was let go of, and the next read goes to the same room. */
  let sameRoom = false;
  return {
    // Node asks for the next read's room right after each callback, and once before the first read. Not a buffer
    // (undefined) keeps the room it has, which it then need not look up again.
    buffer: () => {
      if (sameRoom) return undefined as unknown as Uint8Array;
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
      const letGo = onChunk(chunk);
      const wasQuiet = slab === undefined;
      quiet = bytes < room.length && endsBurst(chunk);
      sameRoom = letGo && quiet === wasQuiet;
      if (!letGo) used += bytes;
      return true;
    },
  };
}
