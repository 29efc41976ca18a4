// A client that pipelines requests without reading their answers is read only as fast as the server answers: the
// proxy keeps a bounded number of replies owed, whatever the client writes, and every answer still arrives, in order,
// once the client reads. A driver's long pipeline is not held back for good, nor is a session after COPY FROM STDIN
// sent the way libpq sends it (a Sync the server ignores after the Execute).

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

/** Close of the unnamed statement: 7 bytes, answered by a 5-byte CloseComplete, never an error. */
const CLOSE = Buffer.from([0x43, 0, 0, 0, 6, 0x53, 0]);
const CLOSE_COMPLETE = Buffer.from([0x33, 0, 0, 0, 4]);
const READY_IDLE = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
/** 2.9 M Close messages, 20 MB: many times what the sockets between the client and the server hold. */
const CHUNK_MESSAGES = 64 * 1024;
const CHUNKS = 45;
/** The proxy stops reading at 4096 owed, after the rest of the chunk it is reading (at most 64 KiB of Closes). */
const OWED_BOUND = 4096 + Math.ceil((64 * 1024) / CLOSE.length);

function repliesOwed(): number[] {
  const sessions = (proxy.listener as unknown as { sessions: Map<unknown, unknown> }).sessions;
  return [...sessions.keys()].map((session) => (session as { replies: { pending: number } }).replies.pending);
}

/** The replies owed once they stop changing: the client's socket is full and the server is waiting to write. */
async function settledRepliesOwed(): Promise<number> {
  let last = -1;
  for (let polls = 0; polls < 60; polls++) {
    const now = Math.max(0, ...repliesOwed());
    if (now === last) return now;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return last;
}

/** A trust-authenticated session on a bare socket, paused: what arrives is read only by `readUntil`. */
async function bareSession(): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(serialize.startup({ user: 'postgres', database: 'postgres' }));
  await readUntil(socket, () => undefined, (tail) => tail.equals(READY_IDLE));
  socket.pause();
  return socket;
}

/**
 * Reads the socket until `done` holds for the last bytes read, handing each chunk to `check` on the way (which may
 * keep what does not end a message for the next one).
 */
function readUntil(socket: net.Socket, check: (chunk: Buffer) => Buffer | undefined, done: (tail: Buffer) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let carry: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      const bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      carry = check(bytes) ?? Buffer.alloc(0);
      if (done(bytes.subarray(-READY_IDLE.length))) {
        socket.off('data', onData).off('close', onClose);
        resolve();
      }
    };
    const onClose = (): void => reject(new Error('the proxy closed the session'));
    socket.on('data', onData).on('close', onClose);
    socket.resume();
  });
}

describe('a client that pipelines without reading', () => {
  it('is read only as far as a bounded number of replies owed, and gets every answer in order once it reads', async () => {
    const socket = await bareSession();
    onTestFinished(() => void socket.destroy());
    const chunk = Buffer.concat(Array.from({ length: CHUNK_MESSAGES }, () => CLOSE));
    for (let i = 0; i < CHUNKS; i++) socket.write(chunk);
    socket.write(Buffer.concat([serialize.sync(), serialize.query("SELECT 'still here' AS answer")]));

    expect(await settledRepliesOwed()).toBeLessThanOrEqual(OWED_BOUND);

    let closesAnswered = 0;
    let rest: Buffer = Buffer.alloc(0);
    await readUntil(
      socket,
      (bytes) => {
        let at = 0;
        while (at + CLOSE_COMPLETE.length <= bytes.length && bytes.subarray(at, at + CLOSE_COMPLETE.length).equals(CLOSE_COMPLETE)) {
          at += CLOSE_COMPLETE.length;
          closesAnswered++;
        }
        if (closesAnswered < CHUNKS * CHUNK_MESSAGES) return bytes.subarray(at);
        rest = Buffer.concat([rest, bytes.subarray(at)]);
        return undefined;
      },
      () => rest.includes('still here') && rest.subarray(-READY_IDLE.length).equals(READY_IDLE),
    );
    expect(closesAnswered).toBe(CHUNKS * CHUNK_MESSAGES);
    // The Sync's ReadyForQuery, then the query's answer: the session works as it did.
    expect(rest.subarray(0, READY_IDLE.length)).toEqual(READY_IDLE);
    expect(rest.includes('still here')).toBe(true);
    expect(Math.max(0, ...repliesOwed())).toBe(0);
  }, 180_000);

  it('runs a pipeline of 20,000 executions with one Sync to the end', async () => {
    const client = await RawClient.session(proxy.port);
    const executions = 20_000;
    const pipeline = [serialize.parse({ text: 'SELECT $1::int AS n', types: [] })];
    for (let n = 0; n < executions; n++) pipeline.push(serialize.bind({ values: [String(n)] }), serialize.execute({}));
    pipeline.push(serialize.sync());
    client.send(...pipeline);
    const messages = await client.until('readyForQuery', 120_000);
    const values = messages.filter((message) => message.name === 'dataRow').map((message) => Number((message as unknown as { fields: string[] }).fields[0]));
    expect(values).toEqual(Array.from({ length: executions }, (_, n) => n));
    expect(messages.filter((message) => message.name === 'commandComplete')).toHaveLength(executions);
    client.socket.destroy();
  }, 180_000);
});

describe('COPY FROM STDIN in the extended protocol', () => {
  it('leaves no reply owed for the Sync libpq sends after the Execute, which the server ignores', async () => {
    const client = await RawClient.session(proxy.port);
    await client.query('CREATE TEMP TABLE copied (n int)');
    for (let copy = 0; copy < 3; copy++) {
      client.send(
        serialize.parse({ text: 'COPY copied FROM STDIN', types: [] }),
        serialize.bind({}),
        serialize.describe({ type: 'P' }),
        serialize.execute({}),
        serialize.sync(),
      );
      await client.until('copyInResponse');
      client.send(serialize.copyData(Buffer.from(`${copy}\n`)), serialize.copyDone(), serialize.sync());
      await client.until('readyForQuery');
    }
    // The sessions of the tests before may still be closing.
    await expect.poll(() => repliesOwed()).toEqual([0]);
    expect(proxy.listener.sessionViews().map((view) => view.activity)).toEqual(['idle']);
    const rows = await client.query('SELECT count(*) FROM copied');
    expect(rows.some((message) => message.name === 'dataRow')).toBe(true);
    expect(repliesOwed()).toEqual([0]);
    client.socket.destroy();
  });
});
