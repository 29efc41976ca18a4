// Relays a Query or Parse too big for the interceptor to hold as its bytes come (a BodyReader of the client's
// framer), showing them to the interceptor's watch on the way (paced: paced-watch.ts), which judges the statement only
// once it has looked at all of it, maybe a few turns of the event loop after its last byte came. Whatever the
// judgement, the server has most of the statement by then; so the last bytes that make it well formed are kept back
// until it is known: a statement the interceptor would have taken over is spoilt there, and the server refuses it as
// malformed (an ERROR, before it parses or runs any of it) instead of running it.

import type { BodyReader } from './framer.js';
import type { PacedWatch } from './paced-watch.js';
import type { PgError } from './pg-error.js';
import { FrontendMessage } from './protocol.js';
import { serverName } from './server-names.js';

/**
 * The longest name of a statement (or portal) kept of a message read as it comes: past it, a Parse is judged as one to
 * refuse, and a Bind by its length alone (bind-reader.ts).
 */
export const MAX_NAME_BYTES = 64 * 1024;
/** The most a Parse holds after its statement's text: its parameter count and types. */
const MAX_PARAMETER_BYTES = 2 + 4 * 0xffff;

type Part = 'name' | 'sql' | 'rest';

export class StatementRelay implements BodyReader {
  /** Set once judged: the error the statement is to be refused with, or undefined to let it run. */
  refusal: PgError | undefined;
  judged = false;
  private whenJudged: (() => void) | undefined;
  private readonly head: Buffer;
  private headFill = 0;
  private readonly bodyLength: number;
  private position = 0;
  private part: Part;
  private readonly name: Buffer[] = [];
  private nameBytes = 0;
  private sqlBytes = 0;
  /** Where in the body the bytes kept back until the judgement start. */
  private holdFrom: number;
  private readonly held: Buffer[] = [];

  constructor(
    private readonly type: number,
    length: number,
    private readonly watch: PacedWatch,
    private readonly write: (bytes: Buffer) => void,
    headBytes: number,
  ) {
    this.bodyLength = length - 4;
    this.head = Buffer.alloc(Math.min(headBytes, this.bodyLength));
    this.part = type === FrontendMessage.Parse ? 'name' : 'sql';
    // A Query's text ends just before its last byte: that one and the text's last are kept back.
    this.holdFrom = type === FrontendMessage.Query ? this.bodyLength - 2 : Infinity;
    const header = Buffer.alloc(5);
    header[0] = type;
    header.writeInt32BE(length, 1);
    watch.read(header, false);
    write(header);
  }

  read(bytes: Buffer): void {
    let i = 0;
    while (i < bytes.length) {
      let to = bytes.length;
      let ended = false;
      if (this.part === 'name' || (this.part === 'sql' && this.type === FrontendMessage.Parse)) {
        const nul = bytes.indexOf(0, i);
        if (nul >= 0) [to, ended] = [nul, true];
      } else if (this.part === 'sql' && this.bodyLength - 1 - this.position <= to - i) {
        [to, ended] = [i + this.bodyLength - 1 - this.position, true];
      }
      this.take(bytes.subarray(i, to));
      i = to;
      if (!ended) continue;
      if (this.part !== 'rest' && this.type === FrontendMessage.Parse) {
        this.take(bytes.subarray(i, ++i), 'rest');
        // After the text, a Parse's parameter count and types: kept back unless there is too much for a well-formed one.
        if (this.part === 'sql' && this.bodyLength - this.position <= MAX_PARAMETER_BYTES) this.holdFrom = this.position;
      }
      this.part = this.part === 'name' ? 'sql' : 'rest';
    }
  }

  /** The body is all read: judged once the watch has looked at it all, at once when it has. */
  end(): void {
    const name = this.part === 'name' || this.nameBytes > MAX_NAME_BYTES ? undefined : serverName(Buffer.concat(this.name));
    this.watch.end(this.type === FrontendMessage.Parse ? name : '', this.sqlBytes, (refusal) => this.judgedAs(refusal));
  }

  /** Calls `then` once the statement is judged and its last bytes written, when it is not yet. */
  afterJudging(then: () => void): void {
    this.whenJudged = then;
  }

  /** The client is gone: the statement is never judged. */
  stop(): void {
    this.watch.stop();
    this.whenJudged = undefined;
  }

  /** Whether the client is not to be read for now: too much of the statement waits to be looked at. */
  get backlogged(): boolean {
    return this.watch.backlogged;
  }

  private judgedAs(refusal: PgError | undefined): void {
    const tail = Buffer.concat(this.held);
    if (refusal) spoil(this.type, tail);
    if (tail.length > 0) this.write(tail);
    this.refusal = refusal;
    this.judged = true;
    this.whenJudged?.();
  }

  /** Bytes of the body, of the current part unless said otherwise. */
  private take(bytes: Buffer, part = this.part): void {
    if (part === 'name' && this.nameBytes <= MAX_NAME_BYTES) this.name.push(Buffer.from(bytes.subarray(0, MAX_NAME_BYTES + 1 - this.nameBytes)));
    if (part === 'name') this.nameBytes += bytes.length;
    if (part === 'sql') {
      this.sqlBytes += bytes.length;
      this.headFill += bytes.copy(this.head, this.headFill);
    }
    this.watch.read(bytes, part === 'sql');
    const forwarded = Math.max(0, Math.min(bytes.length, this.holdFrom - this.position));
    if (forwarded > 0) this.write(bytes.subarray(0, forwarded));
    if (forwarded < bytes.length) this.held.push(Buffer.from(bytes.subarray(forwarded)));
    this.position += bytes.length;
  }

  /** The start of the statement's text (a copy), as far as it is read. */
  get statementHead(): Buffer {
    return this.head.subarray(0, this.headFill);
  }
}

/**
 * Makes the kept-back bytes malformed, whatever the message was. A Query's text then ends a byte early, before a byte
 * its message has no room for. A Parse's tail is its parameter count and types: it is well formed with only one count,
 * (length - 2) / 4, so the count is set to any other, which leaves a message the client sent malformed so too (review
 * P: toggling the count turned a count of 65535 with no types after it into a well-formed Parse, which the server ran).
 */
function spoil(type: number, tail: Buffer): void {
  if (type === FrontendMessage.Query) {
    if (tail.length > 0) tail[0] = 0;
    return;
  }
  // Shorter, the count itself is cut: malformed whatever it says.
  if (tail.length < 2) return;
  const wellFormed = (tail.length - 2) / 4;
  tail.writeUInt16BE(Number.isInteger(wellFormed) && wellFormed <= 0xffff ? (wellFormed + 1) & 0xffff : 0, 0);
}
