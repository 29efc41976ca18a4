// Reads a Bind that does not arrive in one read (a BodyReader of the client's framer) only as far as its portal's and
// statement's names, and has the interceptor judge it from them and its declared length, before its body is in: a Bind
// it refuses is handed on at once without its body, which is let go as it comes, so that no client makes the proxy
// hold a big Bind to be refused, nor waits for its answer until it has sent all of it; one whose names are all the
// interceptor needs (a Bind of a statement it does not run) is relayed as it comes, so that a session that prepared
// an LLM statement does not make the proxy hold its other Binds whole; any other is kept whole, in one copy, as the
// framer would have kept it.

import type { BodyReader } from './framer.js';
import type { BindAdmission, BindNames } from './interceptor.js';
import { FrontendMessage } from './protocol.js';
import { serverName } from './server-names.js';
import { MAX_NAME_BYTES } from './statement-relay.js';

const HEADER_LENGTH = 5;
/** The most of a Bind's body read for its two names: past it, they are judged unknown. */
const MAX_NAMES_BYTES = 2 * (MAX_NAME_BYTES + 1);

/** What is handed on of a Bind refused unread: one without a body. */
function bodilessBind(): Buffer {
  const frame = Buffer.alloc(HEADER_LENGTH);
  frame[0] = FrontendMessage.Bind;
  frame.writeInt32BE(4, 1);
  return frame;
}

export class BindReader implements BodyReader {
  /** What the interceptor made of the Bind, once its names were in. */
  admission: BindAdmission | undefined;
  /** The whole Bind, as it comes, once it is judged one to keep. */
  private kept: Buffer | undefined;
  /** Where the Bind goes as it comes, once it is judged one to relay. */
  private relay: ((bytes: Buffer) => void) | undefined;
  private keptFill = 0;
  private judged = false;
  /** The body's first bytes, while its names are read. */
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private nulsSeen = 0;

  /**
   * @param judge the interceptor's admitBind
   * @param refused told of a refusal as soon as it is made, with the Bind to hand on in place of this one
   * @param relays asked of a Bind the interceptor did not judge, once its names are known: where to write it as it
   *   comes (its header first), or undefined to keep it whole
   */
  constructor(
    private readonly length: number,
    private readonly judge: (names: BindNames | undefined, bytes: number) => BindAdmission | undefined,
    private readonly refused: (bodiless: Buffer, admission: BindAdmission) => void,
    private readonly relays: (names: BindNames) => ((bytes: Buffer) => void) | undefined = () => undefined,
  ) {}

  /** The whole Bind once all of it is read; undefined when it was refused or relayed. */
  get frame(): Buffer | undefined {
    return this.kept;
  }

  /** Whether the Bind went on as it came, none of it kept. */
  get relayed(): boolean {
    return this.relay !== undefined;
  }

  read(bytes: Buffer): void {
    const rest = this.judged ? bytes : this.readNames(bytes);
    if (this.kept) this.keptFill += rest.copy(this.kept, this.keptFill);
    else if (this.relay && rest.length > 0) this.relay(rest);
  }

  end(): void {
    // A body that ends before its names do is malformed, and no bigger than they may be: kept, for the interceptor to say so.
    if (!this.judged) this.keep(Buffer.concat(this.head));
  }

  /** Takes the names' bytes from the start of `bytes`, judges the Bind once they are in, and returns the bytes after them. */
  private readNames(bytes: Buffer): Buffer {
    let from = 0;
    while (this.nulsSeen < 2) {
      const nul = bytes.indexOf(0, from);
      if (nul < 0) break;
      this.nulsSeen++;
      from = nul + 1;
    }
    const namesEnd = this.nulsSeen === 2 ? from : bytes.length;
    const taken = Math.min(namesEnd, MAX_NAMES_BYTES - this.headBytes);
    this.head.push(Buffer.from(bytes.subarray(0, taken)));
    this.headBytes += taken;
    const known = this.nulsSeen === 2 && taken === namesEnd;
    if (known || this.headBytes === MAX_NAMES_BYTES) this.judgeBy(Buffer.concat(this.head), known);
    return bytes.subarray(taken);
  }

  private judgeBy(head: Buffer, namesKnown: boolean): void {
    this.judged = true;
    this.head.length = 0;
    const portalEnd = head.indexOf(0);
    const names = namesKnown ? { portal: serverName(head.subarray(0, portalEnd)), statement: serverName(head.subarray(portalEnd + 1, head.length - 1)) } : undefined;
    const bodyLength = this.length - 4;
    this.admission = this.judge(names, namesKnown ? bodyLength - head.length : bodyLength);
    if (this.admission?.refusal) return this.refused(bodilessBind(), this.admission);
    this.relay = this.admission || !names ? undefined : this.relays(names);
    if (this.relay) this.relay(Buffer.concat([this.header(), head]));
    else this.keep(head);
  }

  private header(): Buffer {
    const header = Buffer.allocUnsafe(HEADER_LENGTH);
    header[0] = FrontendMessage.Bind;
    header.writeInt32BE(this.length, 1);
    return header;
  }

  private keep(head: Buffer): void {
    this.judged = true;
    this.kept = Buffer.allocUnsafe(1 + this.length);
    this.kept[0] = FrontendMessage.Bind;
    this.kept.writeInt32BE(this.length, 1);
    this.keptFill = HEADER_LENGTH + head.copy(this.kept, HEADER_LENGTH);
  }
}
