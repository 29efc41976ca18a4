import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeNow, mentionsFunction } from '../../src/intercept/analyze.js';
import { loadParser } from '../../src/sql/parse.js';
import { query } from '../../proxy/frontend-write.js';

beforeAll(() => loadParser());

const refused = (sql: string) => expect(() => analyzeNow(sql), sql).toThrowError(expect.objectContaining({ sqlstate: '0A000' }));

describe('code kept as text (a DO block, a function body)', () => {
  it('is refused when it names a key setting of pgai or writes out a secret argument, however nested', () => {
    for (const sql of [
      `DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', 'sk-abcdef', '{}'); END $$`,
      `DO $$ BEGIN PERFORM set_config('ai.openai_api_key', 'sk-abcdef', false); END $$`,
      `DO $$ BEGIN SET ai.team_secret = 'sk-abcdef'; END $$`,
      `DO $$ BEGIN EXECUTE format('SET %I = %L', 'ai.team_secret', 'sk-abcdef'); END $$`,
      `DO $$ BEGIN EXECUTE 'SET "AI".openai_api_key = ''sk-abcdef'''; END $$`,
      `DO $$ BEGIN EXECUTE $x$SELECT public.pg_llm_add_model(false, 'openai', 'x', 'sk-abcdef', '{}')$x$; END $$`,
      `DO $$ BEGIN EXECUTE 'SELECT ai.openai_embed(''m'', ''x'', api_key => ''sk-abcdef'')'; END $$`,
      `CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT ai.openai_embed(''m'', ''x'', api_key => ''sk-abcdef'')::text'`,
      `CREATE OR REPLACE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN PERFORM "pg_llm_add_model"(false, 'openai', 'x', 'sk-abcdef', '{}'); END $$`,
      `CREATE FUNCTION f() RETURNS void LANGUAGE plpython3u AS $$ plpy.execute("SELECT pg_llm_add_model(false, 'openai', 'x', 'sk-abcdef', '{}')") $$`,
      `DO $$ BEGIN EXECUTE format('SELECT pg_llm_add_model(false, %L, %L, %L, %L)', 'openai', 'x', 'sk-abcdef', '{}'); END $$`,
      `DO $$ BEGIN EXECUTE 'SET ai.' || 'openai_api_key = ''sk-abcdef'''; END $$`,
      `CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN SET U&"\\0061i".team_secret = 'sk-abcdef'; END $$`,
      `DO $$ BEGIN PERFORM set_config(E'\\x61i.openai_api_key', 'sk-abcdef', false); END $$`,
      `DO $$ DECLARE q text := 'SELECT pg_llm_add_model(false, ''openai'', ''x'', ''sk-abcdef'', ''{}'')'; BEGIN EXECUTE q; END $$`,
      `DO $$ BEGIN EXECUTE 'CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS ''BEGIN PERFORM set_config(''''ai.openai_api_key'''', ''''sk-abcdef'''', false); END'''; END $$`,
    ]) refused(sql);
  });

  // Review: ai.monkey, a column of a table aliased ai, counted as a key setting, and a string a DO block only prints
  // was read as a call of ai.openai_embed the proxy could not parse; SET ai.u&"openai_api_key" was named ai.u.
  it('names a key setting only where SQL names a setting, and reads as SQL only the strings it runs', () => {
    for (const sql of [
      `CREATE FUNCTION f() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM t ai WHERE ai.monkey > 0 $$`,
      `CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT ai.key FROM t ai $$`,
      `DO $$ BEGIN RAISE NOTICE 'ai.openai_embed( failed'; END $$`,
      `DO $$ BEGIN RAISE NOTICE '%', format('ai.openai_embed( failed for %s', 'm'); END $$`,
      `DO $$ BEGIN RAISE NOTICE 'SET ai.openai_api_key in your session'; END $$`,
      `DO $$ DECLARE k text := current_setting('app.key'); BEGIN EXECUTE 'SELECT pg_llm_add_model(false, ''openai'', ''x'', ' || quote_literal(k) || ', ''{}'')'; END $$`,
      `CREATE FUNCTION f() RETURNS void LANGUAGE plpython3u AS $$ plpy.notice("ai.openai_embed( failed") $$`,
    ]) expect(analyzeNow(sql).plans, sql).toBeDefined();
    const named = `DO $$ BEGIN SET ai.u&"openai_api_key" = 'sk-abcdef'; END $$`;
    expect(() => analyzeNow(named)).toThrowError(expect.objectContaining({ sqlstate: '0A000', message: 'a DO block cannot name the key setting ai.openai_api_key' }));
  });

  it('is left to the server when its calls take no secret written out and it names no key setting', () => {
    for (const sql of [
      `DO $$ BEGIN PERFORM pg_llm_chat('m', 'hello'); PERFORM ai.openai_embed('m', 'x'); END $$`,
      `DO $$ DECLARE k text := current_setting('app.key'); BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', k, '{}'); END $$`,
      `CREATE FUNCTION f() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM ai.vectorizer'`,
      `CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT current_setting('ai.openai_base_url') $$`,
      `CREATE FUNCTION f() RETURNS oid LANGUAGE sql AS $$ SELECT 'ai.vectorizer'::regclass::oid $$`,
    ]) expect(analyzeNow(sql).plans, sql).toBeDefined();
  });

  it('is read by the engine when its body mentions a function or a setting', () => {
    expect(mentionsFunction(query(`DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', 'sk-abcdef', '{}'); END $$`))).toBe(true);
    expect(mentionsFunction(query(`CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'SELECT set_config(''ai.openai_api_key'', ''k'', false)'`))).toBe(true);
    expect(mentionsFunction(query(`SELECT 'pg_llm_chat' AS name`))).toBe(false);
  });

  // Review F2: a key reached a call in code through a column its statement writes, or a variable the code assigned it.
  it('refuses a secret argument that reads a column its SQL writes out, or a variable the code gives a string constant', () => {
    for (const sql of [
      `DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', s.k, '{}') FROM (SELECT 'sk-abcdef' AS k) s; END $$`,
      `DO $$ BEGIN PERFORM ai.openai_embed('m', 'x', api_key => k) FROM (VALUES ('sk-abcdef')) v(k); END $$`,
      `CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT pg_llm_add_model(false, 'openai', 'x', s.k, '{}') FROM (SELECT 'sk-abcdef' AS k) s $$`,
      `DO $$ BEGIN EXECUTE 'SELECT pg_llm_add_model(false, ''openai'', ''x'', k, ''{}'') FROM (SELECT ''sk-abcdef'' AS k) s'; END $$`,
      `DO $$ DECLARE k text := 'sk-abcdef'; BEGIN PERFORM ai.openai_embed('m', 'x', api_key => k); END $$`,
      `DO $$ DECLARE k text; BEGIN k := 'sk-' || 'abcdef'; PERFORM pg_llm_add_model(false, 'openai', 'x', k, '{}'); END $$`,
      `DO $$ DECLARE k text; BEGIN SELECT 'sk-abcdef' INTO k; PERFORM pg_llm_add_model(false, 'openai', 'x', k, '{}'); END $$`,
      `DO $$ DECLARE r record; BEGIN FOR r IN SELECT 'sk-abcdef' AS k LOOP PERFORM pg_llm_add_model(false, 'openai', 'x', r.k, '{}'); END LOOP; END $$`,
      `DO $$ <<b>> DECLARE k text := 'sk-abcdef'; j text; BEGIN j := b.k; PERFORM pg_llm_add_model(false, 'openai', 'x', j || '', '{}'); END $$`,
      `CREATE FUNCTION f(p text) RETURNS SETOF text LANGUAGE plpgsql AS $$ DECLARE k text := 'sk-abcdef'; BEGIN RETURN QUERY SELECT ai.openai_embed('m', p, api_key => k)::text; END $$`,
      `DO $$ BEGIN PERFORM pg_llm_add_model(false, 'openai', 'x', k, '{}') garbage (; END $$`,
      `DO $$ DECLARE k text := 'sk-abcdef'; BEGIN EXECUTE 'SELECT pg_llm_add_model(false, ''openai'', ''x'', $1, ''{}'')' USING k; END $$`,
      `DO $$ BEGIN EXECUTE 'SELECT ai.openai_embed(''m'', ''x'', api_key => $1)' USING 'sk-abcdef'; END $$`,
    ]) refused(sql);
    for (const sql of [
      `CREATE FUNCTION f(p text, key text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN ai.openai_embed('m', p, api_key => key)::text; END $$`,
      `CREATE FUNCTION f(p text) RETURNS text LANGUAGE plpgsql AS $$ DECLARE k text; BEGIN SELECT t.k INTO k FROM keys t; RETURN ai.openai_embed('m', p, api_key => k)::text; END $$`,
      `CREATE FUNCTION t() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.e := ai.openai_embed('m', NEW.body, api_key => NEW.k); RETURN NEW; END $$`,
      `DO $$ DECLARE m text := 'm'; BEGIN PERFORM ai.openai_embed(m, 'x', api_key => current_setting('app.key')); END $$`,
      `DO $$ BEGIN EXECUTE 'SELECT ai.openai_embed(''m'', ''x'', api_key => $1)' USING current_setting('app.key'); END $$`,
    ]) expect(analyzeNow(sql).plans, sql).toBeDefined();
  });

  // Review F5: a key reached a secret argument through a routine's parameter's DEFAULT (kept in pg_proc for every role
  // to read), or through a field of a composite variable.
  it("refuses a secret argument that reads a parameter whose DEFAULT is a string constant, or a field of a variable given one", () => {
    const embed = `ai.openai_embed('m', 'x', api_key =>`;
    for (const sql of [
      `CREATE FUNCTION f(k text DEFAULT 'sk-abcdef') RETURNS real[] LANGUAGE plpgsql AS $$ BEGIN RETURN ${embed} k); END $$`,
      `CREATE FUNCTION f(p text, k text = 'sk-' || 'abcdef') RETURNS real[] LANGUAGE plpgsql AS $$ BEGIN RETURN ${embed} $2); END $$`,
      `CREATE FUNCTION f(k text DEFAULT 'sk-abcdef') RETURNS real[] LANGUAGE plpgsql AS $$ DECLARE j ALIAS FOR $1; BEGIN RETURN ${embed} j); END $$`,
      `CREATE FUNCTION f(k text DEFAULT 'sk-abcdef') RETURNS real[] LANGUAGE plpgsql AS $$ DECLARE j ALIAS FOR k; BEGIN RETURN ${embed} f.j); END $$`,
      `CREATE PROCEDURE p(k text DEFAULT 'sk-abcdef') LANGUAGE plpgsql AS $$ DECLARE j text; BEGIN j := p.k; PERFORM ${embed} j); END $$`,
      `CREATE FUNCTION f(k text DEFAULT 'sk-abcdef') RETURNS real[] LANGUAGE sql AS $$ SELECT ${embed} k) $$`,
      `CREATE FUNCTION f(k text DEFAULT 'sk-abcdef') RETURNS real[] LANGUAGE sql AS $$ SELECT ${embed} $1) $$`,
      `CREATE FUNCTION f(OUT e real[], k text DEFAULT 'sk-abcdef') LANGUAGE sql AS $$ SELECT ${embed} $1) $$`,
      `CREATE FUNCTION f(k text DEFAULT 'sk-abcdef') RETURNS real[] LANGUAGE sql AS $$ SELECT ${embed} f.k) $$`,
      `CREATE FUNCTION f(k text DEFAULT 'sk-abcdef') RETURNS real[] LANGUAGE sql BEGIN ATOMIC SELECT ${embed} k); END`,
      `CREATE FUNCTION f(k text DEFAULT 'sk-abcdef') RETURNS real[] LANGUAGE sql RETURN ${embed} $1)`,
      `DO $$ DECLARE r alices.names; BEGIN r.n := 'sk-abcdef'; PERFORM ${embed} r.n); END $$`,
      `DO $$ DECLARE r record; s record; BEGIN r := row('x'); r.f1 := 'sk-abcdef'; s := r; PERFORM ${embed} (s).f1); END $$`,
    ]) refused(sql);
    for (const sql of [
      `CREATE FUNCTION f(k text DEFAULT current_setting('app.key')) RETURNS real[] LANGUAGE plpgsql AS $$ BEGIN RETURN ${embed} k); END $$`,
      `CREATE FUNCTION f(m text DEFAULT 'm', k text DEFAULT NULL) RETURNS real[] LANGUAGE sql AS $$ SELECT ai.openai_embed(m, 'x', api_key => k) $$`,
      `CREATE FUNCTION f(m text DEFAULT 'm', k text DEFAULT NULL) RETURNS real[] LANGUAGE sql BEGIN ATOMIC SELECT ai.openai_embed(m, 'x', api_key => k); END`,
      `CREATE FUNCTION f(m text DEFAULT 'm', k text DEFAULT NULL) RETURNS real[] LANGUAGE plpgsql AS $$ DECLARE j ALIAS FOR $2; BEGIN RETURN ai.openai_embed(m, 'x', api_key => j); END $$`,
      `DO $$ DECLARE r alices.names; BEGIN r.n := 'm'; SELECT t.k INTO r.k FROM keys t; PERFORM ai.openai_embed(r.n, 'x', api_key => current_setting('app.key')); END $$`,
      `CREATE FUNCTION t() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.status := 'done'; NEW.e := ai.openai_embed('m', NEW.body, api_key => NEW.k); RETURN NEW; END $$`,
    ]) expect(analyzeNow(sql).plans, sql).toBeDefined();
  });
});
