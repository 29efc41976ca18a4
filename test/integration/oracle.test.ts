// The same statements through the proxy (mock model in md5 mode) and directly against PostgreSQL with a plain SQL
// function standing in for the model (md5 of the prompt): they must give the same rows, or the same error.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

const STATEMENTS = [
  `SELECT id, pg_llm_chat('m', body) AS s FROM docs ORDER BY id`,
  `SELECT id FROM docs WHERE pg_llm_chat('m', body) LIKE '%a%' ORDER BY id`,
  `SELECT id FROM docs ORDER BY pg_llm_chat('m', body) LIMIT 5`,
  `SELECT left(pg_llm_chat('m', grp), 4) AS g, count(*) FROM docs GROUP BY 1 ORDER BY 1`,
  `SELECT grp, count(*) FROM docs GROUP BY grp HAVING max(pg_llm_chat('m', body)) > '8' ORDER BY grp`,
  `WITH s AS (SELECT id, pg_llm_chat('m', body) AS h FROM docs WHERE id < 8) SELECT id, h FROM s ORDER BY h`,
  `SELECT id, CASE WHEN id % 2 = 0 THEN pg_llm_chat('m', body) ELSE 'odd' END AS c FROM docs ORDER BY id`,
  `SELECT d.id, x.h FROM docs d, LATERAL (SELECT pg_llm_chat('m', d.body || '!') AS h) x WHERE d.id <= 4 ORDER BY d.id`,
  `SELECT pg_llm_chat('m', pg_llm_chat('m', body)) AS twice FROM docs WHERE id IN (SELECT id FROM docs WHERE pg_llm_chat('m', grp) > '5') ORDER BY id`,
  `SELECT (SELECT pg_llm_chat('m', max(body)) FROM docs) AS scalar_subquery`,
  `SELECT count(DISTINCT pg_llm_chat('m', grp)) AS n FROM docs`,
  `SELECT pg_llm_chat('m', body)::int FROM docs`,
  `SELECT id, pg_llm_chat('m', 'Summarize: ' || body) AS summary FROM docs WHERE id > 3 ORDER BY id LIMIT 5`,
];

/** Run in order on both sides; after each, the tables must be the same too. */
const WRITES = [
  `UPDATE docs SET summary = pg_llm_chat('m', body) WHERE summary IS NULL AND id % 3 = 0`,
  `UPDATE docs SET summary = pg_llm_chat('m', body || '!') WHERE id < 5 RETURNING id, summary`,
  `INSERT INTO notes (doc_id, note) SELECT id, pg_llm_chat('m', grp) FROM docs WHERE id > 20 RETURNING doc_id, note`,
  `WITH changed AS (UPDATE docs SET summary = pg_llm_chat('m', 'cte ' || body) WHERE id BETWEEN 10 AND 12 RETURNING id) SELECT count(*) FROM changed`,
  `DELETE FROM notes WHERE note = pg_llm_chat('m', 'group 1') RETURNING doc_id`,
  `UPDATE docs SET id = length(pg_llm_chat('m', body))`,
  `INSERT INTO notes SELECT id, pg_llm_chat('m', body) FROM docs WHERE pg_llm_chat('m', grp) > '7' ORDER BY 1`,
];

const TABLES = [
  `CREATE TABLE docs (id int PRIMARY KEY, grp text, body text, summary text)`,
  `INSERT INTO docs SELECT g, 'group ' || (g % 3), 'document number ' || g FROM generate_series(1, 24) g`,
  `CREATE TABLE notes (doc_id int, note text NOT NULL)`,
];

/** Two databases with the same tables: one through the proxy with pg_llm, one direct with the stand-in function. */
async function setupBoth(): Promise<{ viaProxy: pg.Client; oracle: pg.Client }> {
  const { name } = await freshDatabase();
  const viaProxy = new pg.Client(connection(proxy.port, 'postgres', name));
  await viaProxy.connect();
  afterThisTest(() => viaProxy.end());
  await viaProxy.query('CREATE EXTENSION pg_llm');
  await viaProxy.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_mode": "md5"}')`);
  const { client: oracle } = await freshDatabase();
  await oracle.query(`CREATE SCHEMA oracle`);
  await oracle.query(`CREATE FUNCTION oracle.pg_llm_chat(instance_name text, prompt text) RETURNS text STRICT LANGUAGE sql AS 'SELECT md5(prompt)'`);
  await oracle.query(`SET search_path = oracle, public`);
  for (const statement of TABLES) {
    await viaProxy.query(statement);
    await oracle.query(statement);
  }
  return { viaProxy, oracle };
}

/** In the extended protocol the model's name travels as a parameter, as drivers send values. */
async function outcome(client: pg.Client, sql: string, extended: boolean): Promise<unknown> {
  try {
    const config = extended ? { text: sql.replaceAll(`'m'`, '$1'), values: ['m'], rowMode: 'array' as const } : { text: sql, rowMode: 'array' as const };
    const result = await client.query(config);
    return { rows: result.rows, count: result.rowCount };
  } catch (error) {
    return { error: (error as { code?: string }).code };
  }
}

describe('calls in any position agree with PostgreSQL running a stand-in function', () => {
  it.each([
    ['simple protocol', false],
    ['extended protocol, with a parameter', true],
  ])('every statement, %s', async (_protocol, extended) => {
    const { viaProxy, oracle } = await setupBoth();
    for (const statement of STATEMENTS) {
      expect(await outcome(viaProxy, statement, extended), statement).toEqual(await outcome(oracle, statement, extended));
    }
  });
});

describe('writes with calls leave the same tables as PostgreSQL running a stand-in function', () => {
  it.each([
    ['simple protocol', false],
    ['extended protocol, with a parameter', true],
  ])('%s', async (_protocol, extended) => {
    const { viaProxy, oracle } = await setupBoth();
    const tables = async (client: pg.Client) => ({
      docs: (await client.query('SELECT * FROM docs ORDER BY id')).rows,
      notes: (await client.query('SELECT * FROM notes ORDER BY doc_id, note')).rows,
    });
    for (const statement of WRITES) {
      expect(await outcome(viaProxy, statement, extended), statement).toEqual(await outcome(oracle, statement, extended));
      expect(await tables(viaProxy), statement).toEqual(await tables(oracle));
    }
  });
});
