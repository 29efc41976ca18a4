// Any role may insert messages of its own, of any size and number, into its sessions, and pg_llm_get_session_messages
// had the server send them all to the proxy, which let a result of over 32 MiB go only as it read it. The server now
// measures the messages (their text and 1 kB for each) and sends none of more than 32 MiB: the call fails with 54000.

import { expect, it } from 'vitest';
import { MAX_READ_BYTES } from '../../src/catalog/measured-read.js';
import { databaseWithModel } from '../support/models.js';
import { relayedProxyAndFakeProvider } from '../support/relayed-proxy.js';

const shared = relayedProxyAndFakeProvider();

it("refuses a session's messages too big with 54000, before the server sends them", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { id } = (await client.query(`SELECT pg_llm_create_session() AS id`)).rows[0];
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_session_messages (session_id, role, content) VALUES ($1, 'user', repeat('m', ${2 * MAX_READ_BYTES}))`, [id]);
  const before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_get_session_messages($1)`, [id])).rejects.toMatchObject({
    code: '54000',
    message: expect.stringContaining(`the messages of session ${id}`),
    hint: expect.stringContaining('_pg_llm_catalog.pg_llm_session_messages'),
  });
  // Before: the message sent whole, and let go only by the proxy's own bound on what it keeps.
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(MAX_READ_BYTES / 4);
  // As the hint says, a SELECT of the caller's own reads them, passed through as they come.
  const direct = await client.query(`SELECT octet_length(content) AS bytes FROM _pg_llm_catalog.pg_llm_session_messages WHERE session_id = $1`, [id]);
  expect(direct.rows).toEqual([{ bytes: 2 * MAX_READ_BYTES }]);
}, 120_000);

it('counts many small messages too, and sends messages within the bound as ever', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { id } = (await client.query(`SELECT pg_llm_create_session() AS id`)).rows[0];
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_session_messages (session_id, role, content) SELECT $1, 'user', 'm' FROM generate_series(1, 40000)`, [id]);
  const before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_get_session_messages($1)`, [id])).rejects.toMatchObject({ code: '54000' });
  // Before: all 40,000 rows sent.
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(64 * 1024);
  await client.query(`DELETE FROM _pg_llm_catalog.pg_llm_session_messages WHERE session_id = $1 AND id > (SELECT min(id) + 1 FROM _pg_llm_catalog.pg_llm_session_messages WHERE session_id = $1)`, [id]);
  const { rows } = await client.query(`SELECT role, content FROM pg_llm_get_session_messages($1)`, [id]);
  expect(rows).toEqual([{ role: 'user', content: 'm' }, { role: 'user', content: 'm' }]);
}, 120_000);
