// Whole server messages, one at a time, for the short conversations the proxy holds with the upstream on a connection
// of its own (the auth query). A session's connections are framed by the session instead.

import type net from 'node:net';
import { MessageFramer } from './framer.js';

/** Larger than any message the proxy's own queries are answered with. */
const MAX_MESSAGE_LENGTH = 1024 * 1024;

export class MessageReader {
  private readonly frames: Buffer[] = [];
  private readonly framer = new MessageFramer(() => true, MAX_MESSAGE_LENGTH);
  private waiting: { resolve: (frame: Buffer) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData).on('error', this.onEnd).on('close', this.onEnd);
    socket.resume();
  }

  /** The next message (type, length and body), or a rejection once the connection fails or ends. */
  next(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.deliver();
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.framer.push(chunk, (_type, frame) => this.frames.push(Buffer.from(frame!)));
    } catch (error) {
      this.failure ??= error as Error;
      this.socket.destroy();
    }
    this.deliver();
  };

  private readonly onEnd = (error?: Error | boolean): void => {
    this.failure ??= error instanceof Error ? error : new Error('the server closed the connection');
    this.deliver();
  };

  private deliver(): void {
    if (!this.waiting) return;
    const { resolve, reject } = this.waiting;
    const frame = this.frames.shift();
    if (frame) resolve(frame);
    else if (this.failure) reject(this.failure);
    else return;
    this.waiting = undefined;
  }
}
