// Any role may write a model row of its own with INSERT, its config as big as jsonb takes (a few hundred MB), and
// every call of that model read the row whole and parsed its config on the event loop every session shares: one
// call of a model with a 200 MB config held every other session's SELECT 1 up for six seconds. A call now reads a
// config of at most 1 MiB (as JSON text), and the server does not even send a bigger one; nor does a catalog upgrade
// read such a row, which it once read with every other model's.

import { expect, it } from 'vitest';
import { heldLive, peakGrowth } from '../support/held-memory.js';
import { API_KEY, databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { roles } from '../support/roles.js';

const shared = proxyAndFakeProvider();
const CONFIG_BYTES = 64 * 1024 * 1024;

it("refuses a call of a model whose config is too big with 54000, before the server sends the config", async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const [hoarder] = await roles('hoarder');
  await client.query(`SET ROLE ${hoarder}`);
  await client.query(
    `INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, local_model, config)
     VALUES ('huge', 'openai', false, jsonb_build_object('model_name', 'gpt-test', 'base_url', $1::text, 'pad', repeat('p', ${CONFIG_BYTES})))`,
    [shared.fake.baseUrl],
  );
  let error: { code?: string; message: string } | undefined;
  heldLive();
  const growth = await peakGrowth(async () => {
    await client.query(`SELECT pg_llm_chat('huge', 'hi')`).catch((caught: { code?: string; message: string }) => (error = caught));
  }, 50);
  // Before: the call read the config whole, parsed it on the event loop, and went on to ask the model.
  expect(growth).toBeLessThan(CONFIG_BYTES / 4);
  expect(error).toMatchObject({ code: '54000', message: expect.stringContaining('model instance "huge"') });
  expect(shared.fake.requests).toHaveLength(0);
  await client.query('RESET ROLE');
  expect((await client.query(`SELECT pg_llm_chat('llm', 'hi') AS a`)).rows).toEqual([{ a: 'default answer' }]);
}, 120_000);

it('refuses to register a model whose config is too big to be read', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const config = JSON.stringify({ model_name: 'gpt-test', base_url: shared.fake.baseUrl, pad: 'p'.repeat(2 * 1024 * 1024) });
  await expect(client.query(`SELECT pg_llm_add_model(false, 'openai', 'big', $1, $2)`, [API_KEY, config])).rejects.toMatchObject({ code: '54000' });
}, 60_000);

it('leaves a model row too big to read as it is when the catalog is upgraded through the proxy, and names it', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const [hoarder] = await roles('hoarder');
  await client.query(`SET ROLE ${hoarder}`);
  await client.query(
    `INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, local_model, config, encrypted_api_key)
     VALUES ('huge', 'openai', false, jsonb_build_object('model_name', 'gpt-test', 'pad', repeat('p', ${CONFIG_BYTES})), decode(repeat('02', 65), 'hex'))`,
  );
  await client.query('RESET ROLE');
  const notices: Array<{ severity?: string; message?: string }> = [];
  client.on('notice', (notice) => notices.push(notice));
  // Before, the upgrade read every model row in one result, and this one made it fail with 54000.
  await client.query('ALTER EXTENSION pg_llm UPDATE');
  expect(notices).toEqual([
    expect.objectContaining({
      severity: 'WARNING',
      message: expect.stringContaining('"huge" (its config or a sealed secret is larger than the proxy reads (1048576 bytes as JSON text): calls refuse it)'),
    }),
  ]);
  const { rows } = await client.query(`SELECT octet_length(config::text) > ${CONFIG_BYTES} AS kept FROM _pg_llm_catalog.pg_llm_models WHERE instance_name = 'huge'`);
  expect(rows).toEqual([{ kept: true }]);
  expect((await client.query(`SELECT pg_llm_chat('llm', 'hi') AS a`)).rows).toEqual([{ a: 'default answer' }]);
}, 120_000);
