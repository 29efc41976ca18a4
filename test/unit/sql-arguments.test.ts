// Review F2: SQL given to pg_llm_estimate reached the server inside the statement that calls it, a key setting's
// value or a DO block's key in it as written, before the estimate refused it.

import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeNow } from '../../src/intercept/analyze.js';
import { loadParser } from '../../src/sql/parse.js';

beforeAll(() => loadParser());

const estimate = (sql: string) => `SELECT * FROM pg_llm_estimate($s$${sql}$s$)`;

describe('SQL written out for an argument declared SQL', () => {
  it('is refused with 0A000 when a statement in it sets a key setting or holds code that would hand the server a secret', () => {
    for (const sql of [
      `SET ai.openai_api_key = 'sk-abcdef'`,
      `SELECT 1 FROM (SELECT set_config('ai.openai_api_key', 'sk-abcdef', false)) s`,
      `SELECT pg_llm_chat('m', 'x') FROM (SELECT set_config('ai.' || 'team_key', 'sk-abcdef', false)) s`,
      `DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', 'sk-abcdef', '{}'); END $$`,
      `DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', k, '{}') FROM (SELECT 'sk-abcdef' AS k) s; END $$`,
      `CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1' SET ai.openai_api_key = 'sk-abcdef'`,
      `ALTER ROLE CURRENT_USER SET ai.openai_api_key = 'sk-abcdef'`,
      `SELECT * FROM pg_llm_estimate('SET ai.openai_api_key = ''sk-abcdef''')`,
      // Review F5: a key given to a secret argument through a parameter's DEFAULT, or a field of a variable.
      `CREATE FUNCTION f(k text DEFAULT 'sk-abcdef') RETURNS real[] LANGUAGE sql AS 'SELECT ai.openai_embed(''m'', ''x'', api_key => k)'`,
      `DO $$ DECLARE r alices.names; BEGIN r.n := 'sk-abcdef'; PERFORM ai.openai_embed('m', 'x', api_key => r.n); END $$`,
    ]) {
      expect(() => analyzeNow(estimate(sql)), sql).toThrowError(expect.objectContaining({ sqlstate: '0A000' }));
      expect(() => analyzeNow(`SELECT * FROM pg_llm_estimate('${sql.replaceAll("'", "''")}')`), sql).toThrowError(expect.objectContaining({ sqlstate: '0A000' }));
    }
    expect(() => analyzeNow(estimate(`SET ai.openai_api_key = 'sk-abcdef'`))).toThrowError('the sql argument of pg_llm_estimate cannot set ai.openai_api_key');
  });

  it('is refused with 0A000 when the statement computes it from string constants, which the proxy cannot read as SQL', () => {
    for (const sql of [
      `SELECT * FROM pg_llm_estimate('SET ai.openai_api_key = ''' || 'sk-abcdef' || '''')`,
      `SELECT * FROM pg_llm_estimate(format('SET ai.openai_api_key = %L', 'sk-abcdef'))`,
      `SELECT pg_llm_estimate(s.q) FROM (SELECT 'SET ai.openai_api_key = ''sk-abcdef''' AS q) s`,
      `SELECT * FROM pg_llm_estimate('SELECT generate_query(''q'', ''sk-' || 'two'')')`,
    ]) expect(() => analyzeNow(sql), sql).toThrowError(expect.objectContaining({ sqlstate: '0A000', message: 'the sql argument of pg_llm_estimate is computed from string constants written in the statement' }));
    for (const sql of [`SELECT * FROM pg_llm_estimate($1)`, `SELECT pg_llm_estimate(q) FROM queries`, `SELECT * FROM pg_llm_estimate(sql => $s$SELECT 1$s$::text)`]) {
      expect(analyzeNow(sql).plans, sql).toBeDefined();
    }
  });

  it('is left to the estimate when it only reads a key setting or sets another', () => {
    for (const sql of [
      `SELECT pg_llm_chat('m', current_setting('ai.openai_api_key', true))`,
      `SELECT pg_llm_chat('m', x) FROM (SELECT set_config('app.mode', 'on', false) AS x) s`,
      `UPDATE asks SET answer = generate_query(question, api_key => 'sk-abcdef')`,
      `DO $$ BEGIN RAISE NOTICE 'SET ai.openai_api_key in your session'; END $$`,
    ]) expect(analyzeNow(estimate(sql)).plans, sql).toBeDefined();
  });
});
