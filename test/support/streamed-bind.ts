// A Bind with one big text parameter written to a socket in pieces, as a client streams a big message: its start
// (header, names and the first bytes of the value), then, when the test says so, the rest. The value is one small
// piece written again and again, so the test's own process never holds the message whole.

import { once } from 'node:events';
import type net from 'node:net';

const PIECE = Buffer.alloc(1024 * 1024, 'v');

export class StreamedBind {
  /** Bytes of the value written so far. */
  sent = 0;
  /** Bytes of the message written so far. */
  written = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly valueBytes: number,
    private readonly names: { portal?: string; statement: string },
  ) {}

  /** Writes the header, the names and the first `first` bytes of the value. */
  async start(first: number): Promise<void> {
    await this.write(this.head());
    await this.value(first);
  }

  /** Writes the rest of the value and the result format count. */
  async finish(): Promise<void> {
    await this.value(this.valueBytes - this.sent);
    await this.write(Buffer.from([0, 0]));
  }

  private head(): Buffer {
    const names = Buffer.from(`${this.names.portal ?? ''}\0${this.names.statement}\0`);
    const head = Buffer.alloc(5 + names.length + 8);
    head[0] = 'B'.charCodeAt(0);
    // Length field, names, no parameter format codes, one parameter of valueBytes, and two bytes after the value.
    head.writeInt32BE(4 + names.length + 8 + this.valueBytes + 2, 1);
    names.copy(head, 5);
    head.writeInt16BE(0, 5 + names.length);
    head.writeInt16BE(1, 7 + names.length);
    head.writeInt32BE(this.valueBytes, 9 + names.length);
    return head;
  }

  private async value(bytes: number): Promise<void> {
    for (let left = bytes; left > 0; left -= PIECE.length) await this.write(PIECE.subarray(0, Math.min(left, PIECE.length)));
    this.sent += bytes;
  }

  private async write(bytes: Buffer): Promise<void> {
    this.written += bytes.length;
    if (!this.socket.write(bytes)) await once(this.socket, 'drain');
  }
}
