// Every byte through the relay, under the conditions where a read's memory could be reused too soon: many sessions
// at once, clients that stop reading now and then, pipelines written in one go, COPY both ways, TLS on either side.
// What the client gets is checked against what the server was asked to send, and what the server got against what
// the client sent.

import { createHash } from 'node:crypto';
import type net from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copy } from '../support/pg-copy.js';
import { connection, startProxy, type ProxyOptions, type TestProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

const SESSIONS = 6;
const ROWS = 4000;
const REPEATS = 100;

const SETUPS: Record<string, ProxyOptions> = {
  plain: {},
  'pass-through': { passThrough: true },
  'TLS client': { tls: true },
  'TLS upstream': { upstream: { host: 'localhost', sslMode: 'require' } },
};

function value(session: number, row: number): string {
  return createHash('md5').update(`${session}:${row}`).digest('hex').repeat(REPEATS);
}

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/**
 * Reads a socket in short bursts between long pauses: the proxy's writes to it back up while the server's answer
 * trickles in, in reads smaller than a socket's high-water mark, which do not stop the proxy reading the next.
 */
function stutter(socket: net.Socket): () => void {
  let timer: NodeJS.Timeout;
  const pause = (): void => {
    socket.pause();
    timer = setTimeout(() => {
      socket.resume();
      timer = setTimeout(pause, 5);
    }, 150);
  };
  // Long enough at first for the answer to fill the sockets between the proxy and the client.
  socket.pause();
  timer = setTimeout(pause, 1500);
  return () => {
    clearTimeout(timer);
    socket.resume();
  };
}

async function pgSession(proxy: TestProxy, tls: boolean, session: number): Promise<void> {
  const client = new pg.Client({ ...connection(proxy.port), ...(tls ? { ssl: { rejectUnauthorized: false } } : {}) });
  await client.connect();
  try {
    const socket = (client as unknown as { connection: { stream: net.Socket } }).connection.stream;
    const stop = stutter(socket);
    const sql = `SELECT i, pg_catalog.repeat(pg_catalog.md5($1::text || ':' || i), ${REPEATS}) AS v FROM pg_catalog.generate_series(1, ${ROWS}) i WHERE i % 10 <> 0 OR pg_catalog.pg_sleep(0.001) IS NOT NULL`;
    const { rows } = await client.query<{ i: number; v: string }>(sql, [String(session)]);
    expect(rows.length).toBe(ROWS);
    expect(rows.findIndex((row, index) => row.i !== index + 1 || row.v !== value(session, index + 1))).toBe(-1);
    const out = await copy(client, `COPY (${sql.replace('$1::text', `'${session}'::text`)}) TO STDOUT`);
    stop();
    const expected = Array.from({ length: ROWS }, (_, index) => `${index + 1}\t${value(session, index + 1)}\n`).join('');
    expect(md5(out)).toBe(md5(expected));
  } finally {
    await client.end();
  }
}

async function postgresJsSession(proxy: TestProxy, tls: boolean, session: number): Promise<void> {
  const sql = postgres({ ...connection(proxy.port), max: 1, onnotice: () => {}, ...(tls ? { ssl: { rejectUnauthorized: false } } : {}) });
  try {
    // A pipeline: every query is sent before the first answer is read, some fail on the way.
    const answers = await Promise.all(
      Array.from({ length: 600 }, (_, i) =>
        sql`SELECT ${i}::int AS i, pg_catalog.repeat(pg_catalog.md5(${`${session}:${i}`}), ${i % 40}) AS v, 1 / (${i}::int % 97 - 13) AS d`.then(
          (rows) => rows[0]!,
          (error: Error) => ({ error: error.message }),
        ),
      ),
    );
    answers.forEach((answer, i) => {
      if (i % 97 === 13) expect(answer).toEqual({ error: 'division by zero' });
      else expect(answer).toMatchObject({ i, v: md5(`${session}:${i}`).repeat(i % 40) });
    });
    // COPY FROM STDIN in pieces of odd sizes, cut anywhere.
    const lines = Array.from({ length: ROWS * 4 }, (_, i) => `${i}\t${value(session, i).slice(0, 200 + (i % 300))}\n`).join('');
    const pieces: Buffer[] = [];
    const bytes = Buffer.from(lines);
    for (let at = 0, size = 1; at < bytes.length; at += size, size = (size * 7 + 13) % 70_000) pieces.push(bytes.subarray(at, at + size));
    await sql`CREATE TEMP TABLE copied (n int, v text)`;
    await pipeline(Readable.from(pieces), await sql`COPY copied FROM STDIN`.writable());
    const [{ digest }] = await sql<[{ digest: string }]>`SELECT pg_catalog.md5(pg_catalog.string_agg(n || E'\t' || v || E'\n', '' ORDER BY n)) AS digest FROM copied`;
    expect(digest).toBe(md5(lines));
  } finally {
    await sql.end();
  }
}

/** Extended-protocol batches written in one go, one with an error in the middle: each answer in order. */
async function rawSession(proxy: TestProxy, session: number): Promise<void> {
  const client = await RawClient.session(proxy.port);
  try {
    const batch: Buffer[] = [];
    const N = 3000;
    for (let i = 0; i < N; i++) {
      batch.push(
        serialize.parse({ text: 'SELECT pg_catalog.md5($1::text), 1 / ($2::int - 2500)', types: [] }),
        serialize.bind({ values: [`${session}:${i}`, String(i)] }),
        serialize.execute({}),
      );
      if (i % 500 === 499 || i === 2500) batch.push(serialize.sync());
    }
    batch.push(serialize.sync());
    client.send(...batch);
    const got: string[] = [];
    let readies = 0;
    while (readies < 8) {
      const messages = await client.until('readyForQuery', 30_000);
      readies++;
      for (const message of messages) {
        if (message.name === 'dataRow') got.push((message as unknown as { fields: string[] }).fields[0]!);
        if (message.name === 'error') got.push('error');
      }
    }
    const expected: string[] = [];
    // The failing Execute is the last of its batch: nothing after it is skipped.
    for (let i = 0; i < N; i++) expected.push(i === 2500 ? 'error' : md5(`${session}:${i}`));
    expect(got.length).toBe(expected.length);
    expect(got.findIndex((answer, i) => answer !== expected[i])).toBe(-1);
  } finally {
    client.end();
  }
}

describe.each(Object.entries(SETUPS))('relaying through a proxy (%s)', (_name, options) => {
  let proxy: TestProxy;
  beforeAll(async () => {
    proxy = await startProxy(options);
  });
  afterAll(() => proxy.stop());

  it('gets every byte right with many sessions at once', async () => {
    const tls = options.tls === true;
    const work: Array<Promise<void>> = [];
    for (let session = 0; session < SESSIONS; session++) {
      work.push(pgSession(proxy, tls, session), postgresJsSession(proxy, tls, session));
      if (!tls) work.push(rawSession(proxy, session));
    }
    await Promise.all(work);
  }, 240_000);
});
