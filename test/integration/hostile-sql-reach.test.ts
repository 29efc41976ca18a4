// Hostile SQL that reaches code without naming it: a domain's CHECK through a column definition list, a composite's
// field, a written column or a value built of a read relation's row or column types; an implicit cast, or one from a
// relation's row type; a function's default argument; a row-level security policy; an
// operator's negator or commutator, which the planner puts in its place; the <> a recursive query's CYCLE clause
// compares with; a range type's subtype_diff, in the planner's estimates; a domain's default; what the planner folds
// of a child's CHECK, an index, extended statistics or partition key expression on a read; what a write fires in other relations
// (constraints, indexes, partitions, children, foreign-key cascades); system views read through the functions they
// are built on; and foreign tables, whose wrapper reads another server, a file or a program. Each is refused (38001)
// before it runs and leaves no trace, while the same shapes over harmless objects still run.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ROLES } from '../support/cluster.js';
import { afterThisTest } from '../support/database.js';
import { pgAiSuite, shopWithModel } from '../support/pg-ai.js';
import { cluster, connection } from '../support/proxy.js';

const suite = pgAiSuite();

type Client = { query: (sql: string, values?: unknown[]) => Promise<{ rows: any[] }> };
type Use = 'text2sql' | 'explain';

/** Every plpgsql function here takes a session-level advisory lock, which outlasts any rollback. */
const FIXTURES = `
  CREATE FUNCTION lock_ok(bigint) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN true; END$$;
  CREATE DOMAIN counted AS bigint CHECK (lock_ok(VALUE));
  CREATE DOMAIN counted_again AS counted;
  CREATE DOMAIN counted_twice AS counted_again;
  CREATE TYPE holder AS (c counted);
  CREATE TYPE holder_of_holders AS (h holder[]);
  CREATE FUNCTION takes_counted(counted) RETURNS bigint LANGUAGE sql STABLE AS 'SELECT $1';
  CREATE TYPE mood AS ENUM ('ok');
  CREATE FUNCTION mood_text(mood) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN 'ok'; END$$;
  CREATE CAST (mood AS text) WITH FUNCTION mood_text(mood) AS IMPLICIT;
  CREATE TABLE feelings (m mood);
  CREATE TABLE stringified (x int);
  INSERT INTO stringified VALUES (1);
  CREATE FUNCTION stringify(stringified) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN 'x'; END$$;
  CREATE CAST (stringified AS text) WITH FUNCTION stringify(stringified) AS IMPLICIT;
  INSERT INTO feelings VALUES ('ok');
  GRANT SELECT ON feelings TO trust_user;
  CREATE FUNCTION defaulted(a text DEFAULT pg_advisory_lock(4242)::text) RETURNS text LANGUAGE sql STABLE AS 'SELECT $1';
  CREATE FUNCTION guard() RETURNS boolean LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN true; END$$;
  CREATE TABLE guarded (x int);
  INSERT INTO guarded VALUES (1);
  ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
  CREATE POLICY everyone ON guarded USING (guard());
  GRANT SELECT ON guarded TO trust_user;
  CREATE TABLE checked_t (x bigint CHECK (lock_ok(x)));
  CREATE TABLE domained (c counted);
  CREATE TABLE generated_t (x bigint, y boolean GENERATED ALWAYS AS (lock_ok(x)) STORED);
  CREATE FUNCTION idx_lock(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN $1; END$$;
  CREATE TABLE indexed (x int);
  CREATE INDEX indexed_lock ON indexed ((idx_lock(x)));
  CREATE TABLE partial (x int);
  CREATE INDEX partial_lock ON partial (x) WHERE idx_lock(x) > 0;
  CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN coalesce(NEW, OLD); END$$;
  CREATE TABLE parted (id int, note text) PARTITION BY LIST (id);
  CREATE TABLE parted_1 PARTITION OF parted FOR VALUES IN (1);
  CREATE TRIGGER parted_1_shout BEFORE INSERT ON parted_1 FOR EACH ROW EXECUTE FUNCTION shout();
  CREATE TABLE ancestor (id int);
  CREATE TABLE descendant () INHERITS (ancestor);
  INSERT INTO descendant VALUES (1);
  CREATE TRIGGER descendant_shout BEFORE UPDATE ON descendant FOR EACH ROW EXECUTE FUNCTION shout();
  CREATE TABLE parent_t (id int PRIMARY KEY);
  CREATE TABLE child_t (pid int REFERENCES parent_t ON DELETE CASCADE);
  CREATE TABLE grandchild_t (pid int REFERENCES parent_t ON UPDATE SET NULL);
  INSERT INTO parent_t VALUES (1); INSERT INTO child_t VALUES (1); INSERT INTO grandchild_t VALUES (1);
  CREATE TRIGGER child_shout BEFORE DELETE ON child_t FOR EACH ROW EXECUTE FUNCTION shout();
  CREATE TRIGGER grandchild_shout BEFORE UPDATE ON grandchild_t FOR EACH ROW EXECUTE FUNCTION shout();
  CREATE FUNCTION plain_check(bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 > 0';
  CREATE DOMAIN positive AS bigint CHECK (plain_check(VALUE));
  CREATE TABLE amounts (a positive, b counted);
  INSERT INTO amounts VALUES (1, 1); -- takes the lock here, in the fixtures' session: released below
  CREATE TABLE harmless_parent (id int PRIMARY KEY);
  CREATE TABLE harmless_child (pid int REFERENCES harmless_parent ON DELETE CASCADE, a positive CHECK (a > 0));
  INSERT INTO harmless_parent VALUES (1); INSERT INTO harmless_child VALUES (1, 1);
  CREATE FUNCTION diff_lock(float8, float8) RETURNS float8 LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN $1 - $2; END$$;
  CREATE TYPE floatrange AS RANGE (SUBTYPE = float8, SUBTYPE_DIFF = diff_lock);
  CREATE TABLE spans (r floatrange);
  INSERT INTO spans SELECT floatrange(i, i + 1) FROM generate_series(1, 200) AS i;
  ANALYZE spans;
  CREATE DOMAIN stamped AS boolean DEFAULT lock_ok(1);
  CREATE TABLE stamped_t (x int, s stamped);
  CREATE TABLE folk (id int);
  CREATE TABLE folk_child (CHECK (lock_ok(0))) INHERITS (folk);
  CREATE TABLE keyed (x int) PARTITION BY RANGE ((x + idx_lock(0)));
  CREATE TABLE keyed_1 PARTITION OF keyed FOR VALUES FROM (0) TO (10);
  CREATE TABLE folded (x int);
  CREATE INDEX folded_lock ON folded ((x + idx_lock(0)));
  CREATE TABLE measured (x int);
  CREATE STATISTICS measured_lock ON (x + idx_lock(0)) FROM measured;
  CREATE EXTENSION file_fdw;
  CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
  CREATE FOREIGN TABLE outside (line text) SERVER files OPTIONS (program 'echo outside');
  CREATE TABLE lines (line text);
  CREATE FOREIGN TABLE outside_lines () INHERITS (lines) SERVER files OPTIONS (program 'echo outside');
  SELECT pg_advisory_unlock_all();
`;

async function advisoryLocks(direct: Client): Promise<number> {
  const { rows } = await direct.query(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                                        WHERE l.locktype = 'advisory' AND d.datname = current_database()`);
  return rows[0].n;
}

async function shop() {
  const database = await shopWithModel(suite);
  await database.direct.query(FIXTURES);
  return database;
}

async function attempt(client: Client, use: Use, sql: string): Promise<any> {
  if (use === 'explain') return (await client.query(`SELECT explain_query($1) AS e`, [sql])).rows[0].e;
  suite.fake.script({ kind: 'answer', content: JSON.stringify({ sql, explanation: 'hostile' }) });
  return (await client.query(`SELECT pg_llm_text2sql_json('llm', 'a question') AS j`)).rows[0].j;
}

/**
 * Creates `objects` as bob, another role, in public, where he may no longer create afterwards unless he `keepsCreate`
 * (which refuses every statement run with public on its search_path); the session named "victim" that bob's
 * functions end when they run.
 */
async function asBob(direct: Client, name: string, objects: string, keepsCreate = false): Promise<pg.Client> {
  const bob = ROLES.md5.user;
  await direct.query(`GRANT CREATE ON SCHEMA public TO ${bob}; SET ROLE ${bob}; ${objects} RESET ROLE`);
  if (!keepsCreate) await direct.query(`REVOKE CREATE ON SCHEMA public FROM ${bob}`);
  const victim = new pg.Client({ ...connection(cluster().port, 'trust', name), application_name: 'victim' });
  await victim.connect();
  victim.on('error', () => undefined);
  afterThisTest(() => victim.end().catch(() => undefined));
  return victim;
}

/** Refused with 38001 naming `says`, and no advisory lock left behind. */
async function refusedWithoutTrace(client: Client, direct: Client, use: Use, sql: string, says: string) {
  await expect(attempt(client, use, sql), sql).rejects.toMatchObject({ code: '38001', message: expect.stringContaining(says) });
  expect(await advisoryLocks(direct), sql).toBe(0);
}

describe('code a statement reaches without naming it', () => {
  for (const [sql, says] of [
    [`SELECT * FROM jsonb_to_record('{"c": 1}') AS x(c counted)`, 'public.lock_ok() (through a cast to counted)'],
    [`SELECT * FROM XMLTABLE('/a' PASSING CAST('<a>1</a>' AS xml) COLUMNS c counted PATH '.')`, 'lock_ok()'],
    ['SELECT ROW(1)::holder AS h', 'lock_ok()'],
    [`SELECT json_populate_record(NULL::holder, '{"c": 1}') AS h`, 'lock_ok()'],
    [`SELECT (NULL::holder_of_holders) IS NULL AS h`, 'lock_ok()'],
    ['SELECT 1::counted_twice AS c', 'lock_ok()'],
    ['SELECT takes_counted(1) AS c', 'lock_ok()'],
    ['SELECT defaulted() AS d', 'pg_catalog.pg_advisory_lock() (through the defaults of public.defaulted)'],
  ]) {
    it(sql!, async () => {
      const { admin, direct } = await shop();
      await refusedWithoutTrace(admin, direct, 'text2sql', sql!, says!);
    });
  }

  it('an implicit cast to text runs a plpgsql function', async () => {
    const { reader, direct } = await shop();
    await refusedWithoutTrace(reader, direct, 'text2sql', 'SELECT length(m) AS n FROM feelings', 'public.mood_text() (through a cast from mood to text), a function in plpgsql');
  });

  it("a row-level security policy's plpgsql function runs for the caller", async () => {
    const { reader, direct } = await shop();
    await refusedWithoutTrace(reader, direct, 'text2sql', 'SELECT x FROM guarded', 'public.guard() (through policy everyone on guarded)');
  });

  it("a policy of a table another role owns runs that role's function for the caller", async () => {
    const { reader, direct } = await shop();
    const owner = ROLES.md5.user;
    await direct.query(`CREATE SCHEMA hostile AUTHORIZATION ${owner}; GRANT USAGE ON SCHEMA hostile TO trust_user;
                        SET ROLE ${owner};
                        CREATE FUNCTION hostile.trap() RETURNS boolean LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN true; END$$;
                        CREATE TABLE hostile.bait (x int); INSERT INTO hostile.bait VALUES (1);
                        ALTER TABLE hostile.bait ENABLE ROW LEVEL SECURITY;
                        CREATE POLICY lure ON hostile.bait USING (hostile.trap());
                        GRANT SELECT ON hostile.bait TO trust_user;
                        RESET ROLE`);
    // Trusted, so that the policy is followed rather than the table refused for its owner.
    await reader.query(`SET pg_llm.trusted_owners = '${owner}'`);
    await refusedWithoutTrace(reader, direct, 'text2sql', 'SELECT x FROM hostile.bait', 'hostile.trap() (through policy lure on hostile.bait)');
  });
});

describe("what a read builds of a relation's row type or column types, without naming them", () => {
  for (const [use, sql, says] of [
    // Values coerced into the row type, and so into its columns' domains.
    ['text2sql', `SELECT jsonb_populate_record(t, '{"b": 2}') AS r FROM amounts t`, 'public.lock_ok() (through a cast to counted), a function in plpgsql'],
    ['explain', `SELECT json_populate_recordset(t, '[{"b": 2}]') AS r FROM amounts t`, 'public.lock_ok() (through a cast to counted)'],
    ['text2sql', `SELECT coalesce(t, '(1,2)') AS r FROM amounts t`, 'public.lock_ok() (through a cast to counted)'],
    // Into a column's domain, through its array type.
    ['text2sql', `SELECT ARRAY[b] || '{2}' AS r FROM amounts`, 'public.lock_ok() (through a cast to counted)'],
    // A cast from the row type, explicit or implicit.
    ['text2sql', 'SELECT t::text AS v FROM stringified t', 'public.stringify() (through a cast from stringified to text), a function in plpgsql'],
    ['explain', 'SELECT CAST(t AS text) AS v FROM stringified t', 'public.stringify() (through a cast from stringified to text)'],
    ['text2sql', 'SELECT length(t) AS n FROM stringified t', 'public.stringify() (through a cast from stringified to text)'],
    // So many shapes build such values that a read of a column whose domain runs such code is refused outright.
    ['text2sql', 'SELECT b FROM amounts', 'public.lock_ok() (through a cast to counted)'],
  ] as Array<[Use, string, string]>) {
    it(`${use}: ${sql}`, async () => {
      const { admin, direct } = await shop();
      await refusedWithoutTrace(admin, direct, use, sql, says);
    });
  }
});

describe('functions the planner runs in place of, or besides, those the statement names', () => {
  /**
   * Another role's operators over text: <<< is text_lt, whose negator >>> runs a plpgsql function that ends the
   * sessions named "victim" (and takes the advisory lock); ~>> is text_lt too, with >>> as its commutator and the
   * built-in estimator that compares the statistics' values with it.
   */
  function hostileOperators(direct: Client, name: string): Promise<pg.Client> {
    return asBob(direct, name, `CREATE FUNCTION ge_evil(text, text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN
                          PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim';
                          PERFORM pg_advisory_lock(4242);
                          RETURN $1 >= $2;
                        END$$;
                        CREATE OPERATOR >>> (LEFTARG = text, RIGHTARG = text, FUNCTION = ge_evil);
                        CREATE OPERATOR <<< (LEFTARG = text, RIGHTARG = text, FUNCTION = text_lt, NEGATOR = >>>);
                        CREATE OPERATOR ~>> (LEFTARG = text, RIGHTARG = text, FUNCTION = text_lt, COMMUTATOR = >>>, RESTRICT = scalarltsel);
                        CREATE TABLE notes (id int, body text);
                        INSERT INTO notes SELECT i, md5(i::text) FROM generate_series(1, 300) AS i;
                        ANALYZE notes;`);
  }

  for (const [sql, says] of [
    [`SELECT id, NOT (body <<< 'b') AS after_b FROM notes`, 'public.ge_evil() (through operator public.>>>, the negator of public.<<<), a function in plpgsql'],
    [`SELECT id FROM notes WHERE 'b' ~>> body`, 'public.ge_evil() (through operator public.>>>, the commutator of public.~>>), a function in plpgsql'],
  ]) {
    it(sql!, async () => {
      const { admin, direct, name } = await shop();
      const victim = await hostileOperators(direct, name);
      await refusedWithoutTrace(admin, direct, 'text2sql', sql!, says!);
      expect((await victim.query('SELECT 1 AS alive')).rows).toEqual([{ alive: 1 }]);
    });
  }

  for (const [use, sql, says] of [
    ['text2sql', 'SELECT count(*) AS n FROM spans WHERE r && floatrange(3, 5)', 'public.diff_lock() (through the range type floatrange)'],
    ['text2sql', 'SELECT id FROM folk WHERE id = 1', 'public.lock_ok() (through the constraint folk_child_check on folk_child)'],
    ['text2sql', 'SELECT x FROM keyed WHERE x = 1', 'public.idx_lock() (through the partition key of keyed)'],
    ['explain', 'INSERT INTO keyed_1 VALUES (1)', 'public.idx_lock() (through the partition key of keyed)'],
    ['text2sql', 'SELECT x FROM folded WHERE x = 1', 'public.idx_lock() (through index folded_lock)'],
    ['text2sql', 'SELECT x FROM measured WHERE x = 1', 'public.idx_lock() (through statistics public.measured_lock)'],
    ['explain', 'DELETE FROM measured', 'public.idx_lock() (through statistics public.measured_lock)'],
    ['explain', 'INSERT INTO stamped_t (x) VALUES (1)', 'public.lock_ok() (through the default of stamped_t.s)'],
  ] as Array<[Use, string, string]>) {
    it(`${use}: ${sql}`, async () => {
      const { admin, direct } = await shop();
      await refusedWithoutTrace(admin, direct, use, sql, says);
    });
  }

  it("another role's statistics object on a table the caller may read: its function is refused, no session is ended", async () => {
    const { reader, direct, name } = await shop();
    // The planner folds the constant parts of every extended statistics expression of a table it plans a read of.
    const victim = await asBob(direct, name, `CREATE FUNCTION tally(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN
                          PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim';
                          PERFORM pg_advisory_lock(4242);
                          RETURN $1;
                        END$$;
                        CREATE TABLE gauges (x int);
                        INSERT INTO gauges VALUES (1);
                        CREATE STATISTICS gauges_tally ON (x + tally(0)) FROM gauges;
                        GRANT SELECT ON gauges TO trust_user;`);
    await reader.query(`SET pg_llm.trusted_owners = '${ROLES.md5.user}'`);
    await refusedWithoutTrace(reader, direct, 'text2sql', 'SELECT x FROM gauges', 'public.tally() (through statistics public.gauges_tally), a function in plpgsql');
    expect((await victim.query('SELECT 1 AS alive')).rows).toEqual([{ alive: 1 }]);
  });

  for (const [sql, says] of [
    ['SELECT line FROM outside', 'uses outside, a foreign table'],
    ['SELECT line FROM lines', 'uses outside_lines, a foreign table'],
  ]) {
    it(sql!, async () => {
      const { admin } = await shop();
      await expect(attempt(admin, 'text2sql', sql!)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining(says!) });
    });
  }
});

describe('functions whose effects other sessions see', () => {
  // Transaction-level locks too: another role polls pg_locks while the statement holds them (and sleeps), and reads
  // the caller's rows from the lock keys.
  for (const call of [
    'pg_advisory_xact_lock(4242)', 'pg_advisory_xact_lock_shared(4242)', 'pg_try_advisory_xact_lock(4242)', 'pg_try_advisory_xact_lock_shared(4242)',
    'pg_advisory_xact_lock(42, 42)', 'pg_advisory_lock(4242)', 'pg_advisory_lock_shared(4242)', 'pg_try_advisory_lock(4242)', 'pg_try_advisory_lock_shared(4242)',
  ]) {
    it(call, async () => {
      const { reader, direct } = await shop();
      const sql = `SELECT (SELECT count(${call}) FROM customers) AS n`;
      await refusedWithoutTrace(reader, direct, 'text2sql', sql, `calls pg_catalog.${call.slice(0, call.indexOf('('))}(), a volatile function`);
    });
  }

  for (const call of ['pg_sleep(3)', "pg_sleep_for('3 seconds')", "pg_sleep_until(now() + interval '3 seconds')"]) {
    it(call, async () => {
      const { reader } = await shop();
      const started = Date.now();
      await expect(attempt(reader, 'text2sql', `SELECT ${call} AS s`)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining(`calls pg_catalog.${call.slice(0, call.indexOf('('))}()`) });
      expect(Date.now() - started).toBeLessThan(2500);
    });
  }

  for (const name of ['txid_current', 'pg_current_xact_id']) {
    it(`${name}(), which gives the transaction an id`, async () => {
      const { reader } = await shop();
      await expect(attempt(reader, 'text2sql', `SELECT ${name}() AS x`)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining(`calls pg_catalog.${name}(), which gives the transaction an id other sessions see`) });
    });
  }
});

describe("a type's code reached through a type named by a value", () => {
  for (const [sql, says] of [
    [`SELECT array_in('{1}', 'counted'::regtype, -1) AS x`, 'pg_catalog.array_in()'],
    [`SELECT domain_in('1', 'counted'::regtype, -1) AS x`, 'pg_catalog.domain_in()'],
    [`SELECT record_in('(1)', 'holder'::regtype, -1) AS x`, 'pg_catalog.record_in()'],
    [`SELECT anyarray_in('{1}') IS NULL AS x`, 'pg_catalog.anyarray_in()'],
    [`SELECT array_out('{1}'::int[]) AS x`, 'pg_catalog.array_out()'],
  ]) {
    it(sql!, async () => {
      const { reader, direct } = await shop();
      await refusedWithoutTrace(reader, direct, 'text2sql', sql!, `calls ${says}, which runs the code of a type named by a value`);
    });
  }
});

describe("another role's operators on the caller's search_path: what the statement resolves to is judged", () => {
  /**
   * Bob's = and <> on text, VOLATILE plpgsql that ends the sessions named "victim" and takes the advisory lock, and
   * a domain whose CHECK does the same, for a constant of an array of it.
   */
  function hostileTextOperators(direct: Client, name: string): Promise<pg.Client> {
    return asBob(direct, name, `CREATE FUNCTION hijack(text, text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$BEGIN
                          PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim';
                          PERFORM pg_advisory_lock(4242);
                          RETURN $1 OPERATOR(pg_catalog.=) $2;
                        END$$;
                        CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hijack);
                        CREATE OPERATOR public.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = hijack);
                        CREATE FUNCTION doom(bigint) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN
                          PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim';
                          RETURN true;
                        END$$;
                        CREATE DOMAIN doomed AS bigint CHECK (doom(VALUE));`);
  }

  async function alive(victim: pg.Client): Promise<void> {
    expect((await victim.query('SELECT 1 AS alive')).rows).toEqual([{ alive: 1 }]);
  }

  it('a statement comparing integers runs, with pg_catalog first on the path or after public', async () => {
    const { admin, direct, name } = await shop();
    const victim = await hostileTextOperators(direct, name);
    for (const path of ['"$user", public', 'public, pg_catalog']) {
      await admin.query(`SET search_path = ${path}`);
      expect((await attempt(admin, 'text2sql', 'SELECT * FROM customers WHERE id = 1')).execution.row_count, path).toBe(1);
      expect(await attempt(admin, 'explain', 'SELECT name FROM customers WHERE id <> 1'), path).toEqual(expect.any(String));
    }
    await alive(victim);
    expect(await advisoryLocks(direct)).toBe(0);
  });

  it("one comparing text runs PostgreSQL's = where pg_catalog comes first, and is refused where it resolves to bob's", async () => {
    const { admin, direct, name } = await shop();
    const victim = await hostileTextOperators(direct, name);
    const sql = `SELECT id FROM customers WHERE name = 'Ada'`;
    expect((await attempt(admin, 'text2sql', sql)).execution.row_count).toBe(1);
    await admin.query('SET search_path = public, pg_catalog');
    await refusedWithoutTrace(admin, direct, 'text2sql', sql, 'calls public.hijack() (through operator public.=), a volatile function');
    await alive(victim);
  });

  for (const [what, sql, says] of [
    // The <> a recursive query's CYCLE clause compares its mark with is looked up through the search_path.
    ['a CYCLE clause', `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) CYCLE n SET looped TO 'y' DEFAULT 'n' USING trail SELECT n FROM r`, 'public.hijack() (through operator public.<>)'],
    // PostgreSQL's analysis of the statement would run the CHECK of the constant's elements: it is judged first.
    ['a domain CHECK of a constant', `SELECT '{1}'::doomed[] AS d FROM customers WHERE id = 1`, 'public.doom() (through a cast to doomed)'],
  ]) {
    it(`${what} is refused, and nothing of bob's runs`, async () => {
      const { admin, direct, name } = await shop();
      const victim = await hostileTextOperators(direct, name);
      await admin.query(`SET search_path = public, pg_catalog; SET pg_llm.trusted_owners = '${ROLES.md5.user}'`);
      await refusedWithoutTrace(admin, direct, 'text2sql', sql!, says!);
      await alive(victim);
    });
  }

  // `x IN (subquery)` names no operator: PostgreSQL compares with the = the search_path finds for the operands' types.
  for (const sql of [
    `SELECT id FROM customers WHERE name IN (SELECT name FROM customers)`,
    `SELECT id FROM customers WHERE name NOT IN (SELECT name FROM customers WHERE id > 1)`,
    `SELECT id FROM customers WHERE (name, name) IN (SELECT name, name FROM customers)`,
    `SELECT id FROM customers WHERE name IN (VALUES ('Ada'))`,
  ]) {
    for (const use of ['text2sql', 'explain'] as const) {
      it(`${use}: ${sql} is refused where = resolves to bob's, and nothing of bob's runs`, async () => {
        const { admin, direct, name } = await shop();
        const victim = await hostileTextOperators(direct, name);
        // Where pg_catalog comes first, PostgreSQL's = compares, and the statement runs.
        expect(await attempt(admin, use, sql)).toBeTruthy();
        await admin.query(`SET search_path = public, pg_catalog; SET pg_llm.trusted_owners = '${ROLES.md5.user}'`);
        await refusedWithoutTrace(admin, direct, use, sql, 'public.hijack() (through operator public.=)');
        await alive(victim);
      });
    }
  }

  // Created where bob's = comes first, they compare with his: pg_get_viewdef prints that as a plain IN (subquery).
  for (const [what, body, sql, says] of [
    ['a view', 'CREATE VIEW same_names AS SELECT id FROM customers WHERE name IN (SELECT name FROM customers)', 'SELECT id FROM same_names', 'public.hijack() (through view same_names)'],
    ['a SQL function', `CREATE FUNCTION same_names() RETURNS SETOF integer LANGUAGE sql STABLE AS 'SELECT id FROM customers WHERE name IN (SELECT name FROM customers)'`, 'SELECT same_names() AS id', 'public.hijack() (through function public.same_names)'],
  ]) {
    it(`${what} comparing with IN (subquery) is refused where = resolves to bob's, and nothing of bob's runs`, async () => {
      const { admin, direct, name } = await shop();
      const victim = await hostileTextOperators(direct, name);
      await direct.query(`SET search_path = public, pg_catalog; ${body}; RESET search_path`);
      await admin.query(`SET search_path = public, pg_catalog; SET pg_llm.trusted_owners = '${ROLES.md5.user}'`);
      for (const use of ['text2sql', 'explain'] as const) await refusedWithoutTrace(admin, direct, use, sql!, says!);
      await alive(victim);
    });
  }

  it('where PostgreSQL cannot analyse the statement (a read-only transaction), every candidate is judged', async () => {
    const { admin, direct, name } = await shop();
    await hostileTextOperators(direct, name);
    await admin.query('SET search_path = public, pg_catalog');
    await admin.query('BEGIN READ ONLY');
    await expect(attempt(admin, 'text2sql', 'SELECT * FROM customers WHERE id = 1')).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('through operator public.=') });
    await admin.query('ROLLBACK');
  });
});

describe('objects of roles the caller does not trust', () => {
  /** bob's harmless function and table, which bob could make harmful between a check and the run. */
  const harmless = `CREATE FUNCTION twice(int) RETURNS int LANGUAGE sql STABLE AS 'SELECT $1 * 2';
                    CREATE TABLE numbers (n int); INSERT INTO numbers VALUES (21);
                    GRANT SELECT ON numbers TO trust_user;`;
  /** bob's harmless objects, and a view of his that sets pg_llm.trusted_owners to bob in the session reading it. */
  async function trustingView() {
    const { reader, direct, name } = await shop();
    const bob = ROLES.md5.user;
    await asBob(direct, name, `${harmless}
                               CREATE VIEW trusting AS SELECT set_config('pg_llm.trusted_owners', '${bob}', false) AS t;
                               GRANT SELECT ON trusting TO trust_user;`);
    return { reader, name, bob };
  }

  for (const [sql, says] of [
    ['SELECT twice(21) AS n', 'reaches function public.twice(), owned by md5_user'],
    ['SELECT n FROM numbers', 'reaches table numbers, owned by md5_user'],
  ]) {
    it(`${sql} is refused until the caller trusts bob`, async () => {
      const { reader, direct, name } = await shop();
      await asBob(direct, name, harmless);
      await expect(attempt(reader, 'text2sql', sql!)).rejects.toMatchObject({
        code: '38001',
        message: expect.stringContaining(says!),
        hint: expect.stringContaining(`SET pg_llm.trusted_owners = 'md5_user'`),
      });
      await reader.query(`SET pg_llm.trusted_owners = 'someone_else, ${ROLES.md5.user}'`);
      expect((await attempt(reader, 'text2sql', sql!)).execution.row_count).toBe(1);
    });
  }

  it('are named in pg_llm.trusted_owners as in search_path: quoted as written, unquoted down-cased; a quote left open names nobody, and is no error', async () => {
    const { reader, direct, name } = await shop();
    await asBob(direct, name, harmless);
    const sql = 'SELECT twice(21) AS n';
    for (const listed of [`"${ROLES.md5.user.toUpperCase()}"`, `"${ROLES.md5.user}`, `someone, "${ROLES.md5.user}, x"`]) {
      await reader.query(`SET pg_llm.trusted_owners = '${listed}'`);
      await expect(attempt(reader, 'text2sql', sql)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('owned by md5_user') });
    }
    for (const listed of [ROLES.md5.user.toUpperCase(), `"${ROLES.md5.user}", "left open`, ` x ,"${ROLES.md5.user}"`]) {
      await reader.query(`SET pg_llm.trusted_owners = '${listed}'`);
      expect((await attempt(reader, 'text2sql', sql)).execution.row_count).toBe(1);
    }
  });

  it("are trusted only by the client's own pg_llm.trusted_owners, not by one bob's view sets in the session", async () => {
    const { reader, name, bob } = await trustingView();
    await reader.query('SELECT t FROM trusting');
    await expect(attempt(reader, 'text2sql', 'SELECT twice(21) AS n')).rejects.toMatchObject({
      code: '42501',
      message: expect.stringContaining(`reaches function public.twice(), owned by ${bob}, who may change it between this check and the run: pg_llm.trusted_owners was not set by this session's client`),
      hint: 'SET pg_llm.trusted_owners in the session if you trust the roles it names; ALTER ROLE … SET counts too.',
    });
    // The caller's own objects need no trust, whoever set the setting.
    expect((await attempt(reader, 'text2sql', 'SELECT id FROM customers WHERE id = 1')).execution.row_count).toBe(1);
    // Set by the client itself: in its statement, or in its startup options.
    await reader.query(`SET pg_llm.trusted_owners = '${bob}'`);
    expect((await attempt(reader, 'text2sql', 'SELECT twice(21) AS n')).execution.row_count).toBe(1);
    const started = new pg.Client({ ...connection(suite.proxy.port, 'trust', name), options: `-c pg_llm.trusted_owners=${bob}` });
    await started.connect();
    afterThisTest(() => started.end());
    expect((await attempt(started, 'text2sql', 'SELECT twice(21) AS n')).execution.row_count).toBe(1);
  });

  it("are no longer trusted by the client's value once it resets the setting: bob's view setting it again later is not the client's choice", async () => {
    const { reader, bob } = await trustingView();
    for (const reset of ['RESET pg_llm.trusted_owners', 'RESET ALL', 'SET pg_llm.trusted_owners TO DEFAULT']) {
      await reader.query(`SET pg_llm.trusted_owners = '${bob}'`);
      await reader.query(reset);
      await reader.query('SELECT t FROM trusting');
      await expect(attempt(reader, 'text2sql', 'SELECT twice(21) AS n'), reset).rejects.toMatchObject({ code: '42501' });
    }
    // Set again by a later statement of the Query that reset it, the value is the client's.
    await reader.query(`RESET pg_llm.trusted_owners; SET pg_llm.trusted_owners = '${bob}'`);
    expect((await attempt(reader, 'text2sql', 'SELECT twice(21) AS n')).execution.row_count).toBe(1);
    // Review R6: so after a SET of another value, which withdraws the trust as a RESET does.
    await reader.query(`SET pg_llm.trusted_owners = ''`);
    await reader.query('SELECT t FROM trusting');
    await expect(attempt(reader, 'text2sql', 'SELECT twice(21) AS n')).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('was not set by this session') });
  });

  // Review R5: a value the client gave for one transaction stayed its choice for the session, so bob's view setting it
  // after the rollback passed for the client's.
  it("are trusted by a value the client gave for a transaction only until that transaction ends", async () => {
    const { reader, bob } = await trustingView();
    for (const given of [`SET LOCAL pg_llm.trusted_owners = '${bob}'`, `SET pg_llm.trusted_owners = '${bob}'`, `SELECT set_config('pg_llm.trusted_owners', '${bob}', true)`]) {
      await reader.query('BEGIN');
      await reader.query(given);
      expect((await attempt(reader, 'text2sql', 'SELECT twice(21) AS n')).execution.row_count, given).toBe(1);
      await reader.query('ROLLBACK');
      await reader.query('SELECT t FROM trusting');
      await expect(attempt(reader, 'text2sql', 'SELECT twice(21) AS n'), given).rejects.toMatchObject({ code: '42501', message: expect.stringContaining('was not set by this session') });
      await reader.query('RESET pg_llm.trusted_owners');
    }
  });

  it("bob's operator over PostgreSQL's own function is refused too: bob may drop it and create one of his code before the run", async () => {
    const { admin, reader, direct, name } = await shop();
    // PostgreSQL's <> under bob's =: whose operator answers shows in the rows.
    await asBob(direct, name, 'CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_catalog.textne);');
    const sql = `SELECT id FROM customers WHERE name = 'Ada'`;
    for (const caller of [reader, admin]) {
      await caller.query('SET search_path = public, pg_catalog');
      await expect(attempt(caller, 'text2sql', sql)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('reaches operator public.=, owned by md5_user') });
      await expect(attempt(caller, 'explain', sql)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('owned by md5_user') });
      // Where PostgreSQL's = comes first, bob's is only a candidate, and the statement runs.
      await caller.query('RESET search_path');
      expect((await attempt(caller, 'text2sql', sql)).execution.row_count).toBe(1);
    }
    await reader.query(`SET search_path = public, pg_catalog; SET pg_llm.trusted_owners = '${ROLES.md5.user}'`);
    expect((await attempt(reader, 'text2sql', sql)).execution.row_count).toBe(2);
  });

  it("a function bob changes into plpgsql between the check and the run never runs as the caller: bob's objects are refused whatever their body", async () => {
    const { reader, direct, name } = await shop();
    await asBob(direct, name, harmless, true);
    const bob = new pg.Client(connection(cluster().port, 'md5', name));
    await bob.connect();
    afterThisTest(() => bob.end());
    let flipping = true;
    const flips = (async () => {
      for (let n = 0; flipping; n++) {
        await bob.query(n % 2 === 0
          ? `CREATE OR REPLACE FUNCTION twice(int) RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN $1 * 2; END$$`
          : `CREATE OR REPLACE FUNCTION twice(int) RETURNS int LANGUAGE sql STABLE AS 'SELECT $1 * 2'`);
      }
    })();
    try {
      for (let attempt_ = 0; attempt_ < 10; attempt_++) {
        await expect(attempt(reader, 'text2sql', 'SELECT twice(21) AS n')).rejects.toMatchObject({ code: '38001' });
      }
    } finally {
      flipping = false;
      await flips;
    }
    expect(await advisoryLocks(direct)).toBe(0);
  });
});

describe('a schema on the search_path where a role not trusted may create', () => {
  const question = 'SELECT id FROM customers WHERE id = 1';

  it('refuses the statement while that role may create there, unless the caller trusts it: a better match made there after the check would run', async () => {
    const { reader, direct, name } = await shop();
    await asBob(direct, name, '', true);
    await expect(attempt(reader, 'text2sql', question)).rejects.toMatchObject({
      code: '38001',
      message: expect.stringContaining('runs with the schema public on its search_path, where md5_user may create objects'),
      hint: expect.stringContaining(`SET pg_llm.trusted_owners = 'md5_user'`),
    });
    await expect(attempt(reader, 'explain', question)).rejects.toMatchObject({ code: '38001' });
    await reader.query(`SET pg_llm.trusted_owners = '${ROLES.md5.user}'`);
    expect((await attempt(reader, 'text2sql', question)).execution.row_count).toBe(1);
    await reader.query('RESET pg_llm.trusted_owners');
    await direct.query(`REVOKE CREATE ON SCHEMA public FROM ${ROLES.md5.user}`);
    expect((await attempt(reader, 'text2sql', question)).execution.row_count).toBe(1);
  });

  it('reads the search_path as PostgreSQL does: an unquoted name keeps its non-ASCII capitals and its quotes, and is cut to 63 bytes', async () => {
    const { reader, direct } = await shop();
    // bob's schemas, which the caller may not use yet (bob may grant it once the check is done).
    const long = `x${'y'.repeat(70)}`;
    await direct.query(`CREATE SCHEMA "Über" AUTHORIZATION ${ROLES.md5.user}; CREATE SCHEMA "a""b" AUTHORIZATION ${ROLES.md5.user};
                        CREATE SCHEMA ${long} AUTHORIZATION ${ROLES.md5.user}`);
    for (const [entry, schema] of [['Über', 'Über'], ['a"b', 'a"b'], [long, long.slice(0, 63)]]) {
      await reader.query(`SELECT set_config('search_path', $1, false)`, [`public, ${entry}`]);
      await expect(attempt(reader, 'text2sql', question), entry).rejects.toMatchObject({
        code: '38001',
        message: expect.stringContaining(`runs with the schema ${schema} on its search_path, where md5_user may create objects`),
      });
    }
  });

  it('names PUBLIC where every role may create, as on databases from before PostgreSQL 15', async () => {
    const { reader, direct } = await shop();
    await direct.query('GRANT CREATE ON SCHEMA public TO PUBLIC'); // the test's own database
    await expect(attempt(reader, 'text2sql', question)).rejects.toMatchObject({
      code: '38001',
      message: expect.stringContaining('where PUBLIC may create objects'),
      hint: expect.stringContaining('REVOKE CREATE ON SCHEMA public FROM PUBLIC'),
    });
  });
});

describe('a schema the statement names, where a role not trusted may create', () => {
  /** bob's schema, with a sequence the caller may set: a value set there outlasts any rollback, for bob to read. */
  async function bobsSchema(direct: Client): Promise<void> {
    const bob = ROLES.md5.user;
    await direct.query(`CREATE SCHEMA bobs AUTHORIZATION ${bob};
                        SET ROLE ${bob};
                        CREATE SEQUENCE bobs.leak;
                        GRANT USAGE ON SCHEMA bobs TO trust_user; GRANT UPDATE ON SEQUENCE bobs.leak TO trust_user;
                        RESET ROLE`);
  }

  it("is refused: a function bob makes there while the run waits for a lock would run as the caller", async () => {
    const { reader, direct, name } = await shop();
    await bobsSchema(direct);
    // Anyone's lock on a table the statement reads holds its parse between the check and the run.
    const locker = new pg.Client(connection(cluster().port, 'postgres', name));
    await locker.connect();
    afterThisTest(() => locker.end());
    await locker.query('BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
    const sql = 'SELECT c.id, bobs.peek(c.id) AS p FROM customers c';
    const explained = reader.query('SELECT explain_query($1) AS e', [sql]);
    explained.catch(() => undefined);
    const waiting = async () => (await direct.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'customers'::regclass`)).rows[0].n > 0;
    for (let tries = 0; tries < 100 && !(await waiting()); tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    // bob's function reads what only the caller may (orders) into bob's sequence.
    await direct.query(`SET ROLE ${ROLES.md5.user};
                        CREATE FUNCTION bobs.peek(int) RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN
                          PERFORM setval('bobs.leak', (SELECT count(*) FROM public.orders) + 100);
                          RETURN $1;
                        END$$;
                        RESET ROLE`);
    await locker.query('COMMIT');
    await expect(explained).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('names the schema bobs, where md5_user may create objects') });
    expect((await direct.query('SELECT last_value::int AS v FROM bobs.leak')).rows[0].v).toBe(1);
  });

  it('is refused in the statement and in the body of a SQL function kept as text; not in what a view stores', async () => {
    const { reader, direct } = await shop();
    await bobsSchema(direct);
    await expect(attempt(reader, 'text2sql', 'SELECT bobs.peek(id) AS p FROM customers')).rejects.toMatchObject({
      code: '38001',
      message: expect.stringContaining('names the schema bobs, where md5_user may create objects'),
      hint: expect.stringContaining(`SET pg_llm.trusted_owners = 'md5_user'`),
    });
    await direct.query(`SET check_function_bodies = off; CREATE FUNCTION relay(int) RETURNS int LANGUAGE sql STABLE AS 'SELECT bobs.peek($1)';
                        CREATE SCHEMA shared; CREATE TABLE shared.rates (r int); INSERT INTO shared.rates VALUES (7);
                        CREATE VIEW rates AS SELECT r FROM shared.rates;
                        GRANT USAGE, CREATE ON SCHEMA shared TO ${ROLES.md5.user}; GRANT USAGE ON SCHEMA shared TO trust_user; GRANT SELECT ON rates TO trust_user`);
    await expect(attempt(reader, 'text2sql', 'SELECT relay(1) AS r')).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('names the schema bobs (through function public.relay)') });
    // The view holds shared.rates by its oid: nothing bob makes in shared changes what it reads.
    expect((await attempt(reader, 'text2sql', 'SELECT r FROM rates')).execution.rows).toEqual([{ r: 7 }]);
    await reader.query(`SET pg_llm.trusted_owners = '${ROLES.md5.user}'`);
    await expect(attempt(reader, 'text2sql', 'SELECT bobs.peek(id) AS p FROM customers')).rejects.toMatchObject({ code: '42883' });
  });
});

describe('a schema that does not exist yet, while a role not trusted may create schemas', () => {
  it("is refused on the search_path (\"$user\") and where the statement names it: bob's schema made while the run waits would be searched", async () => {
    const { reader, direct, name } = await shop();
    const bob = ROLES.md5.user;
    await direct.query(`GRANT CREATE ON DATABASE ${name} TO ${bob}; CREATE SEQUENCE leak; GRANT UPDATE ON SEQUENCE leak TO trust_user`);
    const sql = 'SELECT lower(email) AS e FROM customers';
    // Anyone's lock on a table the statement reads holds its parse between the check and the run.
    const locker = new pg.Client(connection(cluster().port, 'postgres', name));
    await locker.connect();
    afterThisTest(() => locker.end());
    await locker.query('BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
    const explained = reader.query('SELECT explain_query($1) AS e', [sql]);
    explained.catch(() => undefined);
    const waiting = async () => (await direct.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'customers'::regclass`)).rows[0].n > 0;
    for (let tries = 0; tries < 100 && !(await waiting()); tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    // The caller's "$user" schema, with a lower() that matches a varchar better than PostgreSQL's lower(text).
    await direct.query(`SET ROLE ${bob};
                        CREATE SCHEMA trust_user;
                        CREATE FUNCTION trust_user.lower(varchar) RETURNS text LANGUAGE plpgsql STABLE AS $$BEGIN
                          PERFORM setval('public.leak', (SELECT count(*) FROM public.orders) + 100);
                          RETURN $1;
                        END$$;
                        GRANT USAGE ON SCHEMA trust_user TO trust_user;
                        RESET ROLE`);
    await locker.query('COMMIT');
    await expect(explained).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('runs with the schema trust_user on its search_path, which does not exist and md5_user may create') });
    expect((await direct.query('SELECT last_value::int AS v FROM leak')).rows[0].v).toBe(1);
    await direct.query('DROP SCHEMA trust_user CASCADE');
    await reader.query('SET search_path = public');
    expect((await attempt(reader, 'text2sql', sql)).execution.row_count).toBe(3);
    await expect(attempt(reader, 'text2sql', 'SELECT nowhere.peek(id) AS p FROM customers')).rejects.toMatchObject({
      code: '38001',
      message: expect.stringContaining('names the schema nowhere, which does not exist and md5_user may create'),
      hint: expect.stringContaining(`SET pg_llm.trusted_owners = 'md5_user'`),
    });
    await direct.query(`REVOKE CREATE ON DATABASE ${name} FROM ${bob}`);
    await reader.query('RESET search_path');
    expect((await attempt(reader, 'text2sql', sql)).execution.row_count).toBe(3);
    await expect(attempt(reader, 'text2sql', 'SELECT nowhere.peek(id) AS p FROM customers')).rejects.toMatchObject({ code: '3F000' });
  });
});

describe("another session's temporary schema, where its role may create", () => {
  it("is refused where the statement names it: a function bob makes in his pg_temp while the run waits would run as the caller, a superuser", async () => {
    const { admin, direct, name } = await shop();
    await direct.query('CREATE SEQUENCE leak');
    // bob's session, with its temporary schema: any role with TEMP on the database has one, and creates in it.
    const bob = new pg.Client(connection(cluster().port, 'md5', name));
    await bob.connect();
    afterThisTest(() => bob.end());
    const { rows } = await bob.query('CREATE TEMP TABLE scratch (x int); SELECT pg_my_temp_schema()::regnamespace::text AS s').then((results: any) => results[1]);
    const temp = rows[0].s as string;
    // Anyone's lock on a table the statement reads holds its parse between the check and the run.
    const locker = new pg.Client(connection(cluster().port, 'postgres', name));
    await locker.connect();
    afterThisTest(() => locker.end());
    await locker.query('BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
    const explained = admin.query('SELECT explain_query($1) AS e', [`SELECT c.id, ${temp}.peek(c.id) AS p FROM customers c`]);
    explained.catch(() => undefined);
    const waiting = async () => (await direct.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'customers'::regclass`)).rows[0].n > 0;
    for (let tries = 0; tries < 100 && !(await waiting()); tries++) await new Promise((resolve) => setTimeout(resolve, 50));
    await bob.query(`CREATE FUNCTION pg_temp.peek(int) RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN
                       PERFORM setval('public.leak', (SELECT count(*) FROM public.orders) + 100);
                       RETURN $1;
                     END$$`);
    await locker.query('COMMIT');
    await expect(explained).rejects.toMatchObject({
      code: '38001',
      message: expect.stringContaining(`names the schema ${temp}, another session's temporary schema, where PUBLIC may create objects`),
      hint: expect.stringContaining('revoke TEMPORARY on this database from PUBLIC'),
    });
    expect((await direct.query('SELECT last_value::int AS v FROM leak')).rows[0].v).toBe(1);
    // The caller's own pg_temp is its own.
    await admin.query('CREATE TEMP TABLE mine (x int); CREATE FUNCTION pg_temp.own(int) RETURNS int LANGUAGE sql STABLE AS $$SELECT $1$$');
    expect((await attempt(admin, 'text2sql', 'SELECT pg_temp.own(id) AS o FROM customers')).execution.row_count).toBe(3);
  });
});

describe("calls that PostgreSQL 15 resolves through the search_path, where the checker's newer grammar sees SQL/JSON syntax", () => {
  // bob's functions from the days he could create in public (a database from before PostgreSQL 15, say): no longer.
  for (const [sql, says] of [
    ['SELECT json_array(id, id) AS j FROM customers', 'calls public.json_array(), a function in plpgsql'],
    [`SELECT json_object('id', name) AS j FROM customers`, 'calls public.json_object(), a function in plpgsql'],
    ['SELECT json_scalar(id) AS j FROM customers', 'calls public.json_scalar(), a function in plpgsql'],
    ['SELECT json_arrayagg(id) AS j FROM customers', 'public.json_arrayagg_step(), a function in plpgsql'],
  ]) {
    it(`${sql}: bob's function runs on PostgreSQL 15 and is refused`, async () => {
      const { reader, direct, name } = await shop();
      await direct.query('CREATE SEQUENCE leak; GRANT UPDATE ON SEQUENCE leak TO trust_user');
      const body = `LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM setval('public.leak', (SELECT count(*) FROM public.orders) + 100); RETURN 'null'; END$$`;
      await asBob(direct, name, `CREATE FUNCTION json_array(int, int) RETURNS json ${body};
                                 CREATE FUNCTION json_object(text, text) RETURNS json ${body};
                                 CREATE FUNCTION json_scalar(int) RETURNS json ${body};
                                 CREATE FUNCTION json_arrayagg_step(json, int) RETURNS json ${body};
                                 CREATE AGGREGATE json_arrayagg(int) (SFUNC = json_arrayagg_step, STYPE = json);`);
      const version = Number((await direct.query('SHOW server_version_num')).rows[0].server_version_num);
      if (version < 160000) {
        // explain_query's run is not read-only: setval() shows bob's code ran.
        await expect(attempt(reader, 'explain', sql!)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining(says!) });
      }
      expect((await direct.query('SELECT last_value::int AS v FROM leak')).rows[0].v).toBe(1);
    });
  }
});

describe("casts that PostgreSQL 15 reads where the checker's newer grammar sees SQL/JSON syntax", () => {
  // Review K2: with no function of the name, PostgreSQL 15 reads json_scalar(x) as a cast to a type so named, and
  // x::json as a cast to the first json on the search_path: bob's domains, whose CHECK ran unjudged.
  for (const sql of ['SELECT json_scalar(name) AS j FROM customers', 'SELECT json_serialize(name) AS j FROM customers', 'SELECT name::json AS j FROM customers']) {
    it(`${sql}: bob's domain CHECK runs on PostgreSQL 15 and is refused`, async () => {
      const { reader, direct, name } = await shop();
      await direct.query('CREATE SEQUENCE leak; GRANT UPDATE ON SEQUENCE leak TO trust_user');
      await asBob(direct, name, `CREATE FUNCTION leaks(text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM setval('public.leak', (SELECT count(*) FROM public.orders) + 100); RETURN true; END$$;
                                 CREATE DOMAIN json_scalar AS text CHECK (leaks(VALUE));
                                 CREATE DOMAIN json_serialize AS text CHECK (leaks(VALUE));
                                 CREATE DOMAIN json AS text CHECK (leaks(VALUE));`);
      await reader.query('SET search_path = public, pg_catalog');
      const version = Number((await direct.query('SHOW server_version_num')).rows[0].server_version_num);
      if (version < 160000) {
        await expect(attempt(reader, 'explain', sql)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('reaches type json') });
      }
      expect((await direct.query('SELECT last_value::int AS v FROM leak')).rows[0].v).toBe(1);
    });
  }
});

describe("the check's own queries", () => {
  it("are not answered by another role's operator that matches their types better than PostgreSQL's", async () => {
    const { admin, direct } = await shop();
    const bob = ROLES.md5.user;
    // No pg_catalog.= takes (oid, regclass): this one would be an exact match in the check's query, run there, and
    // say that no relation is ever found, so the policy's function would not be either.
    await direct.query(`GRANT CREATE ON SCHEMA public TO ${bob};
                        SET ROLE ${bob};
                        CREATE FUNCTION never(oid, regclass) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN false; END$$;
                        CREATE OPERATOR = (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = never);
                        RESET ROLE; REVOKE CREATE ON SCHEMA public FROM ${bob}`);
    await refusedWithoutTrace(admin, direct, 'text2sql', 'SELECT x FROM guarded', 'public.guard() (through policy everyone on guarded)');
  });
});

describe('explain_query writes that fire code in what they write', () => {
  for (const [sql, says] of [
    ['INSERT INTO checked_t VALUES (1)', 'lock_ok() (through the constraint checked_t_x_check on checked_t)'],
    ['INSERT INTO domained VALUES (1)', 'lock_ok() (through a cast to counted)'],
    ['UPDATE generated_t SET x = 2', 'lock_ok() (through the default of generated_t.y)'],
    ['INSERT INTO indexed VALUES (1)', 'idx_lock() (through index indexed_lock)'],
    ['INSERT INTO partial VALUES (1)', 'idx_lock() (through index partial_lock)'],
    ["INSERT INTO parted VALUES (1, 'x')", 'shout() (through trigger parted_1_shout on parted_1)'],
    ['UPDATE ancestor SET id = 2', 'shout() (through trigger descendant_shout on descendant)'],
    ['DELETE FROM parent_t', 'public.shout() (through trigger'],
    ['UPDATE parent_t SET id = 2', 'public.shout() (through trigger'],
  ]) {
    it(sql!, async () => {
      const { admin, direct } = await shop();
      await refusedWithoutTrace(admin, direct, 'explain', sql!, says!);
    });
  }
});

describe('system views through the functions they are built on, with allow_system_tables off', () => {
  it("pg_stat_get_activity() is refused, and another session's query is not read", async () => {
    const { admin, name } = await shop();
    const victim = new pg.Client(connection(cluster().port, 'trust', name));
    await victim.connect();
    afterThisTest(() => victim.end());
    await victim.query(`SELECT 'victim secret sk-live-0000' AS s`);
    await expect(attempt(admin, 'text2sql', 'SELECT pid, query FROM pg_stat_get_activity(NULL)')).rejects.toMatchObject({
      code: '38001',
      message: expect.stringContaining('pg_catalog.pg_stat_get_activity(), which returns rows of a system catalog'),
    });
  });

  for (const sql of [
    "SELECT name, setting FROM pg_show_all_settings() WHERE name IN ('data_directory', 'hba_file')",
    'SELECT * FROM pg_config()',
    'SELECT * FROM pg_prepared_statement()',
    'SELECT * FROM pg_cursor()',
    'SELECT * FROM pg_get_keywords()',
    'SELECT * FROM pg_timezone_names()',
  ]) {
    it(sql, async () => {
      const { admin } = await shop();
      await expect(attempt(admin, 'text2sql', sql)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('which returns rows of a system catalog') });
    });
  }
});

describe('row-level security policies, with allow_system_tables off', () => {
  it('may read server state and system catalogs to choose the rows: the statement itself still may not', async () => {
    const { reader, direct } = await shop();
    await direct.query(`CREATE TABLE tenant_notes (tenant text, note text);
                        INSERT INTO tenant_notes VALUES ('a', 'for a'), ('b', 'for b');
                        ALTER TABLE tenant_notes ENABLE ROW LEVEL SECURITY;
                        CREATE POLICY by_tenant ON tenant_notes
                          USING (tenant = current_setting('app.tenant', true) AND EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = current_user));
                        GRANT SELECT ON tenant_notes TO PUBLIC`);
    await reader.query(`SET app.tenant = 'a'`);
    expect((await attempt(reader, 'text2sql', 'SELECT note FROM tenant_notes')).execution.rows).toEqual([{ note: 'for a' }]);
    await expect(attempt(reader, 'text2sql', `SELECT current_setting('app.tenant') AS t`)).rejects.toMatchObject({ code: '38001' });
    await expect(attempt(reader, 'text2sql', 'SELECT rolname FROM pg_catalog.pg_roles')).rejects.toMatchObject({ code: '38001' });
  });
});

describe('the same shapes over harmless objects', () => {
  it("run: built-in row functions, casts, domains with SQL checks, a row type's values built from a read, built-in statistics expressions, writes", async () => {
    const { admin, direct } = await shop();
    await direct.query('CREATE STATISTICS customers_lower ON (lower(name)) FROM customers');
    for (const sql of [
      `SELECT * FROM jsonb_to_record('{"a": 1, "b": "x"}') AS x(a int, b text)`,
      `SELECT key, value FROM jsonb_each('{"a": 1}') ORDER BY key`,
      `SELECT * FROM jsonb_to_recordset('[{"a": 1}]') AS x(a positive)`,
      'SELECT u.n, t.a FROM unnest(ARRAY[1, 2], ARRAY[3, 4]) AS u(n, m), harmless_child t',
      'SELECT a::positive + 1 AS a, pid FROM harmless_child',
      `SELECT jsonb_populate_record(t, '{"a": 2}') AS r, coalesce(t, '(1,3)') AS c, t::text AS v FROM harmless_child t`,
      `SELECT * FROM XMLTABLE('/a' PASSING CAST('<a>1</a>' AS xml) COLUMNS c int PATH '.')`,
      "SELECT length(name) AS n, 1::numeric::text AS t FROM customers",
    ]) {
      expect((await attempt(admin, 'text2sql', sql)).execution.row_count, sql).toBeGreaterThan(0);
    }
    for (const sql of ['INSERT INTO harmless_child VALUES (1, 2)', 'DELETE FROM harmless_parent', "INSERT INTO products VALUES (9, 'x', 1)", 'DELETE FROM customers']) {
      expect(await attempt(admin, 'explain', sql), sql).toEqual(expect.any(String));
    }
    expect(await advisoryLocks(direct)).toBe(0);
  });
});
