// LLM functions called through the proxy, compared with what PostgreSQL itself would answer.

import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';
import { psql } from '../support/psql.js';
import { RawClient, serialize } from '../support/raw-client.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

/** A fresh database with pg_llm installed through the proxy, a model "m", and a pg client through the proxy. */
async function setup(config: Record<string, unknown> = { mock_mode: 'echo' }): Promise<{ name: string; client: pg.Client; direct: pg.Client }> {
  const { name, client: direct } = await freshDatabase();
  const client = new pg.Client(connection(proxy.port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query('CREATE EXTENSION pg_llm');
  await client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, $1)`, [JSON.stringify(config)]);
  return { name, client, direct };
}

describe('scalar calls', () => {
  it('answers a standalone call in the simple protocol', async () => {
    const { client } = await setup({ mock_response: 'hello there' });
    const result = await client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`);
    expect(result.rows).toEqual([{ answer: 'hello there' }]);
    expect(result.fields.map((field) => field.name)).toEqual(['answer']);
  });

  it('evaluates arguments in the client session: parameters, casts, expressions', async () => {
    const { client } = await setup();
    const result = await client.query(`SELECT pg_llm_chat('m', 'x=' || $1::int * 2) AS answer, 42 AS other`, [21]);
    expect(result.rows).toEqual([{ answer: 'x=42', other: 42 }]);
  });

  it('works inside larger expressions, as the extension would', async () => {
    const { client } = await setup({ mock_response: 'y' });
    const result = await client.query(`SELECT (pg_llm_chat_json('m', 'x') ->> 'response') = 'y' AS same, pg_llm_chat_json('m', 'x') ? 'request_id' AS has_id`);
    expect(result.rows).toEqual([{ same: true, has_id: true }]);
  });

  it('calls nested in calls are computed inner first', async () => {
    const { client } = await setup();
    const result = await client.query(`SELECT pg_llm_chat('m', 'outer:' || pg_llm_chat('m', 'inner')) AS answer`);
    expect(result.rows).toEqual([{ answer: 'outer:inner' }]);
  });

  it('schema-qualified calls are calls; a name in a comment is not', async () => {
    const { client } = await setup();
    const result = await client.query(`SELECT public.pg_llm_chat('m', 'qualified') AS a -- pg_llm_chat('m', 'comment')`);
    expect(result.rows).toEqual([{ a: 'qualified' }]);
  });

  it('a role that is not a superuser calls with its own rights', async () => {
    const { name, client } = await setup();
    await client.query(`CREATE TABLE mine (body text); INSERT INTO mine VALUES ('visible'); GRANT SELECT ON mine TO trust_user`);
    await client.query(`CREATE TABLE hidden (body text); INSERT INTO hidden VALUES ('secret')`);
    const user = new pg.Client(connection(proxy.port, 'trust', name));
    await user.connect();
    afterThisTest(() => user.end());
    expect((await user.query(`SELECT pg_llm_chat('m', body || ' as ' || current_user) AS a FROM mine`)).rows).toEqual([{ a: 'visible as trust_user' }]);
    await expect(user.query(`SELECT pg_llm_chat('m', body) FROM hidden`)).rejects.toMatchObject({ code: '42501' });
  });

  it('a STRICT function with a NULL argument is NULL without a call', async () => {
    const { client } = await setup();
    expect((await client.query(`SELECT pg_llm_chat('m', NULL) AS answer`)).rows).toEqual([{ answer: null }]);
  });

  it('a name in a string literal or an alias is not a call', async () => {
    const { client } = await setup();
    const result = await client.query(`SELECT 'pg_llm_chat(''m'', ''x'')' AS pg_llm_chat`);
    expect(result.rows).toEqual([{ pg_llm_chat: "pg_llm_chat('m', 'x')" }]);
  });

  it('per-row calls over a table give one answer per row, in order', async () => {
    const { client } = await setup();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await client.query(`INSERT INTO docs SELECT g, 'doc ' || g FROM generate_series(1, 20) g`);
    const result = await client.query(`SELECT id, pg_llm_chat('m', body) AS summary FROM docs WHERE id % 2 = 0 ORDER BY id DESC`);
    expect(result.rows).toEqual(Array.from({ length: 10 }, (_, i) => ({ id: 20 - 2 * i, summary: `doc ${20 - 2 * i}` })));
  });

  it('INSERT … SELECT into a NOT NULL column fills every row', async () => {
    const { client } = await setup({ mock_mode: 'md5' });
    await client.query(`CREATE TABLE src (id int PRIMARY KEY, body text)`);
    await client.query(`INSERT INTO src SELECT g, 'doc ' || g FROM generate_series(1, 40) g`);
    await client.query(`CREATE TABLE dst (id int PRIMARY KEY, summary text NOT NULL)`);
    const result = await client.query(`INSERT INTO dst SELECT id, pg_llm_chat('m', body) FROM src RETURNING id`);
    expect(result.rowCount).toBe(40);
    expect((await client.query(`SELECT count(*)::int AS n FROM dst JOIN src USING (id) WHERE summary = md5(body)`)).rows).toEqual([{ n: 40 }]);
  });

  it('UPDATE with a call writes each row once and reports the row count', async () => {
    const { client } = await setup({ mock_mode: 'md5' });
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`INSERT INTO docs SELECT g, 'doc ' || g, NULL FROM generate_series(1, 10) g`);
    const result = await client.query(`UPDATE docs SET summary = pg_llm_chat('m', body) WHERE id <= 7`);
    expect(result.rowCount).toBe(7);
    const check = await client.query(`SELECT count(*)::int AS n FROM docs WHERE summary = md5(body)`);
    expect(check.rows).toEqual([{ n: 7 }]);
  });
});

describe('set-returning calls', () => {
  it('SELECT * FROM pg_llm_chat_stream gives one row per chunk and a final row', async () => {
    const { client } = await setup({ mock_chunks: ['Hel', 'lo', '!'] });
    const result = await client.query(`SELECT seq_no, chunk, is_final FROM pg_llm_chat_stream('m', 'hi') ORDER BY seq_no`);
    expect(result.rows).toEqual([
      { seq_no: 1, chunk: 'Hel', is_final: false },
      { seq_no: 2, chunk: 'lo', is_final: false },
      { seq_no: 3, chunk: '!', is_final: false },
      { seq_no: 4, chunk: '', is_final: true },
    ]);
  });

  it('a call can take its argument from another intercepted function\'s rows', async () => {
    const { client } = await setup({ mock_mode: 'echo' });
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'chunker', NULL, '{"mock_chunks": ["one", "two"]}')`);
    const result = await client.query(`SELECT pg_llm_chat('m', 'got ' || chunk) AS a FROM pg_llm_chat_stream('chunker', 'x') WHERE NOT is_final ORDER BY seq_no`);
    expect(result.rows).toEqual([{ a: 'got one' }, { a: 'got two' }]);
  });

  it('aggregates around a set-returning call work as in PostgreSQL', async () => {
    const { client } = await setup({ mock_chunks: ['a', 'b'] });
    const result = await client.query(`SELECT count(*)::int AS n, bool_or(is_final) AS any_final, string_agg(chunk, '' ORDER BY seq_no) AS text FROM pg_llm_chat_stream('m', 'hi')`);
    expect(result.rows).toEqual([{ n: 3, any_final: true, text: 'ab' }]);
  });
});

describe('errors and transactions', () => {
  it('an unknown model fails with 42704; inside a block the transaction is aborted on both sides', async () => {
    const { client } = await setup();
    await expect(client.query(`SELECT pg_llm_chat('nope', 'hi')`)).rejects.toMatchObject({ code: '42704', message: expect.stringContaining('"nope"') });
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.query('BEGIN');
    await client.query('CREATE TABLE t (a int)');
    await expect(client.query(`SELECT pg_llm_chat('nope', 'hi')`)).rejects.toMatchObject({ code: '42704' });
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect((await client.query(`SELECT to_regclass('t') AS t`)).rows).toEqual([{ t: null }]);
  });

  it('a failure in one row of many fails the statement and writes nothing', async () => {
    const { client } = await setup({ mock_mode: 'echo' });
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`INSERT INTO docs SELECT g, 'doc ' || g, NULL FROM generate_series(1, 500) g`);
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'broken', NULL, '{"mock_error": "row failed"}')`);
    await expect(
      client.query(`UPDATE docs SET summary = pg_llm_chat(CASE WHEN id = 317 THEN 'broken' ELSE 'm' END, body)`),
    ).rejects.toMatchObject({ code: '39001' });
    expect((await client.query(`SELECT count(*)::int AS n FROM docs WHERE summary IS NOT NULL`)).rows).toEqual([{ n: 0 }]);
  });

  it('a statement whose calls change between passes fails with LM002 instead of writing wrong data', async () => {
    const { client } = await setup();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`INSERT INTO docs SELECT g, 'doc ' || g, NULL FROM generate_series(1, 50) g`);
    await expect(client.query(`UPDATE docs SET summary = pg_llm_chat('m', body || random()::text)`)).rejects.toMatchObject({
      code: 'LM002',
      hint: expect.stringContaining('deterministic'),
    });
    expect((await client.query(`SELECT count(*)::int AS n FROM docs WHERE summary IS NOT NULL`)).rows).toEqual([{ n: 0 }]);
  });

  it('a provider failure is 39001, and the session goes on', async () => {
    const { client } = await setup();
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'broken', NULL, '{"mock_error": "boom"}')`);
    await expect(client.query(`SELECT pg_llm_chat('broken', 'hi')`)).rejects.toMatchObject({ code: '39001', message: expect.stringContaining('boom') });
    expect((await client.query(`SELECT pg_llm_chat('m', 'still here') AS a`)).rows).toEqual([{ a: 'still here' }]);
  });

  it('a call inside BEGIN…COMMIT sees the transaction\'s own rows, and its writes commit with it', async () => {
    const { client, direct } = await setup();
    await client.query('CREATE TABLE notes (body text, answer text)');
    await client.query('BEGIN');
    await client.query(`INSERT INTO notes VALUES ('uncommitted row', NULL)`);
    await client.query(`UPDATE notes SET answer = pg_llm_chat('m', body)`);
    expect((await direct.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 0 }]);
    await client.query('COMMIT');
    expect((await direct.query('SELECT answer FROM notes')).rows).toEqual([{ answer: 'uncommitted row' }]);
  });

  it('a Query of several statements is one implicit transaction block, ended or taken over by its own COMMIT, ROLLBACK or BEGIN', async () => {
    const { client, direct } = await setup();
    const warnings: string[] = [];
    client.on('notice', (notice) => warnings.push(String(notice.message)));
    await client.query('CREATE TABLE notes (answer text)');
    await client.query(`INSERT INTO notes VALUES (pg_llm_chat('m', 'rolled back')); ROLLBACK`);
    await client.query(`INSERT INTO notes VALUES (pg_llm_chat('m', 'taken in')); BEGIN; INSERT INTO notes VALUES ('in the block'); ROLLBACK`);
    await expect(client.query(`INSERT INTO notes VALUES (pg_llm_chat('m', 'committed')); COMMIT; INSERT INTO notes VALUES (pg_llm_chat('m', 'failed')); SELECT 1/0`)).rejects.toMatchObject({ code: '22012' });
    await expect(client.query(`SELECT pg_llm_chat('m', 'x'); SAVEPOINT s`)).rejects.toMatchObject({ code: '25P01', message: 'SAVEPOINT can only be used in transaction blocks' });
    expect((await direct.query('SELECT answer FROM notes')).rows).toEqual([{ answer: 'committed' }]);
    // PostgreSQL's own warnings: a COMMIT or ROLLBACK of the implicit block finds no transaction block.
    expect(warnings).toEqual(['there is no transaction in progress', 'there is no transaction in progress']);
  });

  it('writes an audit row per call, unless pg_llm.audit_enabled is off', async () => {
    const { client, direct } = await setup();
    await client.query(`SELECT pg_llm_chat('m', 'one')`);
    await client.query(`SET pg_llm.audit_enabled = off`);
    await client.query(`SELECT pg_llm_chat('m', 'two')`);
    const { rows } = await direct.query(`SELECT event_type, instance_name, success FROM _pg_llm_catalog.pg_llm_audit_log`);
    expect(rows).toEqual([{ event_type: 'chat', instance_name: 'm', success: true }]);
  });

  it('without the catalog a call says how to install it', async () => {
    const { name } = await freshDatabase();
    const client = new pg.Client(connection(proxy.port, 'postgres', name));
    await client.connect();
    afterThisTest(() => client.end());
    const notInstalled = { code: '42883', message: 'pg_llm is not installed in this database', hint: expect.stringContaining('CREATE EXTENSION pg_llm') };
    await expect(client.query(`SELECT pg_llm_chat('m', $1)`, ['hi'])).rejects.toMatchObject(notInstalled);
    await expect(client.query(`SELECT pg_llm_chat('m', 'hi')`)).rejects.toMatchObject(notInstalled);
    // A function of that name that is not pg_llm's is the user's business: it runs as PostgreSQL runs it.
    await client.query(`CREATE FUNCTION pg_llm_chat(a text, b text) RETURNS text LANGUAGE sql AS 'SELECT a || b'`);
    expect((await client.query(`SELECT pg_llm_chat('m', 'hi') AS own`)).rows).toEqual([{ own: 'mhi' }]);
    expect((await client.query(`SELECT pg_llm_chat('m', $1) AS own`, ['x'])).rows).toEqual([{ own: 'mx' }]);
  });
});

describe('errors of concurrent calls', () => {
  it('report the first real error, not the 25P02 of the requests the server skipped after it', async () => {
    const { client } = await setup({ mock_response: 'SELECT 1/0 AS broken' });
    const failing = [
      `SELECT g, pg_llm_text2sql_json('m', 'question ' || g) FROM generate_series(1, 40) AS g`,
      `SELECT g FROM generate_series(1, 40) AS g WHERE pg_llm_text2sql_json('m', 'question ' || g) IS NOT NULL`,
    ];
    for (const sql of failing) {
      await expect(client.query(sql)).rejects.toMatchObject({ code: '22012', message: 'division by zero' });
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    }
  });
});

describe('inputs', () => {
  it("a Query the proxy runs drops the unnamed statement, as PostgreSQL's does: a Bind of it then finds none (26000)", async () => {
    const { name } = await setup();
    for (const unnamed of [`SELECT 'old unnamed'`, `SELECT pg_llm_chat('m', 'old')`]) {
      const raw = await RawClient.session(proxy.port, { database: name });
      afterThisTest(async () => void raw.socket.destroy());
      raw.send(serialize.parse({ text: unnamed, types: [] }), serialize.sync());
      await raw.until('readyForQuery');
      expect((await raw.query(`SELECT pg_llm_chat('m', 'q')`)).find((message) => message.name === 'error')).toBeUndefined();
      raw.send(serialize.bind({}), serialize.execute({}), serialize.sync());
      expect((await raw.until('readyForQuery')).find((message) => message.name === 'error'), unnamed).toMatchObject({ code: '26000' });
    }
  });

  it('wrong argument types get PostgreSQL\'s own 42883, in both protocols', async () => {
    const { client } = await setup();
    await expect(client.query(`SELECT pg_llm_chat(1, 2)`)).rejects.toMatchObject({ code: '42883', message: expect.stringContaining('pg_llm_chat(integer, integer)') });
    await expect(client.query(`SELECT pg_llm_chat($1::int, $2::int)`, [1, 2])).rejects.toMatchObject({ code: '42883' });
    await expect(client.query(`SELECT pg_llm_chat('m')`)).rejects.toMatchObject({ code: '42883' });
    // One argument too many is no declaration's either, whether the call is a whole column or not.
    for (const statement of [`SELECT pg_llm_chat('m', 'x', 'extra')`, `SELECT n, pg_llm_chat('m', 'x', 'extra') FROM generate_series(1, 2) n`]) {
      await expect(client.query(statement), statement).rejects.toMatchObject({ code: '42883', message: expect.stringContaining('pg_llm_chat(unknown, unknown, unknown)') });
    }
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('PREPARE over a call is refused at once with a hint, in both protocols', async () => {
    const { client, name } = await setup();
    await client.query('BEGIN');
    await expect(client.query(`PREPARE p AS SELECT pg_llm_chat('m', 'x')`)).rejects.toMatchObject({ code: '0A000', hint: expect.stringContaining('prepared statements') });
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    const sql = postgres({ ...connection(proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    await expect(sql`PREPARE p2 AS SELECT pg_llm_chat('m', 'x')`).rejects.toMatchObject({ code: '0A000' });
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
  });

  it('named arguments and defaults resolve as PostgreSQL resolves them', async () => {
    const { client } = await setup({ mock_response: 'named' });
    const result = await client.query(`SELECT pg_llm_chat_json(prompt => 'p', instance_name => 'm') ->> 'response' AS r`);
    expect(result.rows).toEqual([{ r: 'named' }]);
  });

  it('carries a prompt of several megabytes intact', async () => {
    const { client } = await setup({ mock_mode: 'md5' });
    const prompt = 'ß€x'.repeat(1_000_000);
    const result = await client.query(`SELECT pg_llm_chat('m', $1) = md5($1) AS same, length($1) AS n`, [prompt]);
    expect(result.rows).toEqual([{ same: true, n: 3_000_000 }]);
  });

  it('identical calls in one statement are computed once', async () => {
    const { client, direct } = await setup();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`INSERT INTO docs SELECT g, 'same text', NULL FROM generate_series(1, 12) g`);
    await client.query(`UPDATE docs SET summary = pg_llm_chat('m', body)`);
    expect((await direct.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_audit_log`)).rows).toEqual([{ n: 1 }]);
    // The same on the fast path of whole output columns: twelve rows, one call.
    expect((await client.query(`SELECT id, pg_llm_chat('m', body) FROM docs`)).rowCount).toBe(12);
    expect((await direct.query(`SELECT count(*)::int AS n FROM _pg_llm_catalog.pg_llm_audit_log`)).rows).toEqual([{ n: 2 }]);
    expect((await direct.query(`SELECT count(*)::int AS n FROM docs WHERE summary = 'same text'`)).rows).toEqual([{ n: 12 }]);
  });

  it('a statement with many calls sends progress NOTICEs as it goes, unless pg_llm.progress is off', async () => {
    const { client } = await setup({ mock_mode: 'echo', mock_latency_ms: 400 });
    const notices: string[] = [];
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    // The test proxy runs 16 calls at once: 64 distinct calls of 400 ms take four waves, over a second and a half.
    const sql = `SELECT pg_llm_chat('m', 'row ' || g) FROM generate_series(1, 64) g`;
    await client.query(sql);
    expect(notices.length).toBeGreaterThan(0);
    expect(notices[0]).toMatch(/^pg_llm: \d+( of 64)? calls done/);
    notices.length = 0;
    await client.query('SET pg_llm.progress = off');
    await client.query(sql.replace('row ', 'again '));
    expect(notices).toEqual([]);
  });

  it('a model\'s max_concurrency holds across the sessions calling it', async () => {
    const { name } = await setup({ mock_mode: 'echo', mock_latency_ms: 300, max_concurrency: 2 });
    const clients = await Promise.all(
      [0, 1].map(async () => {
        const client = new pg.Client(connection(proxy.port, 'postgres', name));
        await client.connect();
        afterThisTest(() => client.end());
        return client;
      }),
    );
    const started = Date.now();
    const answers = await Promise.all(
      clients.map((client, i) => client.query(`SELECT pg_llm_chat('m', 's${i} row ' || g) AS a FROM generate_series(1, 3) g`)),
    );
    // Six calls, two at a time, 300 ms each: three waves can take no less than 900 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(850);
    expect(answers.map((result) => result.rows.length)).toEqual([3, 3]);
  });

  it('concurrent sessions each get their own answers', async () => {
    const { name } = await setup({ mock_mode: 'echo', mock_latency_ms: 50 });
    const sessions = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const client = new pg.Client(connection(proxy.port, 'postgres', name));
        await client.connect();
        afterThisTest(() => client.end());
        const { rows } = await client.query(`SELECT pg_llm_chat('m', 'session ' || $1::int) AS a FROM generate_series(1, 3)`, [i]);
        return rows.map((row: { a: string }) => row.a);
      }),
    );
    expect(sessions).toEqual(Array.from({ length: 12 }, (_, i) => Array(3).fill(`session ${i}`)));
  });
});

describe('model secrets', () => {
  it('stores the API key and secret config only sealed; a session without the master key cannot open them', async () => {
    const { name, client, direct } = await setup();
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'keyed', 'sk-live-abcdef123456', '{"mock_response": "sealed ok", "auth_token": "tok-999888777"}')`);
    const { rows } = await direct.query(`SELECT api_key, config, encode(encrypted_api_key, 'escape') AS sealed_key, encode(encrypted_config, 'escape') AS sealed_config FROM _pg_llm_catalog.pg_llm_models WHERE instance_name = 'keyed'`);
    // No part of a secret is shown, not even its last characters.
    expect(rows[0].api_key).toBe('****');
    expect(rows[0].config).toEqual({ provider: 'mock', mock_response: 'sealed ok', auth_token: '****' });
    expect(rows[0].sealed_key).not.toContain('abcdef');
    expect(rows[0].sealed_config).not.toContain('tok-999');
    // A catalog of a version that showed a key's last four characters shows none once upgraded, and the key still opens.
    await direct.query(`UPDATE _pg_llm_catalog.pg_llm_models SET api_key = '****3456' WHERE instance_name = 'keyed'`);
    await direct.query(`DELETE FROM _pg_llm_catalog.migrations WHERE name LIKE '0017%'`);
    await client.query('ALTER EXTENSION pg_llm UPDATE');
    expect((await direct.query(`SELECT api_key FROM _pg_llm_catalog.pg_llm_models WHERE instance_name = 'keyed'`)).rows).toEqual([{ api_key: '****' }]);
    expect((await client.query(`SELECT pg_llm_chat('keyed', 'x') AS a`)).rows).toEqual([{ a: 'sealed ok' }]);

    const otherProxy = await startProxy({ masterKey: 'some other key' });
    afterThisTest(() => otherProxy.stop());
    const stranger = new pg.Client(connection(otherProxy.port, 'postgres', name));
    await stranger.connect();
    afterThisTest(() => stranger.end());
    await expect(stranger.query(`SELECT pg_llm_chat('keyed', 'x')`)).rejects.toMatchObject({ code: '28000', message: expect.not.stringContaining('sk-live') });
    await stranger.query(`SET pg_llm.master_key = 'test master key'`);
    expect((await stranger.query(`SELECT pg_llm_chat('keyed', 'x') AS a`)).rows).toEqual([{ a: 'sealed ok' }]);
  });
});

describe('extended protocol', () => {
  it('postgres.js: parameters, named prepared statements reused, pipelined with plain queries', async () => {
    const { name } = await setup({ mock_mode: 'echo' });
    const sql = postgres({ ...connection(proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    const results = await Promise.all([
      sql`SELECT pg_llm_chat('m', ${'first'}) AS a`,
      sql`SELECT 1 AS plain`,
      sql`SELECT pg_llm_chat('m', ${'second'}) AS a`,
      sql`SELECT pg_llm_chat('m', ${'third'}) AS a`,
    ]);
    expect(results.map((rows) => rows[0])).toEqual([{ a: 'first' }, { plain: 1 }, { a: 'second' }, { a: 'third' }]);
  });

  it('pg with a named prepared statement executed many times', async () => {
    const { client } = await setup();
    for (const word of ['a', 'b', 'c']) {
      const result = await client.query({ name: 'ask', text: `SELECT pg_llm_chat('m', $1) AS answer`, values: [word] });
      expect(result.rows).toEqual([{ answer: word }]);
    }
  });

  it('an error in a pipelined call skips the rest of its batch only', async () => {
    const { name } = await setup();
    const sql = postgres({ ...connection(proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    const outcomes = await Promise.allSettled([sql`SELECT pg_llm_chat('nope', 'x')`, sql`SELECT 2 AS two`]);
    expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: { code: '42704' } });
    expect(outcomes[1]).toMatchObject({ status: 'fulfilled', value: [{ two: 2 }] });
  });
});

describe('installing through the proxy', () => {
  it('postgres.js (extended protocol) creates, re-creates with IF NOT EXISTS, and drops the extension', async () => {
    const { name, client: direct } = await freshDatabase();
    const sql = postgres({ ...connection(proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    await sql`CREATE EXTENSION pg_llm`;
    await expect(sql`CREATE EXTENSION pg_llm`).rejects.toMatchObject({ code: '42710' });
    await sql`CREATE EXTENSION IF NOT EXISTS pg_llm`;
    await sql`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{}')`;
    expect(await sql`SELECT pg_llm_chat('m', ${'hi'}) AS a`).toEqual([{ a: 'hi' }]);
    await sql`DROP EXTENSION pg_llm CASCADE`;
    await expect(sql`DROP EXTENSION pg_llm`).rejects.toMatchObject({ code: '42704' });
    await sql`DROP EXTENSION IF EXISTS pg_llm`;
    expect((await direct.query(`SELECT to_regnamespace('_pg_llm_catalog') AS schema`)).rows).toEqual([{ schema: null }]);
  });

  it('a catalog dropped by another session is noticed: after one failed call, the next says pg_llm is not installed', async () => {
    const { name } = await freshDatabase();
    const other = new pg.Client(connection(proxy.port, 'postgres', name));
    await other.connect();
    afterThisTest(() => other.end());
    for (const extended of [false, true]) {
      const client = new pg.Client(connection(proxy.port, 'postgres', name));
      await client.connect();
      afterThisTest(() => client.end());
      await client.query('CREATE EXTENSION pg_llm');
      await client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{}')`);
      const call = () => (extended ? client.query(`SELECT 1 AS n, pg_llm_chat('m', $1) AS a`, ['hi']) : client.query(`SELECT 1 AS n, pg_llm_chat('m', 'hi') AS a`));
      expect((await call()).rows).toEqual([{ n: 1, a: 'hi' }]);
      await other.query('DROP EXTENSION pg_llm CASCADE');
      await expect(call()).rejects.toBeDefined();
      await expect(call()).rejects.toMatchObject({ code: '42883', message: 'pg_llm is not installed in this database', hint: expect.stringContaining('CREATE EXTENSION pg_llm') });
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    }
  });

  it('a role without the privilege to install gets PostgreSQL\'s own error, and nothing is left behind', async () => {
    const { name, client: direct } = await freshDatabase();
    const client = new pg.Client(connection(proxy.port, 'trust', name));
    await client.connect();
    afterThisTest(() => client.end());
    await expect(client.query('CREATE EXTENSION pg_llm')).rejects.toMatchObject({ code: '42501' });
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect((await direct.query(`SELECT to_regnamespace('_pg_llm_catalog') AS schema`)).rows).toEqual([{ schema: null }]);
  });
});

describe('psql', () => {
  it('runs a script with CREATE EXTENSION, model setup, calls and DROP EXTENSION', async () => {
    const { name } = await freshDatabase();
    const script = [
      'CREATE EXTENSION IF NOT EXISTS pg_llm;',
      `SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_response": "ok"}');`,
      `SELECT pg_llm_chat('m', 'hello');`,
      `SELECT chunk FROM pg_llm_chat_stream('m', 'hello') WHERE NOT is_final;`,
      'DROP EXTENSION pg_llm CASCADE;',
    ].join('\n');
    const result = await psql([], { port: proxy.port, database: name, input: script });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toEqual(['CREATE EXTENSION', 't', 'ok', 'ok', 'DROP EXTENSION']);
    expect(result.status).toBe(0);
  });
});

describe('streaming', () => {
  it('sends each chunk of SELECT * FROM pg_llm_chat_stream as the provider produces it', async () => {
    const { name } = await setup({ mock_chunks: ['one ', 'two ', 'three'], mock_latency_ms: 400 });
    const sql = postgres({ ...connection(proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    const arrivals: number[] = [];
    const chunks: string[] = [];
    await sql`SELECT chunk, seq_no FROM pg_llm_chat_stream('m', 'count')`.forEach((row) => {
      arrivals.push(Date.now());
      chunks.push(row.chunk as string);
    });
    expect(chunks).toEqual(['one ', 'two ', 'three', '']);
    // Buffered to the end, all rows would arrive together; streamed, they are about one chunk's latency apart.
    expect(arrivals[2]! - arrivals[0]!).toBeGreaterThan(400);
  });

  it('gives the same rows in text, streamed or through the general path', async () => {
    const { client } = await setup({ mock_chunks: ['a', 'b'], model_name: 'mock-1', mock_confidence: 0.25 });
    const streamed = await client.query({ text: `SELECT * FROM pg_llm_chat_stream('m', $1)`, values: ['x'] });
    const general = await client.query({ text: `SELECT * FROM pg_llm_chat_stream('m', $1) ORDER BY seq_no`, values: ['x'] });
    const expected = [
      { seq_no: 1, chunk: 'a', is_final: false, model_name: 'mock-1', confidence_score: null },
      { seq_no: 2, chunk: 'b', is_final: false, model_name: 'mock-1', confidence_score: null },
      { seq_no: 3, chunk: '', is_final: true, model_name: 'mock-1', confidence_score: 0.25 },
    ];
    for (const result of [streamed, general]) {
      expect(result.rows.map(({ request_id, ...rest }) => rest)).toEqual(expected);
      expect(new Set(result.rows.map((row) => row.request_id)).size).toBe(1);
      expect(result.fields.map((field) => [field.name, field.dataTypeID])).toEqual([
        ['seq_no', 23], ['chunk', 25], ['is_final', 16], ['model_name', 25], ['confidence_score', 701], ['request_id', 2950],
      ]);
    }
  });

  it('encodes streamed rows in binary exactly as PostgreSQL does for the general path', async () => {
    const { name } = await setup({ mock_chunks: ['a', 'b'], model_name: 'mock-1', mock_confidence: 0.25 });
    const raw = await RawClient.session(proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    const run = async (sql: string): Promise<Array<Array<Buffer | null>>> => {
      const { messages, rows } = await raw.binaryQuery(sql, ['x']);
      const description = messages.find((message) => message.name === 'rowDescription') as unknown as { fields: Array<{ format: string }> };
      expect(description.fields.map((field) => field.format)).toEqual(Array(6).fill('binary'));
      return rows;
    };
    const withoutRequestId = (rows: Array<Array<Buffer | null>>) => rows.map((row) => row.slice(0, 5).map((value) => value?.toString('hex') ?? null));
    const streamed = await run(`SELECT * FROM pg_llm_chat_stream('m', $1)`);
    const general = await run(`SELECT * FROM pg_llm_chat_stream('m', $1) ORDER BY seq_no`);
    expect(withoutRequestId(streamed)).toEqual(withoutRequestId(general));
    expect(streamed[2]![0]!.readInt32BE(0)).toBe(3);
    expect(streamed[2]![4]!.readDoubleBE(0)).toBe(0.25);
    expect(streamed.every((row) => row[5]!.length === 16)).toBe(true);
  });

  it('sends rows of a per-row projection in order as their calls complete, not all at the end', async () => {
    const { name, client } = await setup({ mock_mode: 'echo', mock_latency_ms: 300 });
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await client.query(`INSERT INTO docs SELECT g, 'doc ' || g FROM generate_series(1, 48) g`);
    const sql = postgres({ ...connection(proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    const arrivals: number[] = [];
    const rows: Array<{ id: number; answer: string }> = [];
    await sql`SELECT id, pg_llm_chat('m', body) AS answer FROM docs ORDER BY id`.forEach((row) => {
      arrivals.push(Date.now());
      rows.push(row as { id: number; answer: string });
    });
    expect(rows).toEqual(Array.from({ length: 48 }, (_, i) => ({ id: i + 1, answer: `doc ${i + 1}` })));
    // 48 calls, 16 at a time, 300 ms each: three waves; buffered to the end, every row would arrive at once.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(300);
  });

  it('a column list and an alias select and rename the streamed columns', async () => {
    const { client } = await setup({ mock_chunks: ['x'] });
    const result = await client.query(`SELECT s.piece, is_final FROM pg_llm_chat_stream('m', 'q') AS s(n, piece)`);
    expect(result.rows).toEqual([
      { piece: 'x', is_final: false },
      { piece: '', is_final: true },
    ]);
  });
});

describe('cancel and row limits', () => {
  it('a cancel stops the model call at once with 57014, and the session goes on', async () => {
    const { name } = await setup({ mock_response: 'slow', mock_latency_ms: 20_000 });
    const sql = postgres({ ...connection(proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    const query = sql`SELECT pg_llm_chat('m', 'wait') AS answer`.execute();
    setTimeout(() => void query.cancel(), 300);
    const started = Date.now();
    await expect(query).rejects.toMatchObject({ code: '57014' });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
  });

  it('a cancelled call inside a transaction block leaves it aborted', async () => {
    const { name } = await setup({ mock_latency_ms: 20_000 });
    const sql = postgres({ ...connection(proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    await expect(
      sql.begin(async (tx) => {
        const query = tx`SELECT pg_llm_chat('m', 'wait')`.execute();
        setTimeout(() => void query.cancel(), 300);
        await query.catch(async (error: unknown) => {
          await expect(tx`SELECT 1`).rejects.toMatchObject({ code: '25P02' });
          throw error;
        });
      }),
    ).rejects.toMatchObject({ code: '57014' });
  });

  it('pg_cancel_backend on a client\'s pid stops that client\'s model call', async () => {
    const { name } = await setup({ mock_latency_ms: 20_000 });
    const [busy, other] = [new pg.Client(connection(proxy.port, 'postgres', name)), new pg.Client(connection(proxy.port, 'postgres', name))];
    await Promise.all([busy.connect(), other.connect()]);
    afterThisTest(async () => void (await Promise.all([busy.end(), other.end()])));
    const pid = (busy as unknown as { processID: number }).processID;
    // Caught at once: the cancel may land before the pg_cancel_backend query itself has answered.
    const slow = busy.query(`SELECT pg_llm_chat('m', 'wait')`).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await other.query(`SELECT pg_cancel_backend(${pid}) AS cancelled`)).rows).toEqual([{ cancelled: true }]);
    expect(await slow).toMatchObject({ code: '57014' });
    expect((await busy.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    // The session ends with the server's FATAL, which pg emits as 'error' (no query is running), and no second
    // FATAL of the proxy's after it (pg adds its own word on the closed socket).
    const errors: Array<{ code?: string }> = [];
    busy.on('error', (error) => errors.push(error as { code?: string }));
    const ended = new Promise((resolve) => busy.once('end', resolve));
    expect((await other.query(`SELECT pg_terminate_backend(${pid}) AS ended`)).rows).toEqual([{ ended: true }]);
    await ended;
    expect(errors[0]).toMatchObject({ code: '57P01' });
    expect(errors.filter((error) => error.code !== undefined)).toHaveLength(1);
  });

  it('Execute with a row limit returns the rows in parts (PortalSuspended)', async () => {
    const { name, client } = await setup();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await client.query(`INSERT INTO docs SELECT g, 'doc ' || g FROM generate_series(1, 7) g`);
    const sql = postgres({ ...connection(proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    const batches: string[][] = [];
    await sql.begin(async (tx) => {
      for await (const rows of tx`SELECT id, pg_llm_chat('m', body) AS answer FROM docs ORDER BY id`.cursor(3)) {
        batches.push(rows.map((row) => row.answer as string));
      }
    });
    expect(batches).toEqual([
      ['doc 1', 'doc 2', 'doc 3'],
      ['doc 4', 'doc 5', 'doc 6'],
      ['doc 7'],
    ]);
  });
});
