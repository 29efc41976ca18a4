// Work that cannot be cut up (an SDK's parse of a big answer, a big message to a thread) takes a turn of the event
// loop of its own (review R3: eight answers parsed one after the other held every session for most of a second).

import { describe, expect, it } from 'vitest';
import { COPY_BYTES_A_TURN, copiedInTurns, ownTurn } from '../../src/event-loop-turns.js';

describe('ownTurn', () => {
  it('lets one caller go a turn, the event loop turning before the next goes', async () => {
    const order: string[] = [];
    const first = ownTurn().then(() => {
      order.push('first');
      setImmediate(() => order.push('meanwhile'));
    });
    const second = ownTurn().then(() => order.push('second'));
    const third = ownTurn().then(() => order.push('third'));
    await Promise.all([first, second, third]);
    expect(order).toEqual(['first', 'meanwhile', 'second', 'third']);
  });

  it('lets a socket be read between two callers asked for in the same turn', async () => {
    const { createServer, connect } = await import('node:net');
    const server = createServer((socket) => socket.end('x'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const order: string[] = [];
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    // The byte is in the kernel's buffer when both callers ask: the read comes between them, not after both.
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.once('data', () => order.push('read'));
    await Promise.all([ownTurn().then(() => order.push('first')), ownTurn().then(() => order.push('second'))]);
    client.destroy();
    server.close();
    expect(order).toEqual(['first', 'read', 'second']);
  });
});

describe('copiedInTurns', () => {
  it('copies a big buffer into one of its own, the event loop turning between megabytes', async () => {
    const bytes = Buffer.alloc(3 * COPY_BYTES_A_TURN + 5);
    for (let at = 0; at < bytes.length; at += 4099) bytes[at] = (at % 251) + 1;
    const order: string[] = [];
    const copying = copiedInTurns(bytes).then((copy) => {
      order.push('copied');
      return copy;
    });
    setImmediate(() => order.push('another turn'));
    const copy = await copying;
    expect(order).toEqual(['another turn', 'copied']);
    expect(Buffer.from(copy).equals(bytes)).toBe(true);
    expect(copy.buffer).not.toBe(bytes.buffer);
  });
});
