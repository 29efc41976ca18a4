// A kept message the client's framer assembles across reads, shown to the interceptor (Interceptor.arriving) in
// slices in the looking turns every session shares (looking-turns.ts), rather than a read at a time as it comes: a
// client's reads of a turn (up to 2 MiB) then cost every other session no more than the turn's share of looking.
// Once the message is whole it is handed on only when all of it has been looked at.

import type { Interceptor } from './interceptor.js';
import { lookWhenFree, stopLooking, type Looker } from './looking-turns.js';

/** The most shown in one slice: some 0.4 ms in the worst case. */
const SLICE_BYTES = 16 * 1024;

export class ArrivingLook implements Looker {
  private filled = 0;
  private looked = 0;
  /** The interceptor does not look at this message as it comes: it has it whole when it is. */
  private readonly unwatched: boolean;
  private whenLooked: (() => void) | undefined;

  constructor(
    private readonly type: number,
    readonly frame: Buffer,
    private readonly interceptor: Interceptor,
  ) {
    // Asked at once, so that a message it does not look at is handed on as soon as it is whole.
    this.unwatched = !interceptor.arriving(type, frame, 0);
  }

  /** The first `filled` bytes of the frame are in. */
  arrived(filled: number): void {
    this.filled = filled;
    if (!this.unwatched) lookWhenFree(this);
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
    if (this.looked < this.filled) return true;
    const then = this.whenLooked;
    this.whenLooked = undefined;
    then?.();
    return false;
  }
}
