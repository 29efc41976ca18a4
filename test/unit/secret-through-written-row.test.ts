import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeNow } from '../../src/intercept/analyze.js';
import { loadParser } from '../../src/sql/parse.js';

beforeAll(() => loadParser());

const refusal = { sqlstate: '0A000', message: expect.stringMatching(/^the api_key argument of pg_llm_add_model reads a column that the statement itself writes out .*the row it inserts or updates/) };
const addModel = (key: string) => `pg_llm_add_model(false, 'openai_compatible', 'm', ${key}, NULL)`;

describe('a secret argument that reads a column of the row the statement writes', () => {
  it("is refused in RETURNING when the row inserted or updated writes the secret out as a string constant; allowed where the column is the table's", () => {
    const refused = [
      `INSERT INTO keys (provider, k) VALUES ('p', 'sk-a') RETURNING ${addModel('k')}`,
      `INSERT INTO keys AS x (provider, k) VALUES ('p', 'a'), ('q', 'sk-a') RETURNING ${addModel('x.k')}`,
      // Without a column list the proxy does not know which value is k's: any constant of the rows may be.
      `INSERT INTO keys VALUES ('p', 'sk-a') RETURNING ${addModel('k')}`,
      `INSERT INTO keys (provider, k) SELECT 'p', 'sk-a' RETURNING ${addModel('k')}`,
      `WITH w AS (SELECT 'sk-a' AS key) INSERT INTO keys (provider, k) SELECT 'p', key FROM w RETURNING ${addModel('k')}`,
      `UPDATE keys SET k = 'sk-a' WHERE provider = 'p' RETURNING ${addModel('k')}`,
      `UPDATE keys t SET (provider, k) = ('p', 'sk-a') RETURNING ${addModel('t.k')}`,
      `UPDATE keys SET k = 'sk-a' RETURNING ${addModel('new.k')}`,
      `UPDATE keys SET k = 'sk-a' RETURNING WITH (NEW AS n) ${addModel('n.k')}`,
      `INSERT INTO keys (provider, k) VALUES ('p', $1) ON CONFLICT (provider) DO UPDATE SET k = 'sk-a' RETURNING ${addModel('k')}`,
      `INSERT INTO keys DEFAULT VALUES ON CONFLICT (provider) DO UPDATE SET k = 'sk-a' RETURNING ${addModel('k')}`,
      `MERGE INTO keys t USING (SELECT 1) s ON false WHEN NOT MATCHED THEN INSERT (provider, k) VALUES ('p', 'sk-a') RETURNING ${addModel('t.k')}`,
    ];
    for (const sql of refused) expect(() => analyzeNow(sql), sql).toThrowError(expect.objectContaining(refusal));
    // Not written by the statement, the row before it (OLD, a deleted one), or read from a table.
    const allowed = [
      `INSERT INTO keys (provider, k) VALUES ('sk-looking-provider', current_setting('app.k')) RETURNING ${addModel('k')}`,
      `INSERT INTO keys (provider, k) SELECT 'p', o.k FROM other o RETURNING ${addModel('k')}`,
      `UPDATE keys SET note = 'sk-a' RETURNING ${addModel('k')}`,
      `UPDATE keys SET k = 'sk-a' RETURNING ${addModel('old.k')}`,
      `DELETE FROM keys WHERE k = 'sk-a' RETURNING ${addModel('k')}`,
    ];
    for (const sql of allowed) expect(analyzeNow(sql).secrets, sql).toEqual([]);
  });

  it("is refused in ON CONFLICT DO UPDATE when EXCLUDED's column is a string constant inserted; the target's column is the table's", () => {
    const refused = [
      `INSERT INTO keys (provider, k) VALUES ('p', 'sk-a') ON CONFLICT (provider) DO UPDATE SET note = ${addModel('excluded.k')}`,
      `INSERT INTO keys VALUES ('p', 'sk-a') ON CONFLICT (provider) DO UPDATE SET note = 'x' WHERE ${addModel('excluded.k')} IS NOT NULL`,
    ];
    for (const sql of refused) expect(() => analyzeNow(sql), sql).toThrowError(expect.objectContaining(refusal));
    const allowed = `INSERT INTO keys (provider, k) VALUES ('p', 'sk-a') ON CONFLICT (provider) DO UPDATE SET note = ${addModel('keys.k')}`;
    expect(analyzeNow(allowed).secrets).toEqual([]);
  });
});
