// Any role may insert messages of its own, of any size and number, into its sessions, and a turn of a session read its
// whole history and wrote it into one request on the event loop every session shares: a 200 MB message held every
// other session's SELECT 1 up for eighteen seconds. A turn now reads at most 32 MiB of history (counting 1 kB for each
// message), the server sending none of a bigger one.

import { expect, it } from 'vitest';
import { MAX_READ_BYTES } from '../../src/catalog/measured-read.js';
import { heldLive, peakGrowth } from '../support/held-memory.js';
import { databaseWithModel } from '../support/models.js';
import { relayedProxyAndFakeProvider } from '../support/relayed-proxy.js';

const shared = relayedProxyAndFakeProvider();

it("refuses a turn whose session's history is too big with 54000, before the server sends it", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { id } = (await client.query(`SELECT pg_llm_create_session() AS id`)).rows[0];
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_session_messages (session_id, role, content) VALUES ($1, 'user', repeat('m', ${2 * MAX_READ_BYTES}))`, [id]);
  let error: { code?: string } | undefined;
  heldLive();
  const growth = await peakGrowth(async () => {
    await client.query(`SELECT pg_llm_multi_turn_chat('llm', $1, 'hi')`, [id]).catch((caught: { code?: string }) => (error = caught));
  }, 50);
  // Before: the history read whole, and written into the request to the model.
  expect(growth).toBeLessThan(MAX_READ_BYTES);
  expect(error).toMatchObject({ code: '54000' });
  expect(shared.fake.requests).toHaveLength(0);
}, 120_000);

it('counts many small messages too, sending one row of a history too big, and sends a history within the bound as ever', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { id } = (await client.query(`SELECT pg_llm_create_session(100000) AS id`)).rows[0];
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_session_messages (session_id, role, content) SELECT $1, 'user', 'm' FROM generate_series(1, 40000)`, [id]);
  const before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT pg_llm_multi_turn_chat('llm', $1, 'hi')`, [id])).rejects.toMatchObject({ code: '54000' });
  // Before: each of the 40,000 rows sent, its text left out (over a megabyte).
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(64 * 1024);
  await client.query(`SELECT pg_llm_set_max_messages($1, 3)`, [id]);
  expect((await client.query(`SELECT pg_llm_multi_turn_chat('llm', $1, 'hi') AS a`, [id])).rows).toEqual([{ a: 'default answer' }]);
  expect(shared.fake.requests).toHaveLength(1);
}, 120_000);
