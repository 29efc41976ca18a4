// The rows of a statement the proxy runs itself in passes (a call in WHERE, say) are the server's answer to its
// final pass, relayed to the client, and so are those of a later Execute of its portal suspended by a row limit. A
// row may take a gigabyte; the session used to hold each whole as it was read, and copy it for the client, where the
// same statement without a call streams through holding nothing. A COPY TO STDOUT's rows alike.

import { expect, it } from 'vitest';
import { discardingSession, type DiscardingSession } from '../support/discarding-session.js';
import { heldLive, peakGrowth } from '../support/held-memory.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { copy } from '../support/pg-copy.js';
import { serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const ROW_BYTES = 128 * 1024 * 1024;

/** What the proxy held at most while the session answered `messages`, and the bytes the client got of the answer. */
async function heldWhileAnswered(session: DiscardingSession, ...messages: Buffer[]): Promise<{ growth: number; relayed: number }> {
  heldLive();
  let relayed = 0;
  const growth = await peakGrowth(async () => {
    const answered = session.untilReady();
    session.socket.write(Buffer.concat(messages));
    relayed = await answered;
  }, 50);
  return { growth, relayed };
}

it("relays a final pass's big row as it comes, and the session goes on", async () => {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const session = await discardingSession(shared.proxy.port, name);
  const { growth, relayed } = await heldWhileAnswered(session, serialize.query(`SELECT repeat('x', ${ROW_BYTES}) AS big FROM generate_series(1, 1) g WHERE pg_llm_chat('llm', 'a') IS NOT NULL`));
  expect(relayed).toBeGreaterThan(ROW_BYTES);
  // Before: the whole row as read.
  expect(growth).toBeLessThan(ROW_BYTES / 4);
  expect(shared.fake.requests).toHaveLength(1);
  expect((await heldWhileAnswered(session, serialize.query('SELECT 1'))).relayed).toBeGreaterThan(0);
  session.socket.end(serialize.end());
}, 180_000);

it("relays a suspended final pass's next big row as it comes", async () => {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const session = await discardingSession(shared.proxy.port, name);
  await heldWhileAnswered(session, serialize.query('BEGIN'));
  const sql = `SELECT repeat('x', ${ROW_BYTES} * g) AS big FROM generate_series(0, 1) g WHERE pg_llm_chat('llm', 'a') IS NOT NULL`;
  const first = await heldWhileAnswered(session, serialize.parse({ text: sql, types: [] }), serialize.bind({}), serialize.execute({ rows: 1 }), serialize.sync());
  expect(first.relayed).toBeLessThan(1024);
  const { growth, relayed } = await heldWhileAnswered(session, serialize.execute({ rows: 1 }), serialize.sync());
  expect(relayed).toBeGreaterThan(ROW_BYTES);
  // Before: the whole row as read.
  expect(growth).toBeLessThan(ROW_BYTES / 4);
  expect((await heldWhileAnswered(session, serialize.query('COMMIT'))).relayed).toBeGreaterThan(0);
  session.socket.end(serialize.end());
}, 180_000);

it("relays a final pass's big COPY row as it comes", async () => {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const session = await discardingSession(shared.proxy.port, name);
  const { growth, relayed } = await heldWhileAnswered(session, serialize.query(`COPY (SELECT repeat('x', ${ROW_BYTES}) AS big WHERE pg_llm_chat('llm', 'a') IS NOT NULL) TO STDOUT`));
  expect(relayed).toBeGreaterThan(ROW_BYTES);
  // Before: the whole CopyData as read.
  expect(growth).toBeLessThan(ROW_BYTES / 4);
  session.socket.end(serialize.end());
}, 180_000);

it("relays a final pass's rows whole and in order, in either protocol", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const sql = `SELECT g, repeat(g::text, 300000 * g) AS pad, pg_llm_chat('llm', 'a') AS a FROM generate_series(1, 3) g WHERE pg_llm_chat('llm', 'b') IS NOT NULL`;
  const expected = [1, 2, 3].map((g) => ({ g, pad: String(g).repeat(300000 * g), a: 'default answer' }));
  expect((await client.query(sql)).rows).toEqual(expected);
  expect((await client.query({ text: sql, values: [] })).rows).toEqual(expected);
  const copied = await copy(client, `COPY (${sql}) TO STDOUT`);
  expect(copied).toBe(expected.map(({ g, pad, a }) => `${g}\t${pad}\t${a}\n`).join(''));
}, 60_000);
