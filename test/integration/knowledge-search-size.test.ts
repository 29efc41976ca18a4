// Any role may write documents of its own with INSERT or UPDATE, their metadata as big as jsonb takes, and a knowledge
// search read every chunk it found with its document's metadata, parsing that on the event loop every session shares.
// A search now reads at most 32 MiB of what it found, the server measuring it and sending none of a bigger one.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_READ_BYTES } from '../../src/catalog/measured-read.js';
import { startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { databaseWithModel } from '../support/models.js';
import { cluster, startProxy, type TestProxy } from '../support/proxy.js';
import { TcpRelay } from '../support/tcp-relay.js';

let relay: TcpRelay;
const shared = {} as { proxy: TestProxy; fake: FakeProvider };
beforeAll(async () => {
  relay = await TcpRelay.start(cluster().port);
  shared.proxy = await startProxy({ upstream: { port: relay.port } });
  shared.fake = await startFakeProvider();
});
afterAll(async () => {
  await shared.proxy.stop();
  await shared.fake.close();
  await relay.stop();
});

it('refuses a search whose found chunks are too big with 54000, before the server sends them', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const { id } = (await client.query(`SELECT pg_llm_add_knowledge('pets.md', 'Cats sleep most of the day.') AS id`)).rows[0];
  await client.query(`UPDATE _pg_llm_catalog.pg_llm_knowledge_documents SET metadata = jsonb_build_object('pad', repeat('p', ${2 * MAX_READ_BYTES})) WHERE id = $1`, [id]);
  const before = relay.bytesFromTarget;
  await expect(client.query(`SELECT * FROM pg_llm_search_knowledge('where do cats sleep?')`)).rejects.toMatchObject({ code: '54000' });
  // Before: the metadata sent whole, then parsed.
  expect(relay.bytesFromTarget - before).toBeLessThan(MAX_READ_BYTES / 4);
  await client.query(`UPDATE _pg_llm_catalog.pg_llm_knowledge_documents SET metadata = '{"topic": "pets"}' WHERE id = $1`, [id]);
  const { rows } = await client.query(`SELECT content, metadata FROM pg_llm_search_knowledge('where do cats sleep?')`);
  expect(rows).toEqual([{ content: 'Cats sleep most of the day.', metadata: { topic: 'pets' } }]);
}, 120_000);
