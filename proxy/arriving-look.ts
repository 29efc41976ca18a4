// A kept message the client's framer assembles across reads, shown to the interceptor (Interceptor.arriving) in
// slices in the looking turns every session shares (looking-turns.ts), rather than a read at a time as it comes: a
// client's reads of a turn (up to 2 MiB) then cost every other session no more than the turn's share of looking.
// Once the message is whole it is handed on only when all of it has been looked at.

import type { Interceptor } from './interceptor.js';
import { lookWhenFree, stopLooking, type Looker } from './looking-turns.js';

/** The most shown in one slice: some 0.4 ms in the worst case. */
const SLICE_BYTES = 16 * 1024;
/**
 * Bytes in and not yet looked at past which the client is no longer read, and to which it is read again: read on
 * while the looking lagged, twelve clients' 2 MiB a turn each took some ms of every turn to copy in.
 */
const BACKLOG_BYTES = 1024 * 1024;
const READ_AGAIN_BYTES = 512 * 1024;

export class ArrivingLook implements Looker {
  private filled = 0;
  private looked = 0;
  /** The interceptor does not look at this message as it comes: it has it whole when it is. */
  private readonly unwatched: boolean;
  private whenLooked: (() => void) | undefined;
  /** More than BACKLOG_BYTES are in and not looked at, and not yet down to READ_AGAIN_BYTES: the client is not read. */
  backlogged = false;

  /** @param backlog told when the client is to be read no more (true) and when again (false) */
  constructor(
    private readonly type: number,
    readonly frame: Buffer,
    private readonly interceptor: Interceptor,
    private readonly backlog: (backlogged: boolean) => void,
  ) {
    // Asked at once, so that a message it does not look at is handed on as soon as it is whole.
    this.unwatched = !interceptor.arriving(type, frame, 0);
  }

  /** The first `filled` bytes of the frame are in. */
  arrived(filled: number): void {
    this.filled = filled;
    if (this.unwatched) return;
    lookWhenFree(this);
    if (!this.backlogged && this.filled - this.looked > BACKLOG_BYTES) {
      this.backlogged = true;
      this.backlog(true);
    }
  }

  /** The frame is whole: true when all of it has been looked at; else `then` is called once it has. */
  lookedAtWhole(then: () => void): boolean {
    this.filled = this.frame.length;
    if (this.unwatched || this.looked === this.filled) return true;
    this.whenLooked = then;
    lookWhenFree(this);
    return false;
  }

  /** The session is gone. */
  stop(): void {
    stopLooking(this);
    this.whenLooked = undefined;
  }

  lookASlice(): boolean {
    this.looked = Math.min(this.filled, this.looked + SLICE_BYTES);
    this.interceptor.arriving(this.type, this.frame, this.looked);
    if (this.backlogged && this.filled - this.looked <= READ_AGAIN_BYTES) {
      this.backlogged = false;
      this.backlog(false);
    }
    if (this.looked < this.filled) return true;
    const then = this.whenLooked;
    this.whenLooked = undefined;
    then?.();
    return false;
  }
}
