// Any role may write stored vectors of its own with INSERT or UPDATE, their metadata and names as big as PostgreSQL
// takes, and pg_llm_search_vectors had the server send every vector it found with them, which the proxy parsed on the
// event loop every session shares. A search now reads at most 32 MiB of what it found (its names and metadata, and
// 1 kB for each), the server measuring it and sending none of more.

import { expect, it } from 'vitest';
import { MAX_READ_BYTES } from '../../src/catalog/measured-read.js';
import { databaseWithModel } from '../support/models.js';
import { relayedProxyAndFakeProvider } from '../support/relayed-proxy.js';

const shared = relayedProxyAndFakeProvider();

it('refuses a search whose found vectors are too big with 54000, before the server sends them', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { id } = (await client.query(`SELECT pg_llm_store_vector('docs', 'body', 1, '{1,0,0}', '{"tag": "x"}') AS id`)).rows[0];
  await client.query(`UPDATE _pg_llm_catalog.pg_llm_vectors SET metadata = jsonb_build_object('pad', repeat('p', ${2 * MAX_READ_BYTES})) WHERE id = $1`, [id]);
  const before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_search_vectors('{1,0,0}')`)).rejects.toMatchObject({
    code: '54000',
    message: expect.stringContaining('stored vectors'),
    hint: expect.stringContaining('limit_count'),
  });
  // Before: the metadata sent whole, and let go only by the proxy's own bound on what it keeps.
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(MAX_READ_BYTES / 4);
  await client.query(`UPDATE _pg_llm_catalog.pg_llm_vectors SET metadata = '{"tag": "x"}' WHERE id = $1`, [id]);
  const { rows } = await client.query(`SELECT row_id, metadata FROM pg_llm_search_vectors('{1,0,0}')`);
  expect(rows).toEqual([{ row_id: '1', metadata: { tag: 'x' } }]);
}, 120_000);

it("counts the vectors' names and their number too", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await client.query(`SELECT pg_llm_store_vector('docs', 'body', 1, '{1,0,0}')`);
  await client.query(`UPDATE _pg_llm_catalog.pg_llm_vectors SET table_name = repeat('t', ${2 * MAX_READ_BYTES})`);
  let before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_search_vectors('{1,0,0}')`)).rejects.toMatchObject({ code: '54000' });
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(MAX_READ_BYTES / 4);
  await client.query(`DELETE FROM _pg_llm_catalog.pg_llm_vectors`);
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_vectors (table_name, column_name, row_id, embedding) SELECT 'docs', 'body', n, '{1,0,0}' FROM generate_series(1, 40000) n`);
  before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_search_vectors('{1,0,0}', 40000)`)).rejects.toMatchObject({ code: '54000' });
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(64 * 1024);
  expect((await client.query(`SELECT count(*)::int AS n FROM pg_llm_search_vectors('{1,0,0}', 100)`)).rows).toEqual([{ n: 100 }]);
}, 120_000);
