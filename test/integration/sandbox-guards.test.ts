// The guards of src/sql/sandbox.ts and run-query.ts that hold whatever the static check of model-written SQL
// misses: code it never sees (a domain's CHECK, a row-level security policy) takes a session-level advisory lock or
// prepares a statement, which no rollback undoes; the caller's standard_conforming_strings would make the server
// read the text otherwise than the checker did; a result too big for the proxy to hold.

import { describe, expect, it } from 'vitest';
import { pgAiSuite, shopWithModel } from '../support/pg-ai.js';

const suite = pgAiSuite();

type Client = { query: (sql: string, values?: unknown[]) => Promise<{ rows: any[] }> };

// Code the static check does not see through: a domain's CHECK and a policy's function, run for whoever reads; and
// functions a superuser declared in LANGUAGE internal with a volatility that lies, which the check takes at its word.
const FIXTURES = `
  CREATE FUNCTION quiet_lock(bigint) RETURNS void LANGUAGE internal IMMUTABLE STRICT AS 'pg_advisory_lock_int8';
  CREATE FUNCTION quiet_unlock_all() RETURNS void LANGUAGE internal STABLE AS 'pg_advisory_unlock_all';
  CREATE FUNCTION lock_ok(bigint) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN true; END$$;
  CREATE DOMAIN counted AS bigint CHECK (lock_ok(VALUE));
  CREATE FUNCTION guard() RETURNS boolean LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); PERFORM pg_advisory_lock(4242); RETURN true; END$$;
  CREATE TABLE guarded (x int);
  INSERT INTO guarded VALUES (1), (0);
  ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
  CREATE POLICY everyone ON guarded USING (guard());
  GRANT SELECT ON guarded TO trust_user;
  CREATE FUNCTION unlocks() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$BEGIN PERFORM pg_advisory_unlock_all(); RETURN true; END$$;
  CREATE TABLE unlocking (x int);
  INSERT INTO unlocking VALUES (1);
  ALTER TABLE unlocking ENABLE ROW LEVEL SECURITY;
  CREATE POLICY everyone ON unlocking USING (unlocks());
  GRANT SELECT ON unlocking TO trust_user;
  CREATE FUNCTION prepares() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$BEGIN EXECUTE 'PREPARE left_behind AS SELECT 1'; RETURN true; END$$;
  CREATE TABLE prepared_t (x int);
  INSERT INTO prepared_t VALUES (1);
  ALTER TABLE prepared_t ENABLE ROW LEVEL SECURITY;
  CREATE POLICY everyone ON prepared_t USING (prepares());
  GRANT SELECT ON prepared_t TO trust_user;
`;

async function shop() {
  const database = await shopWithModel(suite);
  await database.direct.query(FIXTURES);
  return database;
}

/** Advisory locks held in the database, by any session. */
async function advisoryLocks(direct: Client): Promise<number> {
  const { rows } = await direct.query(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                                       WHERE l.locktype = 'advisory' AND d.datname = current_database()`);
  return rows[0].n;
}

async function text2sql(client: Client, sql: string): Promise<any> {
  suite.fake.script({ kind: 'answer', content: JSON.stringify({ sql, explanation: 'hostile' }) });
  return (await client.query(`SELECT pg_llm_text2sql_json('llm', 'a question') AS j`)).rows[0].j;
}

describe('session-level effects of code the static check does not see', () => {
  it("a domain CHECK's session lock is released and the call fails with 38001", async () => {
    const { admin, direct } = await shop();
    await expect(text2sql(admin, `SELECT * FROM jsonb_to_record('{"c": 1}') AS x(c counted)`)).rejects.toMatchObject({ code: '38001' });
    expect(await advisoryLocks(direct)).toBe(0);
    expect((await admin.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it("a lock taken twice by a function that lies about its volatility is released as often as it was taken; the caller's own lock stays", async () => {
    const { reader, direct } = await shop();
    await reader.query('SELECT pg_advisory_lock(77)');
    await expect(text2sql(reader, 'SELECT quiet_lock(4242) AS a, quiet_lock(4242) AS b')).rejects.toMatchObject({
      code: '38001',
      message: expect.stringContaining('left a session-level advisory lock behind, which is not allowed here'),
    });
    const { rows } = await reader.query(`SELECT objid::int AS key FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'`);
    expect(rows).toEqual([{ key: 77 }]);
    expect(await advisoryLocks(direct)).toBe(1);
  });

  it('a lock taken before the statement fails is released too', async () => {
    const { reader, direct } = await shop();
    await expect(text2sql(reader, 'SELECT quiet_lock(4242) AS a, 1 / x AS inverse FROM (VALUES (1), (0)) AS v(x)')).rejects.toMatchObject({ code: '38001' });
    expect(await advisoryLocks(direct)).toBe(0);
    expect((await reader.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('a policy function that prepares a statement leaves none behind', async () => {
    const { reader } = await shop();
    await expect(text2sql(reader, 'SELECT x FROM prepared_t')).rejects.toMatchObject({ code: '38001' });
    expect((await reader.query(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'left_behind'`)).rows).toEqual([{ n: 0 }]);
  });

  it("a function that releases the caller's own locks fails the call", async () => {
    const { reader } = await shop();
    await reader.query('SELECT pg_advisory_lock(77)');
    await expect(text2sql(reader, 'SELECT quiet_unlock_all() AS u')).rejects.toMatchObject({
      code: '38001',
      message: expect.stringContaining("released the session's own advisory locks"),
      detail: expect.stringContaining('advisory lock (77)'),
    });
  });

  it('explain_query of a read through a locking policy leaves no lock', async () => {
    const { reader, direct } = await shop();
    await expect(reader.query('SELECT explain_query($1) AS e', ['SELECT x FROM guarded'])).rejects.toMatchObject({ code: '38001' });
    expect(await advisoryLocks(direct)).toBe(0);
  });
});

describe("the caller's standard_conforming_strings", () => {
  it('is on while the checked SQL runs, so the server reads its strings as the checker did', async () => {
    const { admin, direct } = await shop();
    await admin.query('SET standard_conforming_strings = off');
    const answer = await text2sql(admin, `SELECT E'x\\\\' AS s, 1 AS a, ' , pg_advisory_lock(4242) AS b -- ' AS t`);
    expect(answer.execution.rows).toEqual([{ s: 'x\\', a: 1, t: ' , pg_advisory_lock(4242) AS b -- ' }]);
    // A backslash in a plain string is refused (review L2): the SQL goes back to the caller too, who may run it so.
    await expect(text2sql(admin, `SELECT 'x\\' AS s, 1 AS a, ' , pg_advisory_lock(4242) AS b -- ' AS t`)).rejects.toMatchObject({ code: '38003' });
    expect(await advisoryLocks(direct)).toBe(0);
    expect((await admin.query('SHOW standard_conforming_strings')).rows).toEqual([{ standard_conforming_strings: 'off' }]);
  });
});

describe("the caller's client_encoding", () => {
  // The checked SQL runs with client_encoding UTF8 whatever the session's; one in which a multi-byte character may end
  // with a backslash (SJIS) ends the session before anything runs in it (client-encoding.test.ts).
  it('cannot be one in which a multi-byte character swallows a backslash', async () => {
    const { admin, direct } = await shop();
    admin.on('error', () => undefined);
    await expect(admin.query("SET client_encoding = 'SJIS'")).rejects.toMatchObject({ code: '0A000' });
    expect(await advisoryLocks(direct)).toBe(0);
  });
});

describe('the size of a result', () => {
  it('a result over the 16 MiB default fails with 54000 before the proxy holds it', async () => {
    const { admin } = await shop();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const outcome = admin
      .query(`SELECT pg_llm_execute_sql_with_analysis('llm', $1) AS a`, ["SELECT repeat('x', 100000000) AS x FROM generate_series(1, 10)"])
      .finally(() => clearInterval(sample));
    await expect(outcome).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('16777216 bytes') });
    expect(peak - before).toBeLessThan(256 * 2 ** 20);
    expect((await admin.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 120_000);

  // Review H: 3,500 rows of 1,600 columns, within max_result_bytes, were turned into 5.6 million values of JSON on the
  // event loop, and held every other session for seconds.
  it('refuses a result of more values than the proxy turns into JSON (54000), before it does', async () => {
    const { admin } = await shop();
    const analysis = (sql: string, options: object) => admin.query(`SELECT pg_llm_execute_sql_with_analysis('llm', $1, $2) AS a`, [sql, JSON.stringify(options)]);
    const wide = `SELECT ${Array.from({ length: 1000 }, (_, i) => `1 AS c${i}`).join(', ')} FROM generate_series(1, 300)`;
    await expect(analysis(wide, { max_rows: 10_000 })).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('300000 values'), hint: expect.stringContaining('max_rows') });
    suite.fake.script({ kind: 'answer', content: 'Wide.' });
    const { rows } = await analysis(wide, { max_rows: 200 });
    expect(rows[0].a.row_count).toBe(200);
    expect((await admin.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 60_000);

  it('options.max_result_bytes lowers the cap, within its bounds', async () => {
    const { admin } = await shop();
    const analysis = (sql: string, options: object) => admin.query(`SELECT pg_llm_execute_sql_with_analysis('llm', $1, $2) AS a`, [sql, JSON.stringify(options)]);
    await expect(analysis("SELECT repeat('x', 600) AS x FROM generate_series(1, 3)", { max_result_bytes: 1000 })).rejects.toMatchObject({
      code: '54000',
      message: expect.stringContaining('max_result_bytes (1000 bytes)'),
    });
    await expect(analysis('SELECT 1 AS one', { max_result_bytes: 0 })).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('max_result_bytes') });
    suite.fake.script({ kind: 'answer', content: 'One row.' });
    const { rows } = await analysis("SELECT repeat('x', 600) AS x FROM generate_series(1, 3)", { max_result_bytes: 4000 });
    expect(rows[0].a.row_count).toBe(3);
  });
});

// Review M (R2): the checker and the server must read the same text.
describe('the text the checker reads', () => {
  it('keeps a Unicode space after a name, which PostgreSQL reads as part of the name', async () => {
    const { admin } = await shop();
    // Checked as naming a relation "pg_settings\u00a0" (none), it ran as naming pg_settings.
    for (const space of ['\u00a0', '\u3000']) {
      await expect(text2sql(admin, `SELECT name, setting FROM pg_settings${space};`)).rejects.toMatchObject({ code: '42P01' });
    }
    expect((await admin.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('refuses a NUL, after which the parser read nothing (42601), the session going on', async () => {
    const { admin } = await shop();
    await expect(text2sql(admin, 'SELECT 1 AS a\u0000; DELETE FROM guarded')).rejects.toMatchObject({ code: '42601', message: expect.stringContaining('NUL') });
    expect((await admin.query('SELECT count(*)::int AS n FROM guarded')).rows).toEqual([{ n: 2 }]);
  });

  it("has a result column named q (or any other name) read as a column, not as the row that holds it", async () => {
    const { admin } = await shop();
    suite.fake.script({ kind: 'answer', content: 'Two rows.' });
    const { rows } = await admin.query(`SELECT pg_llm_execute_sql_with_analysis('llm', $1) AS a`, ['SELECT x AS q, 99 AS y FROM (VALUES (1), (0)) AS v(x) ORDER BY x']);
    expect(rows[0].a.rows).toEqual([{ q: 0, y: 99 }, { q: 1, y: 99 }]);
  });
});
