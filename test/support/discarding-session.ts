// A session on a bare socket that reads what it is sent as it comes and keeps only how many bytes there were: what
// the proxy holds of a big answer is then the proxy's alone, not a driver's.

import net from 'node:net';
import { serialize } from './raw-client.js';

export interface DiscardingSession {
  socket: net.Socket;
  /** Resolves with the bytes received since it was called, once they end with a ReadyForQuery. */
  untilReady(): Promise<number>;
}

export async function discardingSession(port: number, database = 'postgres'): Promise<DiscardingSession> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let received = 0;
  let tail = Buffer.alloc(0);
  let ready: (bytes: number) => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    tail = Buffer.concat([tail, chunk.subarray(-6)]).subarray(-6);
    // A ReadyForQuery of any transaction status.
    if (tail[0] === 0x5a && tail.readInt32BE(1) === 5) ready(received);
  });
  const untilReady = () => new Promise<number>((resolve) => (ready = resolve));
  const started = untilReady();
  socket.write(serialize.startup({ user: 'postgres', database }));
  await started;
  return {
    socket,
    untilReady: () => {
      received = 0;
      return untilReady();
    },
  };
}
