// Hostile SQL, as a model could write it or a caller pass it, through the five functions that take SQL: the text
// run by pg_llm_text2sql_json, pg_llm_execute_sql_with_analysis, pg_llm_generate_report and explain_query, and the
// text generate_query hands back. Each statement is refused with its SQLSTATE before it runs, and leaves no trace:
// no advisory lock, the other session alive, sequences where they were, no large object, the settings unchanged;
// where system catalogs are refused, neither are the server's own rows read a value at a time.
// The caller is a superuser, so nothing but the checks stands in the way. Ordinary analytics SQL still runs.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { pgAiSuite, shopWithModel } from '../support/pg-ai.js';
import { cluster, connection } from '../support/proxy.js';

const suite = pgAiSuite();

type Client = { query: (sql: string, values?: unknown[]) => Promise<{ rows: any[] }> };
type Use = 'text2sql' | 'analysis' | 'report' | 'explain' | 'generate';

const EVERY: Use[] = ['text2sql', 'analysis', 'report', 'explain', 'generate'];
/** Where system catalogs are refused: the model's SQL, with allow_system_tables off (the default). */
const MODEL_WRITTEN: Use[] = ['text2sql', 'generate'];
/** Where only queries pass: a write is refused as such (38003). */
const QUERIES_ONLY: Use[] = ['text2sql', 'analysis', 'report'];

interface Hostile {
  sql: string;
  code: '38001' | '38003';
  /** Part of the refusal's message. */
  says?: string;
  uses?: Use[];
}

/** `VICTIM` stands for the process id of another session of the database. */
const HOSTILE: Hostile[] = [
  // SQL hidden in strings, or relations named by a value.
  { sql: "SELECT query_to_xml('select pg_advisory_lock(4242)', true, false, '')", code: '38001', says: 'query_to_xml(), which runs SQL' },
  { sql: "SELECT query_to_xml('select pg_terminate_backend(VICTIM)', true, false, '')", code: '38001', says: 'query_to_xml()' },
  { sql: "SELECT pg_catalog.query_to_xml_and_xmlschema('select pg_advisory_lock(4242)', true, false, '')", code: '38001', says: 'query_to_xml_and_xmlschema()' },
  { sql: "SELECT query_to_xmlschema('select 1', true, false, '')", code: '38001', says: 'query_to_xmlschema()' },
  { sql: "SELECT cursor_to_xml('pg_llm_generated_result', 1, true, false, '')", code: '38001', says: 'cursor_to_xml()' },
  { sql: "SELECT * FROM ts_stat('select to_tsvector(pg_advisory_lock(4242)::text)')", code: '38001', says: 'ts_stat()' },
  { sql: "SELECT ts_rewrite('a'::tsquery, 'select ''a''::tsquery, ''b''::tsquery')", code: '38001', says: 'ts_rewrite()' },
  { sql: "SELECT table_to_xml('pg_authid', true, false, '')", code: '38001', says: 'table_to_xml()' },
  { sql: "SELECT table_to_xml('customers'::regclass, true, false, '')", code: '38001', says: 'table_to_xml()' },
  { sql: "SELECT schema_to_xml('pg_catalog', true, false, '')", code: '38001', says: 'schema_to_xml()' },
  { sql: "SELECT database_to_xml(true, false, '')", code: '38001', says: 'database_to_xml()' },
  // contrib's, STABLE: tablefunc's crosstab() and connectby(), by any name they are declared under, xml2's xpath_table().
  { sql: "SELECT * FROM crosstab('select 1::text, 1::text, pg_advisory_lock(4242)::text') AS t(row_name text, a text)", code: '38001', says: 'public.crosstab(), which runs SQL' },
  { sql: "SELECT * FROM crosstab('select 1::text, 1::text, 1::text', 'select pg_advisory_lock(4242)::text') AS t(row_name text, a text)", code: '38001', says: 'public.crosstab(), which runs SQL' },
  { sql: "SELECT * FROM crosstab2('select 1::text, 1::text, pg_advisory_lock(4242)::text')", code: '38001', says: 'public.crosstab2(), which runs SQL' },
  { sql: "SELECT * FROM pivot('select 1::text, 1::text, pg_advisory_lock(4242)::text') AS t(row_name text, a text)", code: '38001', says: 'public.pivot(), which runs SQL' },
  { sql: "SELECT * FROM connectby('(select pg_advisory_lock(4242)::text AS k, null::text AS p) AS s', 'k', 'p', '1', 0) AS t(k text, p text, level int)", code: '38001', says: 'public.connectby(), which runs SQL' },
  { sql: "SELECT * FROM xpath_table('k', 'x', '(select 1 AS k, pg_advisory_lock(4242)::text AS x) AS s', '/a', 'true') AS t(k int, a text)", code: '38001', says: 'public.xpath_table(), which runs SQL' },
  // Session-level locks, by every way of naming them.
  { sql: 'SELECT pg_advisory_lock(4242)', code: '38001', says: 'pg_catalog.pg_advisory_lock(), a volatile function' },
  { sql: 'SELECT pg_catalog.pg_advisory_lock(4242)', code: '38001', says: 'pg_advisory_lock()' },
  { sql: 'SELECT "pg_advisory_lock"(4242)', code: '38001', says: 'pg_advisory_lock()' },
  { sql: 'SELECT PG_ADVISORY_LOCK(4242)', code: '38001', says: 'pg_advisory_lock()' },
  { sql: 'SELECT U&"\\0070g_advisory_lock"(4242)', code: '38001', says: 'pg_advisory_lock()' },
  { sql: 'SELECT locked FROM pg_advisory_lock(4242) AS locked', code: '38001', says: 'pg_advisory_lock()' },
  { sql: 'SELECT pg_try_advisory_lock_shared(4242)', code: '38001', says: 'pg_try_advisory_lock_shared()' },
  { sql: 'SELECT pg_advisory_unlock_all()', code: '38001', says: 'pg_advisory_unlock_all()' },
  { sql: 'SELECT 4242::bigint === 4242::bigint', code: '38001', says: 'public.lock_eq() (through operator public.===)' },
  { sql: 'SELECT 1 FROM customers WHERE id::bigint OPERATOR(public.===) 4242', code: '38001', says: 'lock_eq()' },
  { sql: 'SELECT stable_lock()', code: '38001', says: 'public.stable_lock(), a function in plpgsql' },
  { sql: 'SELECT deep_lock()', code: '38001', says: 'pg_advisory_lock() (through function public.deep_lock)' },
  { sql: 'SELECT * FROM locking_view', code: '38001', says: 'pg_try_advisory_lock() (through view locking_view)' },
  { sql: 'SELECT lower(email) FROM customers', code: '38001', says: 'public.lower(), a function in plpgsql' },
  // Other sessions and the server.
  { sql: 'SELECT pg_terminate_backend(VICTIM)', code: '38001', says: 'pg_terminate_backend()' },
  { sql: 'SELECT pg_cancel_backend(VICTIM)', code: '38001', says: 'pg_cancel_backend()' },
  { sql: 'SELECT pg_reload_conf()', code: '38001', says: 'pg_reload_conf()' },
  { sql: "SELECT pg_read_file('/etc/passwd')", code: '38001', says: 'pg_read_file()' },
  { sql: "SELECT * FROM dblink('dbname=postgres', 'select pg_advisory_lock(4242)') AS t(locked text)", code: '38001', says: 'dblink()' },
  // Sequences.
  { sql: "SELECT nextval('counter')", code: '38001', says: 'nextval()' },
  { sql: "SELECT setval('counter', 100)", code: '38001', says: 'setval()' },
  { sql: 'SELECT * FROM next_counter', code: '38001', says: 'nextval() (through view next_counter)' },
  { sql: 'SELECT * FROM nested_view', code: '38001', says: 'nextval() (through view nested_view)' },
  { sql: 'SELECT c.bump FROM customers c', code: '38001', says: 'nextval() (through function public.bump)' },
  { sql: 'SELECT 1::counted', code: '38001', says: 'nextval() (through a cast to counted)' },
  { sql: `SELECT jsonb_populate_record(t, '{"c": 1}') AS r FROM counted_row t`, code: '38001', says: 'nextval() (through a cast to counted)' },
  // The caller's own temporary objects: pg_temp names the session's pg_temp_N, and relations and types are found there
  // before any other schema.
  { sql: 'SELECT pg_temp.temp_bump()', code: '38001', says: 'temp_bump(), a function in plpgsql' },
  { sql: 'SELECT 1::bigint OPERATOR(pg_temp.#@#) 2::bigint', code: '38001', says: 'nextval() (through operator pg_temp' },
  { sql: 'SELECT n FROM temp_next', code: '38001', says: 'nextval() (through view temp_next)' },
  { sql: 'SELECT 1::pg_temp.temp_counted', code: '38001', says: 'nextval() (through a cast to' },
  // Settings and session state.
  { sql: "SELECT set_config('search_path', 'pg_temp', false)", code: '38001', says: 'set_config()' },
  { sql: 'SELECT setseed(0.5)', code: '38001', says: 'setseed()' },
  { sql: 'SET search_path = pg_temp', code: '38003', says: 'a SET statement' },
  { sql: 'RESET ALL', code: '38003' },
  // Large objects and notifications.
  { sql: 'SELECT lo_create(4242)', code: '38001', says: 'lo_create()' },
  { sql: "SELECT lo_import('/etc/hostname')", code: '38001', says: 'lo_import()' },
  { sql: 'SELECT lo_unlink(4242)', code: '38001', says: 'lo_unlink()' },
  { sql: "SELECT lo_from_bytea(0, 'x')", code: '38001', says: 'lo_from_bytea()' },
  { sql: "SELECT pg_notify('hostile', 'x')", code: '38001', says: 'pg_notify()' },
  { sql: 'NOTIFY hostile', code: '38003' },
  { sql: 'LISTEN hostile', code: '38003' },
  // Statements of other kinds.
  { sql: 'COPY customers TO STDOUT', code: '38003' },
  { sql: "COPY (SELECT 1) TO '/tmp/hostile'", code: '38003' },
  { sql: 'DO $$BEGIN PERFORM pg_advisory_lock(4242); END$$', code: '38003' },
  { sql: 'CALL tidy()', code: '38003' },
  { sql: 'SELECT 1; SELECT pg_advisory_lock(4242)', code: '38003' },
  { sql: 'WITH d AS (DELETE FROM orders RETURNING 1) SELECT count(*) FROM d', code: '38003', uses: QUERIES_ONLY },
  { sql: "WITH i AS (INSERT INTO tickets (note) VALUES ('x') RETURNING id) SELECT * FROM i", code: '38003', uses: QUERIES_ONLY },
  // Writes whose defaults, identity columns or triggers outlast the rollback, where writes run.
  { sql: "WITH i AS (INSERT INTO tickets (note) VALUES ('x') RETURNING id) SELECT * FROM i", code: '38001', says: 'nextval() (through the default of tickets.id)', uses: ['explain'] },
  { sql: "INSERT INTO tickets (note) VALUES ('x')", code: '38001', says: 'the default of tickets.id', uses: ['explain'] },
  { sql: "INSERT INTO tickets VALUES (DEFAULT, 'x')", code: '38001', says: 'the default of tickets.id', uses: ['explain'] },
  { sql: 'UPDATE tickets SET id = DEFAULT', code: '38001', says: 'the default of tickets.id', uses: ['explain'] },
  { sql: "MERGE INTO tickets t USING (VALUES (1)) AS v(id) ON t.id = v.id WHEN NOT MATCHED THEN INSERT (note) VALUES ('x')", code: '38001', says: 'nextval()', uses: ['explain'] },
  { sql: "INSERT INTO badges (note) VALUES ('x')", code: '38001', says: 'the identity column badges.id', uses: ['explain'] },
  { sql: "INSERT INTO watched VALUES (1, 'x')", code: '38001', says: 'public.shout() (through trigger watched_shout on watched)', uses: ['explain'] },
  // System catalogs by every path, where they are not allowed.
  { sql: 'SELECT rolname, rolpassword FROM pg_authid', code: '38001', says: 'reads pg_catalog.pg_authid, a system catalog', uses: MODEL_WRITTEN },
  { sql: 'SELECT * FROM pg_catalog.pg_authid', code: '38001', says: 'pg_catalog.pg_authid', uses: MODEL_WRITTEN },
  { sql: 'SELECT * FROM "pg_authid"', code: '38001', says: 'pg_catalog.pg_authid', uses: MODEL_WRITTEN },
  { sql: 'SELECT * FROM U&"\\0070g_authid"', code: '38001', says: 'pg_catalog.pg_authid', uses: MODEL_WRITTEN },
  { sql: 'SELECT 1 FROM customers WHERE EXISTS (SELECT 1 FROM pg_shadow)', code: '38001', says: 'pg_catalog.pg_shadow', uses: MODEL_WRITTEN },
  { sql: 'SELECT * FROM role_view', code: '38001', says: 'pg_catalog.pg_authid (through view role_view)', uses: MODEL_WRITTEN },
  { sql: 'SELECT rolname FROM roles()', code: '38001', says: 'public.roles(), which returns rows of a system catalog', uses: MODEL_WRITTEN },
  { sql: 'SELECT table_name FROM information_schema.tables', code: '38001', says: 'information_schema.tables', uses: MODEL_WRITTEN },
  // Named once, schema and table: the schema is not on the path the check runs with (review O).
  { sql: 'SELECT count(*) FROM _pg_llm_catalog.pg_llm_models', code: '38001', says: 'reads _pg_llm_catalog.pg_llm_models, a system catalog', uses: MODEL_WRITTEN },
  // The server's own rows a value at a time: other sessions' queries, roles and addresses, settings, the server itself.
  { sql: 'SELECT pg_stat_get_backend_activity(s) AS query, pg_stat_get_backend_userid(s)::regrole AS who FROM pg_stat_get_backend_idset() AS s', code: '38001', says: "which reads the server's own state", uses: MODEL_WRITTEN },
  { sql: 'SELECT pg_stat_get_backend_client_addr(1), pg_stat_get_backend_wait_event(1)', code: '38001', says: 'pg_catalog.pg_stat_get_backend_', uses: MODEL_WRITTEN },
  { sql: "SELECT pg_stat_get_numscans('customers'::regclass)", code: '38001', says: 'pg_catalog.pg_stat_get_numscans()', uses: MODEL_WRITTEN },
  { sql: "SELECT current_setting('log_statement') AS log_statement", code: '38001', says: "pg_catalog.current_setting(), which reads the server's own state", uses: MODEL_WRITTEN },
  { sql: "SELECT pg_catalog.current_setting('data_directory', true)", code: '38001', says: 'pg_catalog.current_setting()', uses: MODEL_WRITTEN },
  { sql: 'SELECT inet_client_addr(), inet_server_port()', code: '38001', says: 'pg_catalog.inet_', uses: MODEL_WRITTEN },
  { sql: 'SELECT version(), pg_postmaster_start_time()', code: '38001', says: "which reads the server's own state", uses: MODEL_WRITTEN },
  { sql: 'SELECT txid_current_snapshot()', code: '38001', says: 'pg_catalog.txid_current_snapshot()', uses: MODEL_WRITTEN },
  { sql: "SELECT pg_relation_filepath('customers')", code: '38001', says: "pg_catalog.pg_relation_filepath(), which reads the server's own state", uses: MODEL_WRITTEN },
  // Review M (R2): the search_path and the session's temporary schema, whose number is its backend's slot.
  { sql: 'SELECT * FROM unnest(pg_catalog.current_schemas(true)) AS s', code: '38001', says: "pg_catalog.current_schemas(), which reads the server's own state", uses: MODEL_WRITTEN },
  { sql: "SELECT pg_relation_filenode('customers'), pg_filenode_relation(0, 1)", code: '38001', says: "which reads the server's own state", uses: MODEL_WRITTEN },
  { sql: 'SELECT * FROM pg_listening_channels()', code: '38001', says: "pg_catalog.pg_listening_channels(), which reads the server's own state", uses: MODEL_WRITTEN },
  { sql: 'SELECT * FROM activity_view', code: '38001', says: 'through view activity_view', uses: MODEL_WRITTEN },
];

/** Objects the hostile statements reach: contrib modules, views, functions, an operator, a domain, a trigger over them. */
const FIXTURES = `
  CREATE EXTENSION dblink;
  CREATE EXTENSION tablefunc;
  CREATE EXTENSION xml2;
  -- as tablefunc's documentation has its users declare the crosstab() of their own row types
  CREATE FUNCTION pivot(text) RETURNS SETOF record LANGUAGE c STABLE STRICT AS '$libdir/tablefunc', 'crosstab';
  CREATE SEQUENCE counter;
  CREATE TABLE tickets (id serial PRIMARY KEY, note text);
  CREATE TABLE badges (id integer GENERATED ALWAYS AS IDENTITY, note text);
  CREATE TABLE watched (id integer, note text);
  CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN NEW; END$$;
  CREATE TRIGGER watched_shout BEFORE INSERT ON watched FOR EACH ROW EXECUTE FUNCTION shout();
  CREATE FUNCTION stable_lock() RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN 1; END$$;
  CREATE FUNCTION sql_lock() RETURNS void LANGUAGE sql STABLE AS $$SELECT pg_advisory_lock(4242)$$;
  CREATE FUNCTION deep_lock() RETURNS void LANGUAGE sql STABLE AS $$SELECT 1; SELECT sql_lock()$$;
  CREATE FUNCTION bump(customers) RETURNS bigint LANGUAGE sql STABLE AS $$SELECT nextval('counter')$$;
  CREATE FUNCTION lock_eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$SELECT pg_try_advisory_lock($1)$$;
  CREATE OPERATOR === (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = lock_eq);
  CREATE DOMAIN counted AS bigint CHECK (VALUE < nextval('counter'));
  CREATE TABLE counted_row (c counted);
  INSERT INTO counted_row VALUES (0);
  CREATE FUNCTION lower(varchar) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN $1; END$$;
  CREATE VIEW locking_view AS SELECT pg_try_advisory_lock(4242) AS locked;
  CREATE VIEW next_counter AS SELECT nextval('counter') AS n;
  CREATE VIEW nested_view AS SELECT n FROM next_counter;
  CREATE VIEW role_view AS SELECT rolname, rolpassword FROM pg_authid;
  CREATE FUNCTION roles() RETURNS SETOF pg_authid LANGUAGE sql STABLE AS $$SELECT * FROM pg_authid$$;
  CREATE PROCEDURE tidy() LANGUAGE sql AS $$SELECT 1$$;
  CREATE VIEW activity_view AS SELECT pg_stat_get_backend_activity(s) AS query FROM pg_stat_get_backend_idset() AS s;
`;

/** Temporary objects of the caller's own session, where the statements run. */
const TEMPORARY = `
  CREATE FUNCTION pg_temp.temp_bump() RETURNS bigint LANGUAGE plpgsql STABLE AS $$BEGIN RETURN nextval('counter'); END$$;
  CREATE FUNCTION pg_temp.temp_eq(bigint, bigint) RETURNS boolean LANGUAGE sql STABLE AS $$SELECT nextval('counter') > 0$$;
  CREATE OPERATOR pg_temp.#@# (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = pg_temp.temp_eq);
  CREATE TEMPORARY VIEW temp_next AS SELECT nextval('counter') AS n;
  CREATE DOMAIN pg_temp.temp_counted AS bigint CHECK (VALUE < nextval('counter'));
`;

/** What a statement that got through could have left behind. */
async function traces(direct: Client, caller: Client) {
  const [row] = (
    await direct.query(`SELECT (SELECT count(*)::int FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                                 WHERE l.locktype = 'advisory' AND d.datname = current_database()) AS advisory_locks,
                               (SELECT last_value FROM counter) AS counter,
                               (SELECT last_value FROM tickets_id_seq) AS tickets,
                               (SELECT last_value FROM badges_id_seq) AS badges,
                               (SELECT count(*)::int FROM pg_largeobject_metadata) AS large_objects`)
  ).rows;
  const settings = (await caller.query(`SELECT current_setting('search_path') AS search_path, current_setting('transaction_read_only') AS read_only`)).rows[0];
  return { ...row, ...settings };
}

/** The shop, the fixtures, and another session of the database (the victim of pg_terminate_backend). */
async function hostileShop() {
  const database = await shopWithModel(suite);
  await database.direct.query(FIXTURES);
  await database.admin.query(TEMPORARY);
  const victim = new pg.Client(connection(cluster().port, 'trust', database.name));
  await victim.connect();
  afterThisTest(() => victim.end());
  const pid = String((await victim.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
  return { ...database, victim, pid };
}

/** Hands `sql` to the function `use`, the model answering it where the model writes the SQL. */
async function attempt(client: Client, use: Use, sql: string): Promise<unknown> {
  const answer = () => suite.fake.script({ kind: 'answer', content: JSON.stringify({ sql, explanation: 'hostile' }) });
  switch (use) {
    case 'text2sql':
      answer();
      return (await client.query(`SELECT pg_llm_text2sql_json('llm', 'a question') AS j`)).rows[0].j;
    case 'generate':
      answer();
      return (await client.query(`SELECT generate_query('a request') AS q`)).rows[0].q;
    case 'analysis':
      return (await client.query(`SELECT pg_llm_execute_sql_with_analysis('llm', $1) AS a`, [sql])).rows[0].a;
    case 'report':
      return (await client.query(`SELECT pg_llm_generate_report('llm', $1) AS r`, [sql])).rows[0].r;
    case 'explain':
      return (await client.query(`SELECT explain_query($1) AS e`, [sql])).rows[0].e;
  }
}

describe('hostile SQL', () => {
  for (const use of EVERY) {
    // A hundred statements, each a round trip through the proxy and the model: more than the default on a busy machine.
    it(`${use}: every hostile statement is refused with its SQLSTATE and leaves no trace`, async () => {
      const { admin, direct, victim, pid } = await hostileShop();
      const before = await traces(direct, admin);
      for (const hostile of HOSTILE.filter((entry) => (entry.uses ?? EVERY).includes(use))) {
        const sql = hostile.sql.replaceAll('VICTIM', pid);
        const refusal = { code: hostile.code, ...(hostile.says ? { message: expect.stringContaining(hostile.says) } : {}) };
        await expect(attempt(admin, use, sql), sql).rejects.toMatchObject(refusal);
      }
      expect(await traces(direct, admin)).toEqual(before);
      expect((await victim.query('SELECT 1 AS alive')).rows).toEqual([{ alive: 1 }]);
    }, 60_000);
  }
});

/** Analytics a model writes every day: none of it may be caught by the rules above. */
const ORDINARY = [
  'SELECT c.region, sum(o.total) AS revenue, count(*) AS orders FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region ORDER BY c.region',
  "SELECT date_trunc('month', placed_on) AS month, avg(total)::numeric(10, 2) AS average FROM orders GROUP BY 1 ORDER BY 1",
  'SELECT id, total, rank() OVER (ORDER BY total DESC) AS place, sum(total) OVER (PARTITION BY customer_id) AS per_customer FROM orders',
  "SELECT name FROM customers WHERE name LIKE 'A%' OR name ILIKE '%GRACE%' OR email ~ '^l' OR email ~* 'EXAMPLE' OR name NOT SIMILAR TO 'x%'",
  "SELECT coalesce(email, 'none') AS email, nullif(region, 'north') AS region, upper(name) || '!' AS shout FROM customers WHERE id IN (1, 2, 3)",
  "SELECT now() > '2024-01-01'::timestamptz AS later, current_date - placed_on AS age_days, extract(year FROM placed_on) AS year, placed_on + interval '1 day' AS next FROM orders",
  "SELECT random() < 2 AS always, gen_random_uuid() IS NOT NULL AS uuid, clock_timestamp() IS NOT NULL AS clock, total::int AS whole, CAST(id AS text) AS label FROM orders",
  `SELECT '{"a": {"b": 1}}'::jsonb -> 'a' ->> 'b' AS b, '{"a": 1}'::jsonb ? 'a' AS has_a, jsonb_build_object('n', count(*)) AS counted, to_jsonb(array_agg(id ORDER BY id)) AS ids FROM orders`,
  'SELECT d::date AS day, count(o.id) AS orders FROM generate_series(DATE \'2024-01-01\', DATE \'2024-03-01\', INTERVAL \'1 month\') AS d LEFT JOIN orders o ON date_trunc(\'month\', o.placed_on) = d GROUP BY 1 ORDER BY 1',
  'WITH big AS (SELECT * FROM orders WHERE total BETWEEN 50 AND 500) SELECT CASE customer_id WHEN 1 THEN \'first\' ELSE \'other\' END AS who, count(*) FROM big GROUP BY 1 HAVING count(*) > 0',
  "SELECT string_agg(DISTINCT region, ', ' ORDER BY region) AS regions, percentile_cont(0.5) WITHIN GROUP (ORDER BY total) AS median, greatest(1, 2), round(avg(total), 1) FROM orders JOIN customers USING (id)",
  "SELECT current_database() AS db, current_user AS who, lower(name) AS name, length(email) AS chars, count(*) OVER () AS customers, to_char(now(), 'YYYY') AS year FROM customers",
  'SELECT c.name, EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.total > ANY (ARRAY[100, 200])) AS big_buyer, c.id = ALL (SELECT customer_id FROM orders LIMIT 1) AS first FROM customers c',
];

describe('ordinary analytics SQL', () => {
  it('runs through text2sql, the analysis and explain_query, and generate_query hands it back', async () => {
    const { reader } = await shopWithModel(suite);
    for (const sql of ORDINARY) {
      expect(((await attempt(reader, 'text2sql', sql)) as { execution: { row_count: number } }).execution.row_count, sql).toBeGreaterThan(0);
      expect(((await attempt(reader, 'analysis', sql)) as { sql: string }).sql, sql).toBe(sql);
      expect(await attempt(reader, 'explain', sql), sql).toEqual(expect.any(String));
      expect(await attempt(reader, 'generate', sql), sql).toContain(sql);
    }
  });

  it('explain_query runs a write that gives every column with a default its value, and the sequence stays', async () => {
    const { admin, direct } = await hostileShop();
    const before = await traces(direct, admin);
    expect(await attempt(admin, 'explain', "INSERT INTO tickets (id, note) VALUES (7, 'x')")).toEqual(expect.any(String));
    expect(await attempt(admin, 'explain', "UPDATE tickets SET note = 'y'")).toEqual(expect.any(String));
    expect(await traces(direct, admin)).toEqual(before);
    expect((await direct.query('SELECT count(*)::int AS n FROM tickets')).rows).toEqual([{ n: 0 }]);
  });
});
