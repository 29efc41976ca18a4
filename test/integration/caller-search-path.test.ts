// The SQL the proxy runs in a caller's session resolves its functions and operators in pg_catalog, whatever the
// caller's search_path: a role that puts functions of its own named like PostgreSQL's (current_setting, set_config,
// to_regclass, now, …) or an "=" on text first in its search_path does not get the proxy to run them, with what the
// proxy hands them at the time (a call's execution number, settings, the arguments it compares).

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

/** Each hostile function records the statement it was called from, then does what PostgreSQL's own would. */
const HOSTILE = `
  CREATE TABLE public.hostile_calls (name text, query text);
  CREATE FUNCTION public.hostile_called(name text) RETURNS void LANGUAGE sql VOLATILE
    AS $$ INSERT INTO public.hostile_calls VALUES (name, pg_catalog.current_query()) $$;
  CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('current_setting'); SELECT pg_catalog.current_setting($1) $$;
  CREATE FUNCTION public.current_setting(text, boolean) RETURNS text LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('current_setting'); SELECT pg_catalog.current_setting($1, $2) $$;
  CREATE FUNCTION public.set_config(text, text, boolean) RETURNS text LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('set_config'); SELECT pg_catalog.set_config($1, $2, $3) $$;
  CREATE FUNCTION public.to_regclass(text) RETURNS regclass LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('to_regclass'); SELECT pg_catalog.to_regclass($1) $$;
  CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('now'); SELECT pg_catalog.now() $$;
  CREATE FUNCTION public.cardinality(anyarray) RETURNS integer LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('cardinality'); SELECT pg_catalog.cardinality($1) $$;
  CREATE FUNCTION public.jsonb_each(jsonb) RETURNS TABLE (key text, value jsonb) LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('jsonb_each'); SELECT * FROM pg_catalog.jsonb_each($1) $$;
  CREATE FUNCTION public.md5(text) RETURNS text LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('md5'); SELECT pg_catalog.md5($1) $$;
  -- an exact overload beats pg_catalog's VARIADIC "any" one, wherever it is on the search_path
  CREATE FUNCTION public.jsonb_build_array(text, text) RETURNS jsonb LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('jsonb_build_array'); SELECT pg_catalog.jsonb_build_array($1, $2) $$;
`;

/** An "=" the caller's own statements could resolve to: the proxy's must not. */
const HOSTILE_EQUALS = `
  CREATE FUNCTION public.hostile_texteq(text, text) RETURNS boolean LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('='); SELECT pg_catalog.texteq($1, $2) $$;
  CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_texteq);
`;

/**
 * Operators on the catalogs' columns (oid, "char", name) and a jsonb domain whose CHECK records each value it sees:
 * the proxy's catalog queries compare oids and relkinds, and casts what it stores to jsonb.
 */
const HOSTILE_CATALOG_OPERATORS_AND_TYPES = `
  CREATE FUNCTION public.hostile_oideq(oid, oid) RETURNS boolean LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('=(oid, oid)'); SELECT pg_catalog.oideq($1, $2) $$;
  CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.hostile_oideq);
  CREATE FUNCTION public.hostile_oid_regclass_eq(oid, regclass) RETURNS boolean LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('=(oid, regclass)'); SELECT pg_catalog.oideq($1, $2) $$;
  CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.hostile_oid_regclass_eq);
  CREATE FUNCTION public.hostile_chareq("char", "char") RETURNS boolean LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('=("char", "char")'); SELECT pg_catalog.chareq($1, $2) $$;
  CREATE OPERATOR public.= (LEFTARG = "char", RIGHTARG = "char", FUNCTION = public.hostile_chareq);
  CREATE FUNCTION public.hostile_nameeq(name, name) RETURNS boolean LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('=(name, name)'); SELECT pg_catalog.nameeq($1, $2) $$;
  CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.hostile_nameeq);
  CREATE FUNCTION public.hostile_jsonb_check(pg_catalog.jsonb) RETURNS boolean LANGUAGE sql VOLATILE
    AS $$ SELECT public.hostile_called('jsonb'); SELECT true $$;
  CREATE DOMAIN public.jsonb AS pg_catalog.jsonb CHECK (public.hostile_jsonb_check(VALUE));
  CREATE TABLE public.pets (id integer PRIMARY KEY, name text);
`;

const MODELS: Record<string, Record<string, unknown>> = {
  sure: { mock_response: 'SELECT 1 AS one', mock_confidence: 0.9 },
  unsure: { mock_response: 'unsure answer', mock_confidence: 0.3, fallback_instance: 'sure' },
};

describe('a caller whose search_path puts its own functions and operators before pg_catalog', () => {
  it('never has them run by the proxy, whatever LLM function it calls', async () => {
    const { name, client: direct } = await freshDatabase();
    const client = new pg.Client(connection(proxy.port, 'postgres', name));
    await client.connect();
    afterThisTest(() => client.end());
    await client.query('CREATE EXTENSION pg_llm');
    for (const [instance, config] of Object.entries(MODELS)) {
      await client.query(`SELECT pg_llm_add_model(false, 'mock', $1, NULL, $2)`, [instance, JSON.stringify(config)]);
    }
    await direct.query(HOSTILE);
    await client.query('SET search_path = public, pg_catalog');
    await client.query('SET pg_llm.trace_enabled = on');

    expect((await client.query(`SELECT pg_llm_text2sql('sure', 'one') AS answer`)).rows[0].answer).toContain('SELECT 1 AS one');
    await direct.query(HOSTILE_EQUALS);
    await client.query(`SELECT pg_llm_chat('sure', 'q')`);
    await client.query(`SELECT pg_llm_chat_json('unsure', 'q', '{"temperature": 0.5}')`);
    await client.query(`SELECT pg_llm_parallel_chat('q', ARRAY['sure', 'unsure'])`);
    const session = (await client.query(`SELECT pg_llm_create_session(4) AS id`)).rows[0].id;
    await client.query(`SELECT pg_llm_multi_turn_chat('sure', $1, 'q')`, [session]);
    await client.query(`SELECT * FROM pg_llm_get_session_messages($1)`, [session]);
    await client.query(`SELECT pg_llm_add_knowledge('a title', 'some content about cats')`);
    await client.query(`SELECT * FROM pg_llm_search_knowledge('cats')`);
    await client.query(`SELECT pg_llm_chat_json('sure', 'cats', '{"enable_rag": true}')`);
    await client.query(`SELECT * FROM pg_llm_get_audit_log()`);
    await client.query('BEGIN');
    await client.query(`SELECT pg_llm_chat('sure', 'q' || i) FROM generate_series(1, 2) AS i`);
    await client.query('COMMIT');

    const calls = await direct.query(`SELECT name, query FROM public.hostile_calls`);
    expect(calls.rows).toEqual([]);
    expect((await direct.query(`SELECT pg_catalog.count(*)::int AS n FROM _pg_llm_catalog.pg_llm_audit_log`)).rows[0].n).toBeGreaterThan(8);
  });
});

describe("a caller whose search_path has others' operators on the catalogs' columns and a type named like PostgreSQL's", () => {
  it('never has them run by the proxy, when it shows the schema, records a call or sends arguments on', async () => {
    const { name, client: direct } = await freshDatabase();
    const client = new pg.Client(connection(proxy.port, 'postgres', name));
    await client.connect();
    afterThisTest(() => client.end());
    await client.query('CREATE EXTENSION pg_llm');
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'sure', NULL, $1)`, [JSON.stringify(MODELS.sure)]);
    await direct.query(HOSTILE);
    await direct.query(HOSTILE_CATALOG_OPERATORS_AND_TYPES);
    await client.query('SET search_path = public, pg_catalog');
    await client.query('SET pg_llm.trace_enabled = on');

    const tables = JSON.parse((await client.query(`SELECT get_database_tables() AS tables`)).rows[0].tables);
    expect(tables.map((table: { table_name: string }) => table.table_name)).toContain('pets');
    const details = JSON.parse((await client.query(`SELECT get_table_details('pets') AS details`)).rows[0].details);
    expect(details.columns.map((column: { column_name: string }) => column.column_name)).toEqual(['id', 'name']);
    // The model's statement is judged by the operators PostgreSQL resolves it to: one comparing text is not refused
    // for another role's "=" on oids, one comparing oids is.
    expect((await client.query(`SELECT pg_llm_text2sql('sure', 'how many pets') AS answer`)).rows[0].answer).toContain('SELECT 1 AS one');
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'compares', NULL, $1)`, [JSON.stringify({ mock_response: "SELECT id FROM pets WHERE name = 'rex'", mock_confidence: 0.9 })]);
    expect((await client.query(`SELECT pg_llm_text2sql('compares', 'rex') AS answer`)).rows[0].answer).toContain("SELECT id FROM pets WHERE name = 'rex'");
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'compares_oids', NULL, $1)`, [JSON.stringify({ mock_response: 'SELECT id FROM pets WHERE id::oid = 7::oid', mock_confidence: 0.9 })]);
    await expect(client.query(`SELECT pg_llm_text2sql('compares_oids', 'pet 7') AS answer`)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('public.hostile_oideq() (through operator public.=)') });
    await client.query(`SELECT i, pg_llm_chat_json('sure', 'q' || i) FROM generate_series(1, 2) AS i`);

    expect((await direct.query(`SELECT name, query FROM public.hostile_calls`)).rows).toEqual([]);
  });
});
