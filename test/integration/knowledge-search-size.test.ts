// Any role may write documents of its own with INSERT or UPDATE, their metadata as big as jsonb takes, and a knowledge
// search read every chunk it found with its document's metadata, parsing that on the event loop every session shares.
// A search now reads at most 32 MiB of what it found, the server measuring it and sending none of a bigger one.

import { expect, it } from 'vitest';
import { MAX_READ_BYTES } from '../../src/catalog/measured-read.js';
import { databaseWithModel } from '../support/models.js';
import { relayedProxyAndFakeProvider } from '../support/relayed-proxy.js';

const shared = relayedProxyAndFakeProvider();

it('refuses a search whose found chunks are too big with 54000, before the server sends them', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { id } = (await client.query(`SELECT pg_llm_add_knowledge('pets.md', 'Cats sleep most of the day.') AS id`)).rows[0];
  await client.query(`UPDATE _pg_llm_catalog.pg_llm_knowledge_documents SET metadata = jsonb_build_object('pad', repeat('p', ${2 * MAX_READ_BYTES})) WHERE id = $1`, [id]);
  const before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_search_knowledge('where do cats sleep?')`)).rejects.toMatchObject({ code: '54000' });
  // Before: the metadata sent whole, then parsed.
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(MAX_READ_BYTES / 4);
  await client.query(`UPDATE _pg_llm_catalog.pg_llm_knowledge_documents SET metadata = '{"topic": "pets"}' WHERE id = $1`, [id]);
  const { rows } = await client.query(`SELECT content, metadata FROM pg_llm_search_knowledge('where do cats sleep?')`);
  expect(rows).toEqual([{ content: 'Cats sleep most of the day.', metadata: { topic: 'pets' } }]);
}, 120_000);

it("counts the documents' source names too", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { id } = (await client.query(`SELECT pg_llm_add_knowledge('pets.md', 'Cats sleep most of the day.') AS id`)).rows[0];
  await client.query(`UPDATE _pg_llm_catalog.pg_llm_knowledge_documents SET source_name = repeat('s', ${2 * MAX_READ_BYTES}) WHERE id = $1`, [id]);
  const before = shared.relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_search_knowledge('where do cats sleep?')`)).rejects.toMatchObject({ code: '54000' });
  // Before: the name sent whole, and let go only by the proxy's own bound on what it keeps.
  expect(shared.relay.bytesFromTarget - before).toBeLessThan(MAX_READ_BYTES / 4);
}, 120_000);
