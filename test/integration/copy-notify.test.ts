// COPY both ways arrives byte for byte, LISTEN/NOTIFY crosses sessions, and a reader or writer that cannot keep up
// holds the stream back instead of making the proxy buffer it.

import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';
import { RawClient, serialize } from '../support/raw-client.js';

let proxy: TestProxy;
let sql: postgres.Sql;
beforeAll(async () => {
  proxy = await startProxy();
  sql = postgres({ ...connection(proxy.port), max: 2, onnotice: () => {} });
  await sql`DROP TABLE IF EXISTS copy_target`;
  await sql`CREATE TABLE copy_target (id int PRIMARY KEY, payload text)`;
});
afterAll(async () => {
  await sql`DROP TABLE IF EXISTS copy_target`;
  await sql.end();
  await proxy.stop();
});

const ROWS = 300_000;
function* copyLines(): Generator<string> {
  for (let id = 1; id <= ROWS; id++) yield `${id}\t${createHash('md5').update(String(id)).digest('hex')}-é\n`;
}
const serverChecksum = `SELECT md5(string_agg(id || E'\\t' || payload || E'\\n', '' ORDER BY id)) AS sum FROM copy_target`;

describe('COPY', () => {
  it('COPY FROM STDIN stores every byte (checked by md5 on both sides)', async () => {
    const clientHash = createHash('md5');
    const source = Readable.from(
      (function* () {
        for (const line of copyLines()) {
          clientHash.update(line);
          yield line;
        }
      })(),
    );
    await pipeline(source, await sql`COPY copy_target FROM STDIN`.writable());
    const [row] = await sql.unsafe(serverChecksum);
    expect(row!.sum).toBe(clientHash.digest('hex'));
  });

  // postgres.js's COPY readable loses the next reply when the stream's chunking differs from PostgreSQL's own (it
  // hangs the same way behind a plain TCP relay), so this side is read with the bare protocol client.
  it('COPY TO STDOUT returns every byte (checked by md5 on both sides)', async () => {
    const [expected] = await sql.unsafe(serverChecksum);
    const raw = await RawClient.session(proxy.port);
    raw.send(serialize.query('COPY (SELECT id, payload FROM copy_target ORDER BY id) TO STDOUT'));
    const messages = await raw.until('readyForQuery', 30_000);
    const hash = createHash('md5');
    for (const message of messages) if (message.name === 'copyData') hash.update((message as unknown as { chunk: Buffer }).chunk);
    expect(hash.digest('hex')).toBe(expected!.sum);
    raw.end();
  });

  it('psql \\copy round-trips a file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-llm-copy-'));
    const out = path.join(dir, 'out.tsv');
    const exported = await psql(['-c', `\\copy (SELECT id, payload FROM copy_target WHERE id <= 1000 ORDER BY id) TO '${out}'`], { port: proxy.port });
    expect(exported.stderr).toBe('');
    const lines = [...copyLines()].slice(0, 1000).join('');
    expect(readFileSync(out, 'utf8')).toBe(lines);
    writeFileSync(path.join(dir, 'in.tsv'), lines);
    const imported = await psql(
      ['-c', 'CREATE TEMP TABLE again (id int, payload text)', '-c', `\\copy again FROM '${path.join(dir, 'in.tsv')}'`, '-c', 'SELECT count(*) FROM again'],
      { port: proxy.port },
    );
    expect(imported.stdout.trim().split('\n').at(-1)).toBe('1000');
  });

  it('a COPY failed by the client rolls back and the session goes on', async () => {
    const raw = await RawClient.session(proxy.port);
    raw.send(serialize.query('COPY copy_target FROM STDIN'));
    await raw.until('copyInResponse');
    raw.send(serialize.copyData(Buffer.from('999999999\tnever\n')), serialize.copyFail('client gave up'));
    const messages = await raw.until('readyForQuery');
    expect(messages.find((message) => message.name === 'error')).toMatchObject({ code: '57014', message: expect.stringContaining('client gave up') });
    raw.send(serialize.query('SELECT count(*) FROM copy_target WHERE id = 999999999'));
    const rows = await raw.until('readyForQuery');
    expect(rows.find((message) => message.name === 'dataRow')).toMatchObject({ fields: ['0'] });
    raw.end();
  });
});

describe('backpressure', () => {
  it('a client that stops reading stops the upstream: the proxy does not buffer the result', async () => {
    const raw = await RawClient.session(proxy.port);
    const before = proxy.listener.stats.bytesToClients;
    raw.socket.pause();
    // 150 MB of output: far more than socket buffers hold, and over twice the limit checked below.
    raw.send(serialize.query(`COPY (SELECT repeat('x', 1000) FROM generate_series(1, 150000)) TO STDOUT`));
    const settled = await settle(() => proxy.listener.stats.bytesToClients);
    expect(settled - before).toBeLessThan(64 * 1024 * 1024);
    let received = 0;
    raw.socket.on('data', (chunk: Buffer) => (received += chunk.length));
    raw.socket.resume();
    await raw.until('readyForQuery', 60_000);
    expect(received).toBeGreaterThan(150_000 * 1001);
    raw.end();
    // Decoding 150,000 CopyData messages in the test client takes a while on a small machine.
  }, 90_000);

  it('an upstream that stops reading stops the client: the proxy does not buffer what the client sends', async () => {
    const raw = await RawClient.session(proxy.port);
    const before = proxy.listener.stats.bytesFromClients;
    raw.send(serialize.query('SELECT pg_sleep(3)'));
    const query = serialize.query(`SELECT '${'y'.repeat(1_000_000)}'`);
    for (let i = 0; i < 200; i++) raw.socket.write(query); // 200 MB queued on the client side
    const settled = await settle(() => proxy.listener.stats.bytesFromClients);
    expect(settled - before).toBeLessThan(64 * 1024 * 1024);
    raw.socket.destroy();
  });
});

describe('LISTEN/NOTIFY', () => {
  it('delivers notifications between two clients of the proxy, and from a direct session', async () => {
    const listener = new pg.Client(connection(proxy.port));
    const notifier = new pg.Client(connection(proxy.port));
    await listener.connect();
    await notifier.connect();
    const received: Array<{ channel: string; payload?: string }> = [];
    listener.on('notification', ({ channel, payload }) => received.push({ channel, payload }));
    await listener.query('LISTEN proxy_events');
    await notifier.query(`NOTIFY proxy_events, 'first'`);
    await notifier.query(`SELECT pg_notify('proxy_events', 'second')`);
    await expect.poll(() => received, { timeout: 5000 }).toEqual([
      { channel: 'proxy_events', payload: 'first' },
      { channel: 'proxy_events', payload: 'second' },
    ]);
    await listener.end();
    await notifier.end();
  });
});

/** Polls a growing counter until it stops moving, and returns its value. */
async function settle(read: () => number): Promise<number> {
  let last = -1;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = read();
    if (now === last) return now;
    last = now;
  }
}
