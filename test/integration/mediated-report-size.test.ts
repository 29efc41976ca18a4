// While the proxy runs a statement itself, every message the server sends goes to whoever asked for it, the engine
// or the client, as a whole frame: the server's messages cannot go to the client as they come, between the proxy's
// own. Any role can make the server send an ErrorResponse or a NoticeResponse as big as it likes (a value of a
// gigabyte cast to int, a RAISE of a long text); the session used to hold each whole as it was read, and the engine
// then decoded an error's every field at once and wrote it again for the client: a 128 MB error in a call's
// argument took three times its size of the proxy's memory and held up every session while it was decoded. Now the
// session keeps of such a message the first 256 kB of each field, 1 MB in all, as it comes.

import { expect, it } from 'vitest';
import { heldLive, peakGrowth } from '../support/held-memory.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();
const MESSAGE_BYTES = 128 * 1024 * 1024;

it("cuts a huge error in a call's arguments as it comes, and the session goes on", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  let error: { code?: string; message: string } | undefined;
  heldLive();
  const growth = await peakGrowth(async () => {
    await client.query(`SELECT pg_llm_chat('llm', repeat('e', ${MESSAGE_BYTES})::int::text)`).catch((caught: { code?: string; message: string }) => (error = caught));
  }, 50);
  // Before: the whole message as read, its fields decoded, and the error written again for the client.
  expect(growth).toBeLessThan(MESSAGE_BYTES / 4);
  expect(error?.code).toBe('22P02');
  expect(error?.message).toMatch(/^invalid input syntax for type integer: "eeee/);
  expect(error!.message.length).toBeLessThanOrEqual(256 * 1024);
  expect(shared.fake.requests).toHaveLength(0);
  expect((await client.query(`SELECT pg_llm_chat('llm', 'hi') AS a`)).rows).toEqual([{ a: 'default answer' }]);
}, 180_000);

it("cuts a huge notice raised by a call's arguments as it comes", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await client.query(`CREATE FUNCTION noisy() RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE '%', repeat('n', ${MESSAGE_BYTES}); RETURN 'same'; END $$`);
  let rows: unknown;
  heldLive();
  const growth = await peakGrowth(async () => {
    rows = (await client.query(`SELECT pg_llm_chat('llm', noisy()) AS a`)).rows;
  }, 50);
  expect(rows).toEqual([{ a: 'default answer' }]);
  // Before: the whole message as read.
  expect(growth).toBeLessThan(MESSAGE_BYTES / 4);
}, 180_000);
