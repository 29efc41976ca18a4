// Shows the interceptor's watch a statement relayed as it comes in slices, in the looking turns every session shares
// (looking-turns.ts), however fast it arrives. Looked at as it was read, a statement of hundreds of MB held every
// other session up to 2 MiB a turn (libuv's 32 reads of a socket), some 50 ms, and more for each session sending one
// (review P). The client is read on while the queue of bytes not yet looked at stays small, so a fast client is
// paused seldom: a pause after each read left it waiting on TCP's window for each (a 200 MB relay 30 times slower).

import type { StatementWatch } from './interceptor.js';
import { lookWhenFree, stopLooking, type Looker } from './looking-turns.js';
import type { PgError } from './pg-error.js';

/** The most looked at in one slice: some 0.4 ms in the worst case. */
const SLICE_BYTES = 16 * 1024;
/**
 * The queue's memory comes in blocks of this size, used again once looked at: a copy of each read, let go, left the
 * collector a statement's size of garbage (50 MB for a 48 MB statement).
 */
const BLOCK_BYTES = 64 * 1024;
/** Bytes queued past which the client is no longer read, and to which it is read again. */
const BACKLOG_BYTES = 4 * 1024 * 1024;
const READ_AGAIN_BYTES = 2 * 1024 * 1024;

/** Bytes read and not yet looked at: `bytes[looked, filled)`, all of the statement's text or all not. */
interface Block {
  bytes: Buffer;
  filled: number;
  looked: number;
  sql: boolean;
}

export class PacedWatch implements Looker {
  /** The blocks queued, from `head` on. */
  private readonly blocks: Block[] = [];
  private head = 0;
  private readonly spare: Buffer[] = [];
  private queued = 0;
  private stopped = false;
  private whenLooked: (() => void) | undefined;
  /** The queue has passed BACKLOG_BYTES, and not yet come down to READ_AGAIN_BYTES: the client is not read. */
  backlogged = false;

  /** @param backlog told when the client is to be read no more (true) and when again (false) */
  constructor(
    private readonly watch: StatementWatch,
    private readonly backlog: (backlogged: boolean) => void,
  ) {}

  /** As StatementWatch.read, but looked at later: `bytes` may be a view of memory the next read reuses. */
  read(bytes: Buffer, sql: boolean): void {
    if (this.stopped || bytes.length === 0) return;
    for (let at = 0; at < bytes.length; ) {
      const block = this.tailFor(sql);
      const copied = bytes.copy(block.bytes, block.filled, at);
      block.filled += copied;
      at += copied;
    }
    this.queued += bytes.length;
    if (!this.backlogged && this.queued > BACKLOG_BYTES) {
      this.backlogged = true;
      this.backlog(true);
    }
    lookWhenFree(this);
  }

  /** As StatementWatch.end, once all read is looked at (at once when it is): `then` is handed the judgement. */
  end(statement: string | undefined, sqlBytes: number, then: (refusal: PgError | undefined) => void): void {
    const judge = () => then(this.watch.end(statement, sqlBytes));
    if (this.queued === 0) judge();
    else this.whenLooked = judge;
  }

  /** The session is gone: nothing more is looked at, and the queue goes. */
  stop(): void {
    this.stopped = true;
    stopLooking(this);
    this.blocks.length = 0;
    this.spare.length = 0;
    this.queued = 0;
    this.whenLooked = undefined;
  }

  lookASlice(): boolean {
    const block = this.blocks[this.head]!;
    const to = Math.min(block.filled, block.looked + SLICE_BYTES);
    const piece = block.bytes.subarray(block.looked, to);
    block.looked = to;
    this.queued -= piece.length;
    // The watch keeps no view of what it is shown: the block takes more reads once this one is let go.
    this.watch.read(piece, block.sql);
    if (block.looked === block.filled) {
      this.spare.push(block.bytes);
      // The blocks looked at go now and then, not with a shift each.
      if (++this.head > 1024 || this.queued === 0) {
        this.blocks.splice(0, this.head);
        this.head = 0;
      }
    }
    if (this.backlogged && this.queued <= READ_AGAIN_BYTES) {
      this.backlogged = false;
      this.backlog(false);
    }
    if (this.queued > 0) return true;
    const then = this.whenLooked;
    this.whenLooked = undefined;
    then?.();
    return false;
  }

  /** The last block, when it has room for more of the same kind of bytes; else a new one. */
  private tailFor(sql: boolean): Block {
    const tail = this.blocks.length > this.head ? this.blocks.at(-1)! : undefined;
    if (tail && tail.sql === sql && tail.filled < tail.bytes.length) return tail;
    const block = { bytes: this.spare.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES), filled: 0, looked: 0, sql };
    this.blocks.push(block);
    return block;
  }
}
