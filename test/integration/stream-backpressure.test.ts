// A client that stops reading a stream stops the proxy reading the model's answer: the rows wait in the sockets on
// the way, not in the proxy's memory, and TCP back-pressure reaches the provider. Reading again gets every row; a
// cancel or the client leaving ends the wait at once, and with it the model call.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureProviderHttp } from '../../src/providers/http.js';
import { setProcessCallLimit } from '../../src/providers/limits.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';
import { RawClient, sendCancel, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
/** 64 MiB of chunks: far more than the sockets between the provider and the client hold. */
const CHUNKS = 4096;
const CHUNK_BYTES = 16 * 1024;
const STREAM = `SELECT seq_no, chunk, is_final FROM pg_llm_chat_stream('llm', 'hi')`;
beforeAll(() => configureProviderHttp({ maxResponseBytes: 2 * CHUNKS * CHUNK_BYTES }));
afterAll(() => configureProviderHttp({}));

async function setup() {
  const model = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
  shared.fake.script({ kind: 'flow', count: CHUNKS, chunkBytes: CHUNK_BYTES });
  return model;
}

/** How many chunks the provider wrote once it stopped: when the buffers between it and the client are full. */
async function writtenUntilBlocked(): Promise<number> {
  await expect.poll(() => shared.fake.requests.length).toBe(1);
  const sent = (): number => shared.fake.requests[0]!.sent;
  let last = -1;
  for (let polls = 0; polls < 60 && sent() !== last; polls++) {
    last = sent();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return sent();
}

describe('a client that stops reading a stream', () => {
  it('stops the proxy reading from the provider; reading again gets every row', async () => {
    const { name } = await setup();
    const client = await RawClient.session(shared.proxy.port, { database: name });
    client.socket.pause();
    client.send(serialize.query(STREAM));
    expect(await writtenUntilBlocked()).toBeLessThan(CHUNKS / 2);

    client.socket.resume();
    const rows = (await client.until('readyForQuery', 60_000)).flatMap((message) => (message.name === 'dataRow' ? [(message as unknown as { fields: string[] }).fields] : []));
    expect(rows).toHaveLength(CHUNKS + 1);
    expect(rows.slice(0, -1).every(([seqNo, chunk, isFinal], i) => seqNo === String(i + 1) && chunk === `${i + 1} `.padEnd(CHUNK_BYTES, 'x') && isFinal === 'f')).toBe(true);
    expect(rows.at(-1)).toEqual([String(CHUNKS + 1), '', 't']);
    client.end();
  }, 120_000);

  it.each(['cancels', 'leaves'])('and %s gives back its model-call slot at once, without reading', async (how) => {
    // One slot for the whole proxy: the stream holds it while the proxy waits for its client.
    setProcessCallLimit(1);
    afterThisTest(async () => setProcessCallLimit(256));
    const { name, client: other } = await setup();
    const paused = new pg.Client(connection(shared.proxy.port, 'postgres', name));
    await paused.connect();
    paused.on('error', () => {});
    const socket = (paused as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
    const outcome = paused.query(STREAM).catch((error: unknown) => error);
    socket.pause();
    await writtenUntilBlocked();

    if (how === 'cancels') {
      const { processID, secretKey } = paused as unknown as { processID: number; secretKey: number };
      await sendCancel(shared.proxy.port, processID, secretKey);
    } else {
      socket.destroy();
    }
    shared.fake.script({ kind: 'answer', content: 'next in line' });
    expect((await other.query(`SELECT pg_llm_chat('llm', 'hi') AS a`)).rows).toEqual([{ a: 'next in line' }]);
    expect(shared.fake.requests[0]!.aborted).toBe(true);
    if (how === 'cancels') {
      socket.resume();
      expect(await outcome).toMatchObject({ code: '57014' });
      await paused.end();
    }
  }, 60_000);
});
