// Any role may write its sessions' state with UPDATE, as big as jsonb takes, and pg_llm_get_session had the server send
// it whole to the proxy, which parsed it on the event loop every session shares. The server now measures the session
// as JSON text and sends none of one over 32 MiB: the call fails with 54000.

import { expect, it } from 'vitest';
import { MAX_READ_BYTES } from '../../src/catalog/measured-read.js';
import { databaseWithModel } from '../support/models.js';
import { relayedProxyAndFakeProvider } from '../support/relayed-proxy.js';

const shared = relayedProxyAndFakeProvider();

it("refuses a session whose state is too big with 54000, before the server sends it, and reads it once it is smaller", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { id } = (await client.query(`SELECT pg_llm_create_session() AS id`)).rows[0];
  await client.query(`UPDATE _pg_llm_catalog.pg_llm_sessions SET state = jsonb_build_object('pad', repeat('p', ${2 * MAX_READ_BYTES})) WHERE session_id = $1`, [id]);
  const before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT pg_llm_get_session($1)`, [id])).rejects.toMatchObject({
    code: '54000',
    message: expect.stringContaining(`session ${id}`),
    hint: expect.stringContaining('pg_llm_update_session_state'),
  });
  // Before: the state sent whole, and let go only by the proxy's own bound on what it keeps.
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(MAX_READ_BYTES / 4);
  await client.query(`SELECT pg_llm_update_session_state($1, '{"step": 2}')`, [id]);
  const [row] = (await client.query(`SELECT pg_llm_get_session($1) AS s`, [id])).rows;
  expect(row.s).toMatchObject({ session_id: id, state: { step: 2 }, message_count: 0 });
}, 120_000);
