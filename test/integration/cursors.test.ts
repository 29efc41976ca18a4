// Cursors over LLM calls: DECLARE, FETCH, MOVE and CLOSE through the proxy, as psql (FETCH_COUNT), node-postgres
// (both protocols), postgres.js and a bare protocol client send them.

import pg from 'pg';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { cluster, connection } from '../support/proxy.js';
import { psql, startPsql } from '../support/psql.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const TEXT_OID = 25;
/** Rows of docs with their answers from the echoing model "m". */
const ANSWERS = [1, 2, 3, 4, 5].map((id) => ({ id, answer: `doc ${id}` }));
const DECLARE = `DECLARE c CURSOR FOR SELECT id, pg_llm_chat('m', body) AS answer FROM docs ORDER BY id`;

/** A database with docs(id, body) of five rows, the fake provider's model "llm", and "m", which echoes prompts. */
async function setup() {
  const database = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await database.client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_mode": "echo"}')`);
  await database.client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text); INSERT INTO docs SELECT g, 'doc ' || g FROM generate_series(1, 5) g`);
  return database;
}

/** The prompts the fake provider was sent, in order. */
function prompts(): string[] {
  return shared.fake.requests.map((request) => (request.body.messages as Array<{ content: string }>).at(-1)!.content);
}

describe('psql with FETCH_COUNT', () => {
  it('fetches the rows in batches through a cursor', async () => {
    const { name } = await setup();
    const result = await psql(['-v', 'FETCH_COUNT=2', '-c', `SELECT id, pg_llm_chat('m', body) AS answer FROM docs ORDER BY id`], { port: shared.proxy.port, database: name });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(ANSWERS.map(({ id, answer }) => `${id}|${answer}\n`).join(''));
  });

  it('with FETCH_COUNT 1 shows each answer as it arrives, and a cancel stops the model call', async () => {
    const { name } = await setup();
    shared.fake.script({ kind: 'answer', content: 'first answer' }, { kind: 'stall' });
    const running = startPsql(['-v', 'FETCH_COUNT=1', '-c', `SELECT id, pg_llm_chat('llm', body) FROM docs ORDER BY id`], { port: shared.proxy.port, database: name });
    // Printed while the second row's call is still out (psql ends a row's line when the next begins).
    await expect.poll(() => running.stdout(), { timeout: 15_000 }).toBe('1|first answer');
    await expect.poll(() => shared.fake.requests.length, { timeout: 15_000 }).toBe(2);
    running.child.kill('SIGINT');
    const result = await running.done;
    expect(result.stderr).toContain('canceling statement due to user request');
    expect(result.stdout.trim()).toBe('1|first answer');
    await expect.poll(() => shared.fake.requests[1]!.aborted).toBe(true);
  });
});

describe('DECLARE and FETCH', () => {
  it('FETCH returns the next rows with their answers, typed as the function returns them', async () => {
    const { client } = await setup();
    await client.query('BEGIN');
    expect((await client.query(DECLARE)).command).toBe('DECLARE');
    const first = await client.query('FETCH 2 FROM c');
    expect(first.rows).toEqual(ANSWERS.slice(0, 2));
    expect(first.command).toBe('FETCH');
    expect(first.fields.map((field) => field.dataTypeID)).toEqual([23, TEXT_OID]);
    expect((await client.query('FETCH NEXT FROM c')).rows).toEqual(ANSWERS.slice(2, 3));
    expect((await client.query('MOVE FORWARD 1 IN c')).rowCount).toBe(1);
    expect((await client.query('FETCH ALL FROM c')).rows).toEqual(ANSWERS.slice(4));
    expect((await client.query('FETCH 1 FROM c')).rows).toEqual([]);
    await client.query('CLOSE c');
    await client.query('COMMIT');
  });

  it('calls the model only for the rows fetched', async () => {
    const { client } = await setup();
    await client.query(`BEGIN; DECLARE f CURSOR FOR SELECT pg_llm_chat('llm', body) AS answer FROM docs ORDER BY id`);
    expect((await client.query('FETCH 1 FROM f')).rows).toEqual([{ answer: 'default answer' }]);
    await client.query('MOVE 2 FROM f');
    expect((await client.query('FETCH RELATIVE 2 FROM f')).rows).toHaveLength(1);
    expect(prompts()).toEqual(['doc 1', 'doc 5']);
    await client.query('COMMIT');
  });

  it('works in the extended protocol, with parameters, named statements and binary results', async () => {
    const { client } = await setup();
    await client.query('BEGIN');
    await client.query(`DECLARE c CURSOR FOR SELECT id, pg_llm_chat('m', body || $1) AS answer FROM docs WHERE id > $2 ORDER BY id`, ['!', 1]);
    const fetch = { name: 'fetch_two', text: 'FETCH 2 FROM c' };
    const first = await client.query(fetch);
    expect(first.rows).toEqual([{ id: 2, answer: 'doc 2!' }, { id: 3, answer: 'doc 3!' }]);
    expect(first.fields.map((field) => field.dataTypeID)).toEqual([23, TEXT_OID]);
    expect((await client.query({ ...fetch, binary: true } as pg.QueryConfig)).rows).toEqual([{ id: 4, answer: 'doc 4!' }, { id: 5, answer: 'doc 5!' }]);
    await client.query('COMMIT');
  });

  it('a BINARY cursor sends binary rows to a simple Query, as PostgreSQL does', async () => {
    const { client } = await setup();
    await client.query(`BEGIN; ${DECLARE.replace('c CURSOR', 'b BINARY CURSOR')}`);
    const fetched = await client.query('FETCH 2 FROM b');
    expect(fetched.fields.map((field) => field.format)).toEqual(['binary', 'binary']);
    expect(fetched.rows).toEqual(ANSWERS.slice(0, 2));
    await client.query('COMMIT');
  });

  it('a cursor WITH HOLD lives on after COMMIT, and outside a transaction block', async () => {
    const { client } = await setup();
    await client.query(`BEGIN; ${DECLARE.replace('CURSOR', 'CURSOR WITH HOLD')}; COMMIT`);
    expect((await client.query('FETCH 2 FROM c')).rows).toEqual(ANSWERS.slice(0, 2));
    await client.query(DECLARE.replace('c CURSOR', 'h CURSOR WITH HOLD'));
    expect((await client.query('FETCH ALL FROM h')).rows).toEqual(ANSWERS);
    expect((await client.query('FETCH ALL FROM c')).rows).toEqual(ANSWERS.slice(2));
    await client.query('CLOSE ALL');
    await expect(client.query('FETCH 1 FROM c')).rejects.toMatchObject({ code: '34000' });
  });

  it('without hold and outside a transaction block, it is refused as PostgreSQL refuses it, in both protocols', async () => {
    const { client } = await setup();
    const refused = { code: '25P01', message: 'DECLARE CURSOR can only be used in transaction blocks' };
    const filtering = `DECLARE w CURSOR FOR SELECT id FROM docs WHERE pg_llm_chat('m', body) = $1`;
    await expect(client.query(DECLARE)).rejects.toMatchObject(refused);
    await expect(client.query(filtering.replace('$1', "'x'"))).rejects.toMatchObject(refused);
    await expect(client.query(filtering, ['x'])).rejects.toMatchObject(refused);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('after CLOSE the name is free: another cursor under it is PostgreSQL\'s own', async () => {
    const { client } = await setup();
    await client.query(`BEGIN; ${DECLARE}`);
    await client.query('CLOSE c');
    await client.query(`DECLARE c CURSOR FOR SELECT 'plain' AS answer`);
    expect((await client.query('FETCH ALL FROM c')).rows).toEqual([{ answer: 'plain' }]);
    await client.query('ROLLBACK');
  });

  it('a cursor whose call is not an output column computes its calls at DECLARE, and scrolls', async () => {
    const { client } = await setup();
    await client.query('BEGIN');
    await client.query(`DECLARE w SCROLL CURSOR FOR SELECT id FROM docs WHERE pg_llm_chat('m', body) IN ('doc 2', 'doc 4') ORDER BY id`);
    expect((await client.query('FETCH ALL FROM w')).rows).toEqual([{ id: 2 }, { id: 4 }]);
    expect((await client.query('FETCH PRIOR FROM w')).rows).toEqual([{ id: 4 }]);
    await client.query('COMMIT');
    await expect(client.query(`DECLARE w CURSOR WITH HOLD FOR SELECT id FROM docs WHERE pg_llm_chat('m', body) = 'x'`)).rejects.toMatchObject({
      code: '0A000',
      hint: expect.stringContaining('WITHOUT HOLD'),
    });
  });
});

describe('what a cursor over LLM calls refuses, and how it fails', () => {
  it('going back is refused with a hint, and the cursor goes on forward', async () => {
    const { client } = await setup();
    await client.query(`BEGIN; ${DECLARE.replace('CURSOR', 'SCROLL CURSOR')}`);
    expect((await client.query('FETCH 1 FROM c')).rows).toEqual(ANSWERS.slice(0, 1));
    for (const backward of ['FETCH PRIOR FROM c', 'FETCH BACKWARD 1 FROM c', 'FETCH ABSOLUTE 1 FROM c', 'FETCH RELATIVE 0 FROM c', 'MOVE BACKWARD ALL IN c', 'FETCH -1 FROM c']) {
      await client.query('SAVEPOINT s');
      await expect(client.query(backward)).rejects.toMatchObject({ code: '0A000', message: 'cursor "c" over LLM calls can only move forward', hint: expect.stringContaining('CREATE TABLE') });
      await client.query('ROLLBACK TO SAVEPOINT s');
    }
    expect((await client.query('FETCH 1 FROM c')).rows).toEqual(ANSWERS.slice(1, 2));
    await client.query('COMMIT');
  });

  it('a failed call fails the FETCH and aborts the transaction', async () => {
    const { client } = await setup();
    shared.fake.script({ kind: 'error', status: 400, message: 'bad request' });
    await client.query(`BEGIN; DECLARE f CURSOR FOR SELECT pg_llm_chat('llm', body) FROM docs`);
    await expect(client.query('FETCH 1 FROM f')).rejects.toMatchObject({ message: expect.stringContaining('bad request') });
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('postgres.js (extended protocol) fetches, and a cancel during FETCH stops the model call with 57014', async () => {
    const { name } = await setup();
    shared.fake.script({ kind: 'stall' });
    const sql = postgres({ ...connection(shared.proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    const transaction = sql.begin(async (tx) => {
      await tx.unsafe(DECLARE);
      expect(await tx`FETCH 2 FROM c`).toEqual(ANSWERS.slice(0, 2));
      await tx.unsafe(`DECLARE f CURSOR FOR SELECT pg_llm_chat('llm', body) FROM docs`);
      const fetching = tx`FETCH 1 FROM f`.execute();
      await expect.poll(() => shared.fake.requests.length).toBe(1);
      void fetching.cancel();
      await fetching;
    });
    await expect(transaction).rejects.toMatchObject({ code: '57014' });
    await expect.poll(() => shared.fake.requests[0]!.aborted).toBe(true);
    expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
  });
});

describe('reads the proxy does not see', () => {
  it('a FETCH prepared before the cursor was declared fails loudly, never reads the calls\' arguments', async () => {
    const { client } = await setup();
    const fetch = { name: 'f', text: 'FETCH 2 FROM c' };
    await client.query(`BEGIN; DECLARE c CURSOR FOR SELECT id, body AS answer FROM docs ORDER BY id`);
    expect((await client.query(fetch)).rows).toEqual(ANSWERS.slice(0, 2));
    await client.query(`CLOSE c; ${DECLARE}`);
    await expect(client.query(fetch)).rejects.toMatchObject({ code: '34000' });
    await client.query('ROLLBACK');
  });

  it('a PL/pgSQL function reading the cursor fails loudly', async () => {
    const { client } = await setup();
    await client.query(`CREATE FUNCTION first_answer(r refcursor) RETURNS text LANGUAGE plpgsql AS $$ DECLARE row record; BEGIN FETCH r INTO row; RETURN row.answer; END $$`);
    await client.query(`BEGIN; ${DECLARE}`);
    await expect(client.query(`SELECT first_answer('c')`)).rejects.toMatchObject({ code: '34000' });
    await client.query('ROLLBACK');
  });
});

describe('cursor names', () => {
  it('a name in use is refused with 42P03, whichever cursor holds it', async () => {
    const { client } = await setup();
    const duplicate = { code: '42P03', message: 'cursor "c" already exists' };
    await client.query(`BEGIN; ${DECLARE}`);
    for (const again of [DECLARE, `DECLARE c CURSOR FOR SELECT id FROM docs WHERE pg_llm_chat('m', body) = 'x'`]) {
      await client.query('SAVEPOINT s');
      await expect(client.query(again)).rejects.toMatchObject(duplicate);
      await client.query('ROLLBACK TO SAVEPOINT s');
    }
    await client.query(`CLOSE c; DECLARE c CURSOR FOR SELECT 1`);
    await expect(client.query(DECLARE)).rejects.toMatchObject(duplicate);
    await client.query('ROLLBACK');
  });

  it('a cursor declared under the name of an open one (which PostgreSQL refuses) makes reading the name fail', async () => {
    const { client } = await setup();
    await client.query(`BEGIN; ${DECLARE}; DECLARE c CURSOR FOR SELECT 1`);
    for (const read of ['FETCH 1 FROM c', { name: 'move', text: 'MOVE 1 IN c' }]) {
      await client.query('SAVEPOINT s');
      await expect(client.query(read)).rejects.toMatchObject({ code: '42P03', message: 'cursor "c" is declared twice' });
      await client.query('ROLLBACK TO SAVEPOINT s');
    }
    await client.query('CLOSE c');
    expect((await client.query('FETCH 1 FROM c')).rows).toEqual([{ '?column?': 1 }]);
    await client.query('COMMIT');
  });

  it('MOVE and CLOSE in both protocols act on them under the names pg_cursors has, and so does CLOSE ALL', async () => {
    const { client } = await setup();
    const open = async () => (await client.query(`SELECT count(*)::int AS n FROM pg_cursors WHERE name LIKE 'pg\\_llm\\_arguments\\_%'`)).rows[0].n;
    await client.query(`BEGIN; ${DECLARE}; ${DECLARE.replace('c CURSOR', 'd CURSOR')}`);
    expect(await open()).toBe(2);
    expect((await client.query({ name: 'move', text: 'MOVE 2 IN c' })).rowCount).toBe(2);
    expect((await client.query('FETCH 1 FROM c')).rows).toEqual(ANSWERS.slice(2, 3));
    await client.query('CLOSE c');
    await client.query({ name: 'close_d', text: 'CLOSE d' });
    expect(await open()).toBe(0);
    await client.query(DECLARE);
    await client.query('CLOSE ALL');
    await client.query('SAVEPOINT s');
    await expect(client.query('FETCH 1 FROM c')).rejects.toMatchObject({ code: '34000', message: 'cursor "c" does not exist' });
    await client.query('ROLLBACK TO SAVEPOINT s');
    await client.query(DECLARE);
    expect((await client.query('FETCH 1 FROM c')).rows).toEqual(ANSWERS.slice(0, 1));
    await client.query('COMMIT');
  });

  it("the client's cursors and prepared statements under the names the proxy had for its own are left alone", async () => {
    const { client } = await setup();
    const names = ['pg_llm_internal', 'pg_llm_pass', 'pg_llm_final', 'pg_llm_projection', 'pg_llm_declare', 'pg_llm_cursor_rows', 'pg_llm_cursor_query', 'pg_llm_query'];
    await client.query('BEGIN');
    for (const name of names) await client.query(`DECLARE ${name} CURSOR FOR SELECT '${name}' AS mine; PREPARE ${name} AS SELECT '${name}' AS mine`);
    // Each way the proxy runs calls: whole columns in both protocols, passes, and cursors of both kinds.
    expect((await client.query(`SELECT pg_llm_chat('m', 'a') AS answer`)).rows).toEqual([{ answer: 'a' }]);
    expect((await client.query(`SELECT pg_llm_chat('m', $1) AS answer`, ['b'])).rows).toEqual([{ answer: 'b' }]);
    expect((await client.query(`SELECT 1 AS one WHERE pg_llm_chat('m', 'c') = 'c'`)).rows).toEqual([{ one: 1 }]);
    await client.query(DECLARE);
    expect((await client.query('FETCH 1 FROM c')).rows).toEqual(ANSWERS.slice(0, 1));
    await client.query(`DECLARE w CURSOR FOR SELECT id FROM docs WHERE pg_llm_chat('m', body) = 'doc 2'`);
    expect((await client.query('FETCH ALL FROM w')).rows).toEqual([{ id: 2 }]);
    for (const name of names) {
      expect((await client.query(`FETCH 1 FROM ${name}`)).rows).toEqual([{ mine: name }]);
      expect((await client.query(`EXECUTE ${name}`)).rows).toEqual([{ mine: name }]);
    }
    await client.query('COMMIT');
  });

  it('DISCARD ALL forgets them, and the name is free again', async () => {
    const { client } = await setup();
    const held = DECLARE.replace('CURSOR', 'CURSOR WITH HOLD');
    await client.query(held);
    expect((await client.query('FETCH 1 FROM c')).rows).toEqual(ANSWERS.slice(0, 1));
    await client.query('DISCARD ALL');
    await expect(client.query('FETCH 1 FROM c')).rejects.toMatchObject({ code: '34000' });
    await client.query(held);
    expect((await client.query('FETCH 1 FROM c')).rows).toEqual(ANSWERS.slice(0, 1));
  });
});

describe('a Query of several statements', () => {
  it('runs them in one implicit transaction block, so DECLARE without hold needs no BEGIN, as in PostgreSQL', async () => {
    const { client } = await setup();
    const results = (await client.query(`${DECLARE}; FETCH 2 FROM c`)) as unknown as pg.QueryResult[];
    expect(results.map((result) => result.command)).toEqual(['DECLARE', 'FETCH']);
    expect(results[1]!.rows).toEqual(ANSWERS.slice(0, 2));
    // The cursor ended with the Query's transaction.
    await expect(client.query('FETCH 1 FROM c')).rejects.toMatchObject({ code: '34000' });
  });
});

describe('the end of a session', () => {
  it('a client that leaves during a FETCH stops its model call, and its backend ends', async () => {
    const { name, direct } = await setup();
    shared.fake.script({ kind: 'stall' });
    const client = new pg.Client(connection(shared.proxy.port, 'postgres', name));
    await client.connect();
    client.on('error', () => {});
    await client.query(`DECLARE f CURSOR WITH HOLD FOR SELECT pg_llm_chat('llm', body) FROM docs`);
    void client.query('FETCH 1 FROM f').catch(() => {});
    await expect.poll(() => shared.fake.requests.length).toBe(1);
    const backends = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`;
    const before = (await direct.query(backends, [name])).rows[0].n;
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await expect.poll(() => shared.fake.requests[0]!.aborted).toBe(true);
    await expect.poll(async () => (await direct.query(backends, [name])).rows[0].n, { timeout: 10_000 }).toBe(before - 1);
  });
});

describe('protocol details', () => {
  it('Describe of the cursor (as psycopg sends) and of a FETCH has the results\' types', async () => {
    const { name } = await setup();
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    await raw.query(`BEGIN; ${DECLARE}`);
    raw.send(serialize.describe({ type: 'P', name: 'c' }), serialize.parse({ name: 'f', text: 'FETCH 3 FROM c', types: [] }), serialize.describe({ type: 'S', name: 'f' }), serialize.sync());
    const described = await raw.until('readyForQuery');
    const types = described.filter((message) => message.name === 'rowDescription').map((message) => (message as unknown as { fields: Array<{ dataTypeID: number }> }).fields.map((field) => field.dataTypeID));
    expect(types).toEqual([
      [23, TEXT_OID],
      [23, TEXT_OID],
    ]);
  });

  it('a cursor WITH HOLD declared and committed in the extended protocol, as psycopg does', async () => {
    const { name } = await setup();
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    const extended = (sql: string) => {
      raw.send(serialize.parse({ text: sql, types: [] }), serialize.bind({}), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync());
      return raw.until('readyForQuery');
    };
    await extended('BEGIN');
    await extended(DECLARE.replace('c CURSOR', '"h" CURSOR WITH HOLD'));
    raw.send(serialize.describe({ type: 'P', name: 'h' }), serialize.sync());
    await raw.until('readyForQuery');
    expect((await extended('COMMIT')).map((message) => message.name)).toEqual(['parseComplete', 'bindComplete', 'noData', 'commandComplete', 'readyForQuery']);
    const fetched = await raw.query('FETCH FORWARD 2 FROM "h"');
    expect(fetched.filter((message) => message.name === 'dataRow').map((message) => (message as unknown as { fields: string[] }).fields)).toEqual([
      ['1', 'doc 1'],
      ['2', 'doc 2'],
    ]);
  });

  it('Execute with a row limit on a FETCH suspends, and the next goes on', async () => {
    const { name } = await setup();
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    await raw.query(`BEGIN; ${DECLARE}`);
    raw.send(serialize.parse({ text: 'FETCH 3 FROM c', types: [] }), serialize.bind({}), serialize.execute({ rows: 2 }), serialize.execute({ rows: 2 }), serialize.execute({ rows: 2 }), serialize.sync());
    const messages = (await raw.until('readyForQuery')).map((message) => (message.name === 'dataRow' ? (message as unknown as { fields: string[] }).fields.join('|') : message.name === 'commandComplete' ? (message as unknown as { text: string }).text : message.name));
    expect(messages).toEqual(['parseComplete', 'bindComplete', '1|doc 1', '2|doc 2', 'portalSuspended', '3|doc 3', 'FETCH 1', 'FETCH 0', 'readyForQuery']);
  });

  it('after ROLLBACK TO in a failed block, a FETCH in the same pipeline reads the cursor: the same bytes as direct', async () => {
    const { name } = await setup();
    const statement = (sql: string) => [serialize.parse({ text: sql, types: [] }), serialize.bind({}), serialize.describe({ type: 'P' }), serialize.execute({})];
    const exchange = async (port: number, declare: string) => {
      const raw = await RawClient.session(port, { database: name });
      afterThisTest(async () => raw.end());
      await raw.query(`BEGIN; ${declare}; SAVEPOINT s`);
      await raw.query('SELECT 1/0');
      return raw.exchange(...statement('ROLLBACK TO SAVEPOINT s'), ...statement('FETCH 2 FROM c'), serialize.sync());
    };
    // The echoing model answers each body with itself.
    const direct = await exchange(cluster().port, DECLARE.replace(`pg_llm_chat('m', body)`, `body || ''`));
    expect(direct.toString('latin1')).toContain('doc 2');
    expect(await exchange(shared.proxy.port, DECLARE)).toEqual(direct);
  });

  it('a session may hold so many cursors over LLM calls; closed ones make room', async () => {
    const { client } = await setup();
    await client.query('BEGIN');
    const declare = (i: number) => client.query(`DECLARE c${i} CURSOR FOR SELECT pg_llm_chat('m', 'x')`);
    for (let i = 0; i < 256; i++) await declare(i);
    await client.query('SAVEPOINT s');
    await expect(declare(256)).rejects.toMatchObject({ code: '54000' });
    await client.query('ROLLBACK TO SAVEPOINT s');
    await client.query('CLOSE c0');
    await declare(256);
    await client.query('COMMIT');
  });
});
