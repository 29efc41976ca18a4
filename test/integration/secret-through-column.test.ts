// A secret argument that reads a column of a FROM subquery, a CTE or a VALUES list the statement writes stands for
// what that relation writes, as does the row an INSERT or UPDATE writes, read in its RETURNING or as ON CONFLICT's
// EXCLUDED: a key written there as a constant would reach the server's log (log_statement = 'all') with the
// statement, so the proxy refuses it before the server gets it. A table's column stays allowed.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshDatabase } from '../support/database.js';
import { clientOf, pgAiSuite } from '../support/pg-ai.js';
import { cluster } from '../support/proxy.js';

const suite = pgAiSuite();

function serverLog(): string {
  return readFileSync(path.join(cluster().socketDir, 'server.log'), 'utf8');
}

/** A database whose sessions log every statement, pg_llm installed, a table of keys written unlogged. */
async function loggedDatabase(tableKey: string) {
  const { name, client: direct } = await freshDatabase();
  await direct.query(`ALTER DATABASE ${name} SET log_statement = 'all'`);
  // This session started before the setting: its statements are not logged.
  await direct.query(`CREATE TABLE keys (provider text PRIMARY KEY, k text, note text); INSERT INTO keys VALUES ('openai', '${tableKey}')`);
  const admin = await clientOf(suite.proxy, name);
  await admin.query('CREATE EXTENSION pg_llm');
  return admin;
}

const config = () => JSON.stringify({ model_name: 'gpt-test', base_url: suite.fake.baseUrl, max_retries: 0 });
const addModel = (name: string, key: string) => `pg_llm_add_model(false, 'openai_compatible', '${name}', ${key}, '${config()}')`;

describe('a key passed to pg_llm_add_model through a column', () => {
  it("is refused, and stays out of the server log, when a subquery, CTE or VALUES list of the statement writes it; a table's is the key itself", async () => {
    const tableKey = `sk-table-${randomBytes(12).toString('hex')}`;
    const admin = await loggedDatabase(tableKey);
    const key = `sk-through-column-${randomBytes(12).toString('hex')}`;
    const statements = [
      `SELECT ${addModel('from_subquery', 's.key')} FROM (SELECT '${key}'::text AS key) s`,
      `SELECT * FROM (WITH k AS (SELECT '${key}' AS key) SELECT ${addModel('from_nested_cte', 'k.key')} FROM k) x`,
      `SELECT ${addModel('from_values', 'v.key')} FROM keys CROSS JOIN LATERAL (VALUES ('other'), ('${key}')) AS v(key)`,
      `SELECT ${addModel('from_union', 'u.key')} FROM (SELECT k AS key FROM keys UNION ALL SELECT '${key}') u`,
      `INSERT INTO keys (provider, k) VALUES ('inserted', '${key}') RETURNING ${addModel('from_insert_returning', 'k')}`,
      `UPDATE keys SET k = '${key}' WHERE provider = 'openai' RETURNING ${addModel('from_update_returning', 'k')}`,
      `INSERT INTO keys (provider, k) VALUES ('openai', '${key}') ON CONFLICT (provider) DO UPDATE SET note = ${addModel('from_excluded', 'excluded.k')}`,
    ];
    for (const statement of statements) {
      await expect(admin.query(statement), statement).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('reads a column that the statement itself writes out') });
    }
    expect(serverLog()).not.toContain(key);
    expect(serverLog()).not.toContain('from_subquery');
    expect(serverLog()).not.toContain('from_excluded');

    // Read through a subquery that filters with a constant, a table's column is allowed, and the call gets the key.
    await admin.query(`SELECT ${addModel('from_table', 's.k')} FROM (SELECT k FROM keys WHERE provider = 'openai') s`);
    suite.fake.script({ kind: 'answer', content: 'answered' });
    expect((await admin.query(`SELECT pg_llm_chat('from_table', 'x') AS a`)).rows).toEqual([{ a: 'answered' }]);
    expect(suite.fake.requests.at(-1)?.authorization).toBe(`Bearer ${tableKey}`);
    expect(serverLog()).not.toContain(tableKey);

    // A column RETURNING reads that the statement does not write is the table's, and the call gets the key.
    await admin.query(`UPDATE keys SET note = 'seen' WHERE provider = 'openai' RETURNING ${addModel('from_returning', 'k')}`);
    suite.fake.script({ kind: 'answer', content: 'answered' });
    await admin.query(`SELECT pg_llm_chat('from_returning', 'x')`);
    expect(suite.fake.requests.at(-1)?.authorization).toBe(`Bearer ${tableKey}`);
    expect(serverLog()).not.toContain(tableKey);
  });
});
