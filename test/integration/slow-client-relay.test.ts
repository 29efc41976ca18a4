// A client that reads a big result slowly through the proxy: the proxy's reads from the upstream go to memory it
// reuses once a chunk is relayed (slab-reads.ts), so a chunk the client's socket still holds, not yet written, must
// keep its memory. Every byte the client gets is checked against what the server sent.

import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { serialize } from '../support/raw-client.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

/** 16,000 rows of 3,200 bytes: about 50 MB, far more than the sockets between the server and the client hold. */
const ROWS = 16_000;
const REPEATS = 100;
const READ_BYTES = 16 * 1024;
const READY_IDLE = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);

function expectedValue(row: number): string {
  return createHash('md5').update(String(row)).digest('hex').repeat(REPEATS);
}

/** The messages of a byte stream of backend messages: type and body. */
function messages(stream: Buffer): Array<{ type: string; body: Buffer }> {
  const found: Array<{ type: string; body: Buffer }> = [];
  for (let offset = 0; offset < stream.length; ) {
    const length = stream.readInt32BE(offset + 1);
    found.push({ type: String.fromCharCode(stream[offset]!), body: stream.subarray(offset + 5, offset + 1 + length) });
    offset += 1 + length;
  }
  return found;
}

it('gets every byte of a 50 MB result right, read slowly after a pause', async () => {
  const received: Buffer[] = [];
  let tail = Buffer.alloc(0);
  let ready: () => void = () => {};
  // Slower than the server: a few KiB a read, a millisecond apart, so the proxy's writes keep backing up.
  const socket: net.Socket = net.connect({
    host: '127.0.0.1',
    port: proxy.port,
    onread: {
      buffer: Buffer.alloc(READ_BYTES),
      callback: (bytes, buffer) => {
        const chunk = Buffer.from(buffer.subarray(0, bytes));
        received.push(chunk);
        tail = Buffer.concat([tail, chunk]).subarray(-READY_IDLE.length);
        if (tail.equals(READY_IDLE)) ready();
        setTimeout(() => socket.resume(), 1);
        return false;
      },
    },
  });
  const untilReady = () => new Promise<void>((resolve) => (ready = resolve));

  let answered = untilReady();
  socket.write(serialize.startup({ user: 'postgres', database: 'postgres' }));
  await answered;
  received.length = 0;

  answered = untilReady();
  socket.pause();
  // A pause every 10 rows: the proxy then reads the server's answer a few rows at a time, each read less than its
  // socket's high-water mark, so a write that does not complete at once does not stop it reading the next.
  socket.write(serialize.query(`SELECT i, repeat(md5(i::text), ${REPEATS}) FROM generate_series(1, ${ROWS}) i WHERE i % 10 <> 0 OR pg_catalog.pg_sleep(0.001) IS NOT NULL`));
  // Paused long enough for the server's answer to fill the sockets and the proxy's write buffer.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  socket.resume();
  await answered;
  socket.end(serialize.end());

  const answer = messages(Buffer.concat(received));
  expect(answer.map(({ type }) => type).join('').replace(/D+/, 'D')).toBe('TDCZ');
  const rows = answer.filter(({ type }) => type === 'D');
  expect(rows).toHaveLength(ROWS);
  const wrong = rows.findIndex(({ body }, i) => {
    const expected = Buffer.alloc(2 + 4 + String(i + 1).length + 4 + 32 * REPEATS);
    let offset = expected.writeInt16BE(2, 0);
    offset = expected.writeInt32BE(String(i + 1).length, offset);
    offset += expected.write(String(i + 1), offset);
    offset = expected.writeInt32BE(32 * REPEATS, offset);
    expected.write(expectedValue(i + 1), offset);
    return !body.equals(expected);
  });
  expect(wrong).toBe(-1);
}, 120_000);
