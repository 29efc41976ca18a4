import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeNow } from '../../src/intercept/analyze.js';
import { loadParser } from '../../src/sql/parse.js';

beforeAll(() => loadParser());

const throughColumn = (argument: string) => ({ sqlstate: '0A000', message: expect.stringMatching(new RegExp(`^the ${argument} reads a column that the statement itself writes out`)) });
const addModel = (key: string, config: string, from: string) => `SELECT pg_llm_add_model(false, 'openai_compatible', 'm', ${key}, ${config}) ${from}`;

describe('a secret argument that reads a column of a relation the statement writes', () => {
  it("is refused when the column stands for a secret written as a string constant, however the statement defines it; not when it is a table's", () => {
    const forms = [
      addModel('s.key', 'NULL', `FROM (SELECT 'sk-a'::text AS key) s`),
      `WITH k AS (SELECT 'sk-a' AS key) ${addModel('k.key::text', 'NULL', 'FROM k')}`,
      addModel('v.key', 'NULL', `FROM (VALUES ('sk-a')) AS v(key)`),
      addModel('key', 'NULL', `FROM t JOIN LATERAL (SELECT * FROM (VALUES ('sk-a')) x(key)) l ON true`),
      `WITH RECURSIVE r(key) AS (SELECT 'sk-a' UNION ALL SELECT key FROM r) ${addModel('r.key', 'NULL', 'FROM r')}`,
      `WITH k AS (SELECT 'sk-a' AS key) INSERT INTO models SELECT ${addModel('k.key', 'NULL', 'FROM k').slice('SELECT '.length)}`,
      `${addModel('s.key', 'NULL', `FROM (SELECT 'sk-a' AS key) s`)} UNION ALL SELECT NULL`,
      `UPDATE models SET added = ${addModel('s.key', 'NULL', '').slice('SELECT '.length)} FROM (SELECT 'sk-a' AS key) s`,
      `MERGE INTO models m USING (VALUES ('sk-a')) s(key) ON false WHEN NOT MATCHED THEN INSERT VALUES (${addModel('s.key', 'NULL', '').slice('SELECT '.length)})`,
    ];
    for (const sql of forms) expect(() => analyzeNow(sql), sql).toThrowError(expect.objectContaining(throughColumn('api_key argument of pg_llm_add_model')));
    expect(() => analyzeNow(`SELECT generate_query('q', api_key => lower(k.key)) FROM unnest(ARRAY['sk-a']) k(key)`)).toThrowError(expect.objectContaining(throughColumn('api_key argument of generate_query')));
    // A table's column, directly or through a query that writes no constant into it.
    const allowed = [
      addModel('k.key', 'NULL', 'FROM keys k'),
      addModel('s.key', 'NULL', `FROM (SELECT key FROM keys WHERE provider = 'openai') s`),
      `WITH k AS (SELECT * FROM keys WHERE provider = 'openai') ${addModel('k.key', 'NULL', 'FROM k')}`,
      addModel('key', 'NULL', `FROM keys, (SELECT 'gpt-4o' AS model) m`),
    ];
    for (const sql of allowed) expect(analyzeNow(sql).secrets, sql).toEqual([]);
  });

  it("is refused when a config's or URL's column stands for credentials, and not for a config or URL without", () => {
    const refused = [
      addModel('NULL', 'c.config', `FROM (SELECT '{"api_key": "sk-b"}' AS config) c`),
      addModel('NULL', `jsonb_build_object('model_name', 'x', 'api_key', c.key)::text`, `FROM (SELECT 'sk-b' AS key) c`),
    ];
    for (const sql of refused) expect(() => analyzeNow(sql), sql).toThrowError(expect.objectContaining(throughColumn('config argument of pg_llm_add_model')));
    const url = `SELECT ai.anthropic_generate('m', '[]', base_url => u.url) FROM (VALUES ('http://svc:pw@gw.example/v1')) u(url)`;
    expect(() => analyzeNow(url)).toThrowError(expect.objectContaining(throughColumn('base_url argument of anthropic_generate')));
    const allowed = [
      addModel('NULL', 'c.config', `FROM (SELECT '{"model_name": "x"}' AS config) c`),
      addModel('NULL', `jsonb_build_object('model_name', c.name, 'api_key', $1)::text`, `FROM (SELECT 'gpt-4o' AS name) c`),
      `SELECT ai.anthropic_generate('m', '[]', base_url => u.url) FROM (VALUES ('http://gw.example/v1')) u(url)`,
    ];
    for (const sql of allowed) expect(analyzeNow(sql).secrets, sql).toEqual([]);
  });
});
