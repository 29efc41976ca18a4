// Queries of several statements the proxy runs itself (some call a model), compared with the same Queries run
// direct: each call there is md5() of its prompt, which the mock model answers in md5 mode.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

/** A session direct and one through the proxy, on a fresh database with pg_llm and a model "m" answering md5(). */
async function sessions(): Promise<{ direct: pg.Client; client: pg.Client }> {
  const { name, client: direct } = await freshDatabase();
  const client = new pg.Client(connection(proxy.port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query('CREATE EXTENSION pg_llm');
  await client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_mode": "md5"}')`);
  return { direct, client };
}

/** What the session answers to each Query: the last result's command and rows, or the error. */
async function answers(session: pg.Client, queries: string[]): Promise<unknown[]> {
  const notices: string[] = [];
  session.on('notice', (notice) => notices.push(`${notice.severity}: ${notice.message}`));
  const out: unknown[] = [];
  for (const sql of queries) {
    try {
      const result = await session.query(sql);
      const last = Array.isArray(result) ? result.at(-1)! : result;
      out.push({ command: last.command, rows: last.rows, notices: notices.splice(0) });
    } catch (error) {
      const { code, message, position } = error as pg.DatabaseError;
      out.push({ code, message, position, notices: notices.splice(0) });
    }
  }
  return out;
}

/** The proxy's Queries call pg_llm_chat('m', …) where the direct ones call md5(…). */
async function compare(queries: string[]): Promise<unknown[]> {
  const { direct, client } = await sessions();
  const proxied = queries.map((sql) => sql.replace(/md5\(/g, `pg_llm_chat('m', `));
  const expected = await answers(direct, queries);
  expect(await answers(client, proxied)).toEqual(expected);
  return expected;
}

describe('a BEGIN that fails in a Query the proxy runs', () => {
  it('leaves no block behind, after a call', async () => {
    const expected = await compare([`SELECT md5('x'); BEGIN ISOLATION LEVEL SERIALIZABLE;`, 'SELECT 1 AS one', 'COMMIT']);
    expect(expected[0]).toMatchObject({ code: '25001' });
    expect(expected[1]).toMatchObject({ rows: [{ one: 1 }] });
  });

  it('leaves no block behind, before a call', async () => {
    const expected = await compare([`SELECT 1; BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT md5('x')`, 'SELECT 1 AS one', 'COMMIT']);
    expect(expected[1]).toMatchObject({ rows: [{ one: 1 }] });
  });
});

describe('a Query in a failed block', () => {
  it('runs its calls once a ROLLBACK ends the failure', async () => {
    const expected = await compare(['BEGIN', 'SELECT 1/0', `ROLLBACK; SELECT md5('b') AS a`, 'SELECT 1 AS one']);
    expect(expected[2]).toMatchObject({ rows: [{ a: '92eb5ffee6ae2fec3ad71c777531578f' }] });
  });

  it('keeps the rows it writes after ROLLBACK TO', async () => {
    const setup = ['CREATE TEMP TABLE t (v text)', 'BEGIN', `INSERT INTO t VALUES ('a')`, 'SAVEPOINT s', 'SELECT 1/0'];
    const expected = await compare([...setup, `ROLLBACK TO s; INSERT INTO t SELECT md5('b'); COMMIT;`, 'SELECT v FROM t ORDER BY v']);
    expect(expected.at(-1)).toMatchObject({ rows: [{ v: '92eb5ffee6ae2fec3ad71c777531578f' }, { v: 'a' }] });
  });

  it('runs a COMMIT that ends the failure as ROLLBACK, then the calls after it', async () => {
    await compare(['BEGIN', 'SELECT 1/0', `COMMIT; SELECT md5('c') AS c`, 'SELECT 1 AS one']);
  });

  it('reads a cursor over calls after ROLLBACK TO', async () => {
    await compare([
      'BEGIN',
      'DECLARE c CURSOR FOR SELECT x, md5(x::text) AS h FROM generate_series(1, 3) AS x',
      'SAVEPOINT s',
      'SELECT 1/0',
      'ROLLBACK TO s; FETCH 2 FROM c',
      'FETCH 2 FROM c',
      'COMMIT',
    ]);
  });

  it('still refuses other statements with 25P02', async () => {
    const expected = await compare([
      'BEGIN',
      'SAVEPOINT s',
      'SELECT 1/0',
      `SELECT 1; ROLLBACK; SELECT md5('d')`,
      `SELECT md5('e'); ROLLBACK`,
      `ROLLBACK TO nosuch; SELECT md5('f')`,
      `ROLLBACK TO s; SELECT 1/0; SELECT md5('g')`,
      `ROLLBACK; SELECT md5('h') AS h`,
    ]);
    expect(expected.slice(3, 7)).toMatchObject([{ code: '25P02' }, { code: '25P02' }, { code: '3B001' }, { code: '22012' }]);
  });
});

describe('errors of later statements in a Query', () => {
  it('point into the whole Query, counting characters', async () => {
    const { direct, client } = await sessions();
    for (const [session, call] of [[direct, `md5('x')`], [client, `pg_llm_chat('m', 'x')`]] as const) {
      for (const sql of [`SELECT 'é😀'; SELECT ${call};\n  SELECT nosuch`, `SELECT 'é😀'; SELECT ${call}, nosuch`]) {
        const error = (await session.query(sql).catch((failed: unknown) => failed)) as pg.DatabaseError;
        const position = String([...sql.slice(0, sql.indexOf('nosuch'))].length + 1);
        expect({ sql, code: error.code, position: error.position }).toEqual({ sql, code: '42703', position });
      }
    }
  });
});
