// Finds message boundaries in a byte stream of typed protocol messages (type byte + Int32 length + body) without
// copying what it does not need. The session forwards raw chunks; the framer only tells it where messages start
// and hands over the whole frame of the messages it asked to see.

import { PgError, SqlState } from './pg-error.js';

const HEADER_LENGTH = 5;

/**
 * Called once per message. `frame` (type byte, length and body) is given only for messages whose type the framer
 * was asked to keep, once the whole message is in, unless a BodyReader read its body; it may be a view into the pushed
 * chunk, so copy it to keep it past the call. `start` is where the message begins in the pushed chunk, or -1 when it
 * began in an earlier one; `end` is where a kept message ends in the pushed chunk (for other messages it is the end
 * of their header).
 */
export type MessageHandler = (type: number, frame: Buffer | undefined, start: number, end: number) => void;

/**
 * Takes the body of a kept message as it comes, in place of the whole frame: its owner need not hold a big message
 * whole to judge it (and may let all or part of it go unread).
 */
export interface BodyReader {
  /** The next bytes of the body: a view of the pushed chunk, to copy what is kept. */
  read(bytes: Buffer): void;
  /** The body is all read; the handler is called next, without a frame. */
  end(): void;
}

/**
 * A frame (or a value in one) to keep past the handler's call: itself when it is all of its memory, as a frame the
 * framer assembled across chunks is, else a copy, so that a few bytes kept do not hold a whole chunk. A frame of
 * megabytes is then never copied again once it is in (a copy of 30 MB held the event loop some 40 ms).
 */
export function keptBytes(bytes: Buffer): Buffer {
  return bytes.byteLength === bytes.buffer.byteLength ? bytes : Buffer.from(bytes);
}

/** Lets a body go unread. */
export const LEFT_UNREAD: BodyReader = { read() {}, end() {} };

/**
 * Puts a message off (readerFor's answer): the framer stops before it, keeps the bytes it was pushed from its header
 * on, and frames them again, the message's type and length asked about anew, once its owner takes them back (takeWaiting).
 */
export const PUT_OFF: BodyReader = { read() {}, end() {} };

export class MessageFramer {
  private readonly header = Buffer.alloc(HEADER_LENGTH);
  private headerFill = 0;
  /** Where the current header began in the chunk being pushed (-1: in an earlier chunk). */
  private headerStart = -1;
  private type = 0;
  /** keepFrame's answer for the current message, asked once, when its type byte arrives. */
  private keepCurrent = false;
  /** Body bytes of the current message still to come when it is being skipped. */
  private skipRemaining = 0;
  /** The frame being assembled across chunks when the current message is kept. */
  private partial: Buffer | undefined;
  private partialFill = 0;
  /** Where the kept message being assembled began in the last pushed chunk (-1: in an earlier chunk). */
  private partialStart = -1;
  /** The reader of the current message's body, when one takes it in place of a whole frame. */
  private reader: BodyReader | undefined;
  private readRemaining = 0;
  /** Where the message being read began in the last pushed chunk (-1: in an earlier chunk). */
  private readStart = -1;
  /** The bytes pushed from a message put off on: its header, and all that came after it. */
  private waiting: Buffer[] | undefined;
  /** Where the message put off began in the last pushed chunk (-1: in an earlier chunk). */
  private waitingStart = -1;
  /** The handler asked to put off what follows the message it was handed. */
  private restPutOff = false;

  /**
   * @param keepFrame decides, per message type, whether the handler gets the frame's bytes; it is asked exactly
   *   once per message, when its type byte arrives (again when a message put off is pushed again), so its answer
   *   may change from one message to the next
   * @param maxMessageLength largest accepted value of the length field (body + 4); it may be changed between pushes
   * @param readerFor asked once per kept message, when its length field is in: a reader to take its body as it comes,
   *   undefined for the whole frame, or PUT_OFF; `start` is where the message begins in the chunk being pushed (-1: in
   *   an earlier one)
   * @param lengthLimit a tighter limit than maxMessageLength on messages of some types (undefined: none), which a
   *   peer that passes it is out of step with, or hostile
   * @param arriving shown a kept message being assembled across chunks after each chunk that does not complete it:
   *   the frame it will be handed over in, and how many of its bytes are in; its owner may look at those as they come
   *   rather than all at once when the frame is whole
   */
  constructor(
    private readonly keepFrame: (type: number) => boolean,
    public maxMessageLength: number,
    private readonly readerFor?: (type: number, length: number, start: number) => BodyReader | undefined,
    private readonly lengthLimit?: (type: number) => number | undefined,
    private readonly arriving?: (type: number, frame: Buffer, filled: number) => void,
  ) {}

  /** True when no message is half-read: a message of the proxy's own may be inserted here. */
  get atBoundary(): boolean {
    return this.headerFill === 0 && this.skipRemaining === 0 && this.partial === undefined && this.reader === undefined && this.waiting === undefined;
  }

  /** Whether a message is put off: what is pushed meanwhile is kept for takeWaiting. */
  get putOff(): boolean {
    return this.waiting !== undefined;
  }

  /**
   * Called by the handler during a push: what follows the message it was handed is put off, kept with all pushed
   * after it for takeWaiting, as for a message put off.
   */
  putOffRest(): void {
    this.restPutOff = true;
  }

  /** The bytes of the message put off and of all pushed after it, to push again; the framer goes on from them. */
  takeWaiting(): Buffer | undefined {
    const waiting = this.waiting;
    this.waiting = undefined;
    return waiting && Buffer.concat(waiting);
  }

  /**
   * After a push: where, in that chunk, the kept message still being assembled (or read) began (-1: in an earlier
   * chunk), or undefined when none is. Its bytes are held by the framer (or its reader) and reach the handler later.
   */
  get heldFrom(): number | undefined {
    if (this.waiting !== undefined) return this.waitingStart;
    if (this.partial !== undefined) return this.partialStart;
    if (this.reader !== undefined) return this.readStart;
    if (this.headerFill > 0 && this.keepCurrent) return this.headerStart;
    return undefined;
  }

  /** Throws PgError (08P01 / 54000) on a length field that cannot be right; the stream is then unusable. */
  push(chunk: Buffer, onMessage: MessageHandler): void {
    let offset = 0;
    const end = chunk.length;
    this.partialStart = -1;
    this.readStart = -1;
    this.waitingStart = -1;
    if (this.waiting !== undefined) return void this.waiting.push(Buffer.from(chunk));
    if (this.headerFill > 0) this.headerStart = -1;
    while (offset < end || this.restPutOff) {
      if (this.restPutOff) {
        this.restPutOff = false;
        this.waiting = [Buffer.from(chunk.subarray(offset))];
        this.waitingStart = offset;
        return;
      }
      if (this.reader !== undefined) {
        const read = Math.min(this.readRemaining, end - offset);
        this.readRemaining -= read;
        offset += read;
        if (read > 0) this.reader.read(chunk.subarray(offset - read, offset));
        if (this.readRemaining === 0) this.endRead(onMessage, offset);
        continue;
      }
      if (this.skipRemaining > 0) {
        const skipped = Math.min(this.skipRemaining, end - offset);
        this.skipRemaining -= skipped;
        offset += skipped;
        continue;
      }
      if (this.partial !== undefined) {
        const copied = chunk.copy(this.partial, this.partialFill, offset);
        this.partialFill += copied;
        offset += copied;
        if (this.partialFill === this.partial.length) {
          const frame = this.partial;
          this.partial = undefined;
          onMessage(this.type, frame, this.partialStart, offset);
        } else this.arriving?.(this.type, this.partial, this.partialFill);
        continue;
      }

      let length: number;
      let frameStart: number;
      if (this.headerFill === 0 && end - offset >= HEADER_LENGTH) {
        this.type = chunk[offset]!;
        this.keepCurrent = this.keepFrame(this.type);
        length = chunk.readInt32BE(offset + 1);
        frameStart = offset;
        offset += HEADER_LENGTH;
      } else {
        if (this.headerFill === 0) {
          this.headerStart = offset;
          this.keepCurrent = this.keepFrame(chunk[offset]!);
        }
        const copied = chunk.copy(this.header, this.headerFill, offset, offset + HEADER_LENGTH - this.headerFill);
        this.headerFill += copied;
        offset += copied;
        if (this.headerFill < HEADER_LENGTH) return;
        this.headerFill = 0;
        this.type = this.header[0]!;
        length = this.header.readInt32BE(1);
        frameStart = this.headerStart;
      }
      this.checkLength(length);

      const bodyLength = length - 4;
      if (!this.keepCurrent) {
        onMessage(this.type, undefined, frameStart, offset);
        // A body all in this chunk is stepped over at once, not on another turn of the loop.
        if (end - offset >= bodyLength) offset += bodyLength;
        else this.skipRemaining = bodyLength;
        continue;
      }
      const reader = this.readerFor?.(this.type, length, frameStart);
      if (reader === PUT_OFF) return this.putOffFrom(chunk, offset, frameStart, length);
      if (reader !== undefined) {
        this.reader = reader;
        this.readRemaining = bodyLength;
        this.readStart = frameStart;
        if (bodyLength === 0) this.endRead(onMessage, offset);
        continue;
      }
      if (frameStart >= 0 && offset === frameStart + HEADER_LENGTH && end - offset >= bodyLength) {
        offset += bodyLength;
        onMessage(this.type, chunk.subarray(frameStart, offset), frameStart, offset);
        continue;
      }
      this.partial = Buffer.allocUnsafe(HEADER_LENGTH + bodyLength);
      this.partial[0] = this.type;
      this.partial.writeInt32BE(length, 1);
      this.partialFill = HEADER_LENGTH;
      this.partialStart = frameStart;
      if (bodyLength === 0) {
        const frame = this.partial;
        this.partial = undefined;
        onMessage(this.type, frame, frameStart, offset);
      }
    }
  }

  /** Keeps the message whose header ends at `offset` of `chunk`, and the rest of the chunk, unread. */
  private putOffFrom(chunk: Buffer, offset: number, frameStart: number, length: number): void {
    const header = Buffer.alloc(HEADER_LENGTH);
    header[0] = this.type;
    header.writeInt32BE(length, 1);
    this.waiting = [header, Buffer.from(chunk.subarray(offset))];
    this.waitingStart = frameStart;
  }

  private endRead(onMessage: MessageHandler, offset: number): void {
    const reader = this.reader!;
    this.reader = undefined;
    reader.end();
    onMessage(this.type, undefined, this.readStart, offset);
  }

  private checkLength(length: number): void {
    const limit = this.lengthLimit?.(this.type);
    if (length < 4 || (limit !== undefined && length > limit)) {
      throw new PgError(SqlState.ProtocolViolation, `invalid message length ${length}`, { severity: 'FATAL' });
    }
    if (length > this.maxMessageLength) {
      throw new PgError(
        SqlState.ProgramLimitExceeded,
        `message of ${length} bytes exceeds the proxy's limit of ${this.maxMessageLength} bytes`,
        { severity: 'FATAL', hint: 'Raise the proxy option --max-message-size, or send smaller messages.' },
      );
    }
  }
}
