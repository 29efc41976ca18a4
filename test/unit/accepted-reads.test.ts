// An accepted socket read through onread (proxy/accepted-reads.ts), as a session reads its client after startup:
// what the socket had read while paused comes back first, everything after lands in the reader's own memory, in
// order, and the socket still ends and closes when its peer does.

import net from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { readThrough } from '../../proxy/accepted-reads.js';

it('an accepted socket reads into the memory its onread gives, after what it had read while paused', async () => {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const socket = await accepted;
  server.close();

  // As the startup phase reads: 'data' events, then a pause, the stream still reading into its buffer.
  peer.write('startup');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()).resume());
  socket.pause();
  peer.write('while paused');
  while (socket.readableLength < 'while paused'.length) await nextTurn();

  const room = Buffer.alloc(64);
  const received: string[] = [];
  let arrived = (): void => {};
  const earlier = readThrough(socket, {
    buffer: () => room,
    callback: (bytes, buffer) => {
      expect(buffer).toBe(room);
      received.push(room.toString('latin1', 0, bytes));
      arrived();
      return true;
    },
  });
  expect(earlier?.map((chunk) => chunk.toString('latin1'))).toEqual(['while paused']);

  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('data', () => expect.unreachable('no data events once read through onread'));
  const all = new Promise<void>((resolve) => (arrived = () => received.join('') === 'after the switch' && resolve()));
  peer.end('after the switch');
  await all;
  // The peer's FIN still ends the socket.
  await closed;
});
