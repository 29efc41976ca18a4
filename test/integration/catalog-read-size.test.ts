// The proxy reads the catalog with requests of its own, and any role may write rows of its own of any size into the
// catalog's tables: such a read held its rows whole, then parsed them on the event loop every session shares. A
// result the proxy reads for itself now keeps at most 32 MiB of rows; a bigger one fails the call with 54000, its
// rows let go as they come, and the session goes on.

import { expect, it } from 'vitest';
import { KEPT_ROW_OVERHEAD, KEPT_VALUE_OVERHEAD, MAX_KEPT_ROW_BYTES } from '../../src/intercept/upstream-requests.js';
import { heldLive, peakGrowth } from '../support/held-memory.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();

it('refuses a read of the catalog whose rows are too big with 54000, without holding them, and the session goes on', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  // An earlier question of text-to-SQL, which the server does not measure before it sends it.
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_queries (question, sql) VALUES (repeat('q', ${2 * MAX_KEPT_ROW_BYTES}), 'SELECT 1')`);
  let error: { code?: string } | undefined;
  heldLive();
  const growth = await peakGrowth(async () => {
    await client.query(`SELECT pg_llm_text2sql('llm', 'how many orders are there')`).catch((caught: { code?: string }) => (error = caught));
  }, 50);
  // Before: the row read whole, then written into the prompt.
  expect(growth).toBeLessThan(MAX_KEPT_ROW_BYTES);
  expect(error).toMatchObject({ code: '54000' });
  expect(shared.fake.requests).toHaveLength(0);
  await client.query(`DELETE FROM _pg_llm_catalog.pg_llm_queries`);
  shared.fake.script({ kind: 'answer', content: 'SELECT 1' });
  expect((await client.query(`SELECT pg_llm_text2sql('llm', 'how many orders are there') AS sql`)).rows).toEqual([{ sql: 'SELECT 1' }]);
}, 120_000);

it('refuses a read of the catalog of too many small rows with 54000, as one of too big a row', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  // Each row is a few ids, far below the bound in bytes; together they cost the proxy about 2.5 kB each to hold.
  const sessions = Math.ceil(MAX_KEPT_ROW_BYTES / KEPT_ROW_OVERHEAD) + 1000;
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_sessions (session_id) SELECT 's' || i FROM pg_catalog.generate_series(1, ${sessions}) AS i`);
  await expect(client.query('SELECT pg_catalog.count(*) FROM pg_llm_get_sessions()')).rejects.toMatchObject({ code: '54000' });
  await client.query(`DELETE FROM _pg_llm_catalog.pg_llm_sessions WHERE session_id NOT IN ('s1', 's2')`);
  expect((await client.query('SELECT session_id FROM pg_llm_get_sessions() ORDER BY 1')).rows).toEqual([{ session_id: 's1' }, { session_id: 's2' }]);
}, 120_000);

// Review H: 3,500 rows of 1,600 columns, within the bound in bytes, were read whole: 5.6 million values held every
// session for seconds before the result was refused.
it('refuses a result of too many values with 54000 as its rows come, not once it has them all', async () => {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  const wide = `SELECT ${Array.from({ length: 1600 }, (_, i) => `1 AS c${i}`).join(', ')} FROM generate_series(1, 3500)`;
  const options = JSON.stringify({ max_rows: 10_000, max_result_bytes: 64 * 1024 ** 2 });
  await expect(client.query(`SELECT pg_llm_execute_sql_with_analysis('llm', $1, $2)`, [wide, options])).rejects.toMatchObject({
    code: '54000',
    message: expect.stringContaining(`${KEPT_VALUE_OVERHEAD} for each value`),
  });
  expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
}, 120_000);
