// The rows of a statement the proxy runs itself in passes (a call in WHERE, say) are the server's answer to its
// final pass, relayed to the client, and so are those of a later Execute of its portal suspended by a row limit. A
// row may take a gigabyte; the session used to hold each whole as it was read, and copy it for the client, where the
// same statement without a call streams through holding nothing. A COPY TO STDOUT's rows alike.

import { expect, it } from 'vitest';
import { discardingSession } from '../support/discarding-session.js';
import { heldLive, peakGrowth } from '../support/held-memory.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { copy } from '../support/pg-copy.js';
import { serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const ROW_BYTES = 128 * 1024 * 1024;

it("relays a final pass's big row as it comes, and the session goes on", async () => {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { socket, untilReady } = await discardingSession(shared.proxy.port, name);
  heldLive();
  let relayed = 0;
  const growth = await peakGrowth(async () => {
    const answered = untilReady();
    socket.write(serialize.query(`SELECT repeat('x', ${ROW_BYTES}) AS big FROM generate_series(1, 1) g WHERE pg_llm_chat('llm', 'a') IS NOT NULL`));
    relayed = await answered;
  }, 50);
  expect(relayed).toBeGreaterThan(ROW_BYTES);
  // Before: the whole row as read.
  expect(growth).toBeLessThan(ROW_BYTES / 4);
  expect(shared.fake.requests).toHaveLength(1);
  const answered = untilReady();
  socket.write(serialize.query('SELECT 1'));
  expect(await answered).toBeGreaterThan(0);
  socket.end(serialize.end());
}, 180_000);

it("relays a suspended final pass's next big row as it comes", async () => {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { socket, untilReady } = await discardingSession(shared.proxy.port, name);
  let answered = untilReady();
  socket.write(serialize.query('BEGIN'));
  await answered;
  answered = untilReady();
  const sql = `SELECT repeat('x', ${ROW_BYTES} * g) AS big FROM generate_series(0, 1) g WHERE pg_llm_chat('llm', 'a') IS NOT NULL`;
  socket.write(Buffer.concat([serialize.parse({ text: sql, types: [] }), serialize.bind({}), serialize.execute({ rows: 1 }), serialize.sync()]));
  expect(await answered).toBeLessThan(1024);
  heldLive();
  let relayed = 0;
  const growth = await peakGrowth(async () => {
    answered = untilReady();
    socket.write(Buffer.concat([serialize.execute({ rows: 1 }), serialize.sync()]));
    relayed = await answered;
  }, 50);
  expect(relayed).toBeGreaterThan(ROW_BYTES);
  // Before: the whole row as read.
  expect(growth).toBeLessThan(ROW_BYTES / 4);
  answered = untilReady();
  socket.write(serialize.query('COMMIT'));
  expect(await answered).toBeGreaterThan(0);
  socket.end(serialize.end());
}, 180_000);

it("relays a final pass's big COPY row as it comes", async () => {
  const { name } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { socket, untilReady } = await discardingSession(shared.proxy.port, name);
  heldLive();
  let relayed = 0;
  const growth = await peakGrowth(async () => {
    const answered = untilReady();
    socket.write(serialize.query(`COPY (SELECT repeat('x', ${ROW_BYTES}) AS big WHERE pg_llm_chat('llm', 'a') IS NOT NULL) TO STDOUT`));
    relayed = await answered;
  }, 50);
  expect(relayed).toBeGreaterThan(ROW_BYTES);
  // Before: the whole CopyData as read.
  expect(growth).toBeLessThan(ROW_BYTES / 4);
  socket.end(serialize.end());
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
