// The start of the last statement a client sent (Query or Parse), kept for the admin dashboard in memory of the
// session's own, not shared with any other Buffer: a view of the client's chunk would keep that memory from taking
// the next read (slab-reads.ts).

import { sqlBounds } from './frontend-read.js';

/** How much of a statement's text a session shows the admin dashboard: enough to tell it, never the whole. */
export const STATEMENT_HEAD_BYTES = 1024;
/** The first room a session's copy gets; it grows to STATEMENT_HEAD_BYTES when a statement needs it. */
const FIRST_ROOM_BYTES = 128;

/** The start of the last statement a client sent, undecoded, and when it came. */
export interface StatementHead {
  bytes: Buffer;
  /** False when the statement goes on past `bytes`. */
  whole: boolean;
  at: number;
}

export class LastStatement {
  private room: Buffer | undefined;
  private length = 0;
  private whole = true;
  private at = 0;
  /** A streamed statement's start, copied already by its relay. */
  private streamedHead: Buffer | undefined;

  /** Copies the start of the statement of a Query or Parse frame. */
  note(frame: Buffer): void {
    this.at = Date.now();
    this.streamedHead = undefined;
    const [start, end] = sqlBounds(frame);
    const kept = Math.min(end, start + STATEMENT_HEAD_BYTES);
    this.length = frame.copy(this.roomFor(kept - start), 0, start, kept);
    this.whole = kept === end;
  }

  /** The start of a statement relayed as it came (statement-relay.ts), which is its own copy. */
  noteStreamed(head: Buffer): void {
    this.at = Date.now();
    this.streamedHead = head;
    this.whole = false;
  }

  /** Undefined before the first statement. */
  get head(): StatementHead | undefined {
    if (this.at === 0) return undefined;
    return { bytes: this.streamedHead ?? this.room!.subarray(0, this.length), whole: this.whole, at: this.at };
  }

  private roomFor(length: number): Buffer {
    if (this.room !== undefined && this.room.length >= length) return this.room;
    return (this.room = Buffer.allocUnsafeSlow(Math.min(STATEMENT_HEAD_BYTES, Math.max(FIRST_ROOM_BYTES, length * 2))));
  }
}
