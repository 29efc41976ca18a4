// Ordinary SQL through the proxy: the simple and extended protocols, prepared statements, pipelines, errors and
// transaction states must look exactly as they do against PostgreSQL.

import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

let proxy: TestProxy;
let client: pg.Client;
beforeAll(async () => {
  proxy = await startProxy();
  client = new pg.Client(connection(proxy.port));
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await proxy.stop();
});

describe('simple and extended queries', () => {
  it('runs a multi-statement simple query', async () => {
    const results = (await client.query('SELECT 1 AS a; SELECT 2 AS b')) as unknown as pg.QueryResult[];
    expect(results.map((result) => result.rows)).toEqual([[{ a: 1 }], [{ b: 2 }]]);
  });

  it('binds parameters of several types in the extended protocol', async () => {
    const { rows } = await client.query('SELECT $1::int + 1 AS n, $2::text || $3 AS s, $4::jsonb AS j, $5::bytea AS b', [
      41,
      'pg_',
      'llm',
      JSON.stringify({ k: [1, 2] }),
      Buffer.from([0, 1, 255]),
    ]);
    expect(rows).toEqual([{ n: 42, s: 'pg_llm', j: { k: [1, 2] }, b: Buffer.from([0, 1, 255]) }]);
  });

  it('reuses a named prepared statement with different parameters', async () => {
    for (const value of [1, 2, 3]) {
      const { rows } = await client.query({ name: 'times_ten', text: 'SELECT $1::int * 10 AS v', values: [value] });
      expect(rows).toEqual([{ v: value * 10 }]);
    }
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'times_ten'`);
    expect(rows).toEqual([{ n: 1 }]);
  });

  it('carries large results and large parameters intact', async () => {
    const big = 'x'.repeat(5_000_000);
    const { rows } = await client.query('SELECT length($1::text) AS n, md5($1::text) AS h', [big]);
    expect(rows[0].n).toBe(big.length);
    const generated = await client.query(`SELECT string_agg(md5(i::text), '') AS s FROM generate_series(1, 200000) i`);
    expect(generated.rows[0].s).toHaveLength(200000 * 32);
  });
});

describe('pipelining', () => {
  it('answers several Parse/Bind/Execute before one Sync, in order', async () => {
    const raw = await RawClient.session(proxy.port);
    raw.send(
      serialize.parse({ name: 's1', text: 'SELECT $1::int AS v' }),
      serialize.bind({ statement: 's1', values: ['1'] }),
      serialize.execute(),
      serialize.bind({ statement: 's1', values: ['2'] }),
      serialize.execute(),
      serialize.parse({ text: 'SELECT generate_series(1, 5) AS g' }),
      serialize.bind({ portal: 'p' }),
      serialize.execute({ portal: 'p', rows: 2 }),
      serialize.execute({ portal: 'p', rows: 2 }),
      serialize.sync(),
      serialize.query('SELECT 3'),
    );
    const first = await raw.until('readyForQuery');
    expect(first.map((message) => message.name)).toEqual([
      'parseComplete',
      'bindComplete',
      'dataRow',
      'commandComplete',
      'bindComplete',
      'dataRow',
      'commandComplete',
      'parseComplete',
      'bindComplete',
      'dataRow',
      'dataRow',
      'portalSuspended',
      'dataRow',
      'dataRow',
      'portalSuspended',
      'readyForQuery',
    ]);
    const second = await raw.until('readyForQuery');
    expect(second.map((message) => message.name)).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    raw.end();
  });

  it('postgres.js pipelines concurrent queries on one connection', async () => {
    const sql = postgres({ ...connection(proxy.port), max: 1 });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => sql`SELECT ${i}::int AS i`));
    expect(results.map(([row]) => row!.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    await sql.end();
  });

  it('an error mid-pipeline skips to Sync and the next batch runs', async () => {
    const raw = await RawClient.session(proxy.port);
    raw.send(
      serialize.parse({ text: 'SELECT 1 / g FROM generate_series(0, 0) g' }),
      serialize.bind(),
      serialize.execute(),
      serialize.parse({ text: 'SELECT 1' }),
      serialize.bind(),
      serialize.execute(),
      serialize.sync(),
      serialize.parse({ text: 'SELECT 2 AS two' }),
      serialize.bind(),
      serialize.execute(),
      serialize.sync(),
    );
    const failed = await raw.until('readyForQuery');
    expect(failed.map((message) => message.name)).toEqual(['parseComplete', 'bindComplete', 'error', 'readyForQuery']);
    expect(failed[2]).toMatchObject({ code: '22012' });
    const next = await raw.until('readyForQuery');
    expect(next.map((message) => message.name)).toEqual(['parseComplete', 'bindComplete', 'dataRow', 'commandComplete', 'readyForQuery']);
    raw.end();
  });
});

describe('errors and transactions', () => {
  it('an error outside a transaction leaves the session usable', async () => {
    await expect(client.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
    expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('an error inside a transaction aborts it until ROLLBACK, and nothing it did remains', async () => {
    await client.query('CREATE TEMP TABLE tx_probe (n int)');
    await client.query('BEGIN');
    await client.query('INSERT INTO tx_probe VALUES (1)');
    await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect((await client.query('SELECT count(*)::int AS n FROM tx_probe')).rows).toEqual([{ n: 0 }]);
  });

  it('reports the transaction status in ReadyForQuery: idle, in block, failed', async () => {
    const raw = await RawClient.session(proxy.port);
    const status = async (sql: string): Promise<string> => {
      raw.send(serialize.query(sql));
      const messages = await raw.until('readyForQuery');
      return (messages.at(-1) as unknown as { status: string }).status;
    };
    expect(await status('SELECT 1')).toBe('I');
    expect(await status('BEGIN')).toBe('T');
    expect(await status('SELECT 1/0')).toBe('E');
    expect(await status('ROLLBACK')).toBe('I');
    raw.end();
  });

  it('savepoints recover a failed statement inside a transaction', async () => {
    await client.query('BEGIN');
    await client.query('SAVEPOINT s');
    await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    await client.query('ROLLBACK TO SAVEPOINT s');
    expect((await client.query('SELECT 7 AS seven')).rows).toEqual([{ seven: 7 }]);
    await client.query('COMMIT');
  });

  it('relays notices and parameter changes', async () => {
    const notices: string[] = [];
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    await client.query(`DO $$ BEGIN RAISE NOTICE 'hello from upstream'; END $$`);
    expect(notices).toContain('hello from upstream');
    const raw = await RawClient.session(proxy.port);
    raw.send(serialize.query(`SET application_name = 'renamed'`));
    const messages = await raw.until('readyForQuery');
    expect(messages).toContainEqual(expect.objectContaining({ name: 'parameterStatus', parameterName: 'application_name', parameterValue: 'renamed' }));
    raw.end();
  });
});
