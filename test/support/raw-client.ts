// A bare protocol client on a real socket, for what drivers will not do on purpose: pipelines written in one go,
// row-limited Execute, malformed messages. Messages are encoded and decoded with pg-protocol, independently of the
// proxy's own codecs.

import net from 'node:net';
import { parse, serialize } from 'pg-protocol';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';

export { serialize };

export class RawClient {
  readonly received: BackendMessage[] = [];
  /** Bytes received since capture() was called, for what pg-protocol will not decode (binary DataRow values). */
  private readonly bytes: Buffer[] = [];
  private capturing = false;
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.capturing) this.bytes.push(chunk);
    });
    void parse(socket, (message) => {
      // pg-protocol hands out CopyData as a view of its read buffer, which it reuses.
      if (message.name === 'copyData') message = { ...message, chunk: Buffer.from((message as unknown as { chunk: Buffer }).chunk) } as BackendMessage;
      this.received.push(message);
      this.wake();
    }).catch(() => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  /** Connects without starting a session (for startup-phase tests). */
  static async open(port: number): Promise<RawClient> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(socket);
  }

  /** Connects and completes a trust-authenticated startup as postgres. */
  static async session(port: number, parameters: Record<string, string> = {}): Promise<RawClient> {
    const client = await RawClient.open(port);
    client.send(serialize.startup({ user: 'postgres', database: 'postgres', ...parameters }));
    await client.until('readyForQuery');
    return client;
  }

  /** Starts keeping the raw bytes received, dropping any kept so far. */
  private capture(): void {
    this.capturing = true;
    this.bytes.length = 0;
  }

  /** A simple Query: its messages up to ReadyForQuery. */
  async query(sql: string, timeoutMs?: number): Promise<BackendMessage[]> {
    this.send(serialize.query(sql));
    return this.until('readyForQuery', timeoutMs);
  }

  /** One statement in the extended protocol with binary results: its messages, and its rows' values as sent. */
  async binaryQuery(sql: string, values: Array<string | null> = []): Promise<{ messages: BackendMessage[]; rows: Array<Array<Buffer | null>> }> {
    this.capture();
    this.send(
      serialize.parse({ text: sql, types: [] }),
      serialize.bind({ values, binary: true }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    );
    const messages = await this.until('readyForQuery');
    return { messages, rows: dataRows(Buffer.concat(this.bytes)) };
  }

  /** Sends messages and returns the bytes received up to the next ReadyForQuery, to compare with a server's own. */
  async exchange(...buffers: Buffer[]): Promise<Buffer> {
    this.capture();
    this.send(...buffers);
    await this.until('readyForQuery');
    return Buffer.concat(this.bytes);
  }

  send(...buffers: Buffer[]): void {
    // One message is written as it is: a copy of a big one would count in what the tests measure this process holds.
    this.socket.write(buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers));
  }

  /** Waits until a message of this name has arrived after the ones already taken, and returns everything up to it. */
  async until(name: string, timeoutMs = 5000): Promise<BackendMessage[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex((message) => message.name === name);
      if (index >= 0) return this.received.splice(0, index + 1);
      if (this.closed) throw new Error(`connection closed before ${name}; got ${this.received.map((m) => m.name).join(', ')}`);
      if (Date.now() > deadline) throw new Error(`no ${name} within ${timeoutMs} ms; got ${this.received.map((m) => m.name).join(', ')}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** Resolves when the server has closed the connection. */
  async untilClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  end(): void {
    this.socket.end(serialize.end());
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** Sends a CancelRequest for the session with this key, as a driver's cancel does, and waits for the proxy to close it. */
export function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(serialize.cancel(processId, secretKey)));
    socket.on('close', () => resolve()).on('error', reject);
  });
}

/** The values of the DataRows in a stream of backend messages, as sent. */
function dataRows(stream: Buffer): Array<Array<Buffer | null>> {
  const rows: Array<Array<Buffer | null>> = [];
  for (let offset = 0; offset < stream.length; offset += 1 + stream.readInt32BE(offset + 1)) {
    if (stream[offset] !== 'D'.charCodeAt(0)) continue;
    const row: Array<Buffer | null> = [];
    let at = offset + 7;
    for (let i = 0; i < stream.readInt16BE(offset + 5); i++) {
      const length = stream.readInt32BE(at);
      row.push(length < 0 ? null : stream.subarray(at + 4, at + 4 + length));
      at += 4 + Math.max(length, 0);
    }
    rows.push(row);
  }
  return rows;
}
