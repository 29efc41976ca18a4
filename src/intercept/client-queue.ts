// The client messages an interception engine holds while it works through a statement it took over. A client may
// pipeline without limit behind a slow model call, so past a bound of queued bytes the session stops reading from
// the client (the kernel's buffers, then the client's own writes, take the wait) and reads again once the queue
// has drained to half the bound. Each message counts with what holding it costs beyond its bytes, so that a flood of
// 5-byte Flushes is bounded as tightly as one big message (counted by their bytes alone, 840,000 of them fit, 160 MB
// of the proxy's memory). A message may come with something of the engine's (`Tag`: the room set aside for a Bind
// before it was read).

import type { SessionIo } from '../../proxy/interceptor.js';

/** Queued bytes past which the client is no longer read: a few big messages, far less than a pipelined flood. */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** What one queued message costs beside its frame's bytes: its Buffer and entry, measured at about 180 bytes. */
export const QUEUED_MESSAGE_OVERHEAD = 192;

type Queued<Tag> = [type: number, frame: Buffer, tag: Tag | undefined];

export class ClientQueue<Tag = never> {
  private readonly items: Array<Queued<Tag>> = [];
  private head = 0;
  private bytes = 0;
  private held = false;

  constructor(private readonly io: Pick<SessionIo, 'holdClient'>) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** The type of the message next in line, if one is. */
  nextType(): number | undefined {
    return this.items[this.head]?.[0];
  }

  push(type: number, frame: Buffer, tag?: Tag): void {
    this.items.push([type, frame, tag]);
    this.bytes += frame.length + QUEUED_MESSAGE_OVERHEAD;
    if (!this.held && this.bytes > MAX_QUEUED_BYTES) {
      this.held = true;
      this.io.holdClient(true);
    }
  }

  shift(): Queued<Tag> | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Queued<Tag>;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    this.bytes -= item[1].length + QUEUED_MESSAGE_OVERHEAD;
    if (this.held && this.bytes <= MAX_QUEUED_BYTES / 2) {
      this.held = false;
      this.io.holdClient(false);
    }
    return item;
  }
}
