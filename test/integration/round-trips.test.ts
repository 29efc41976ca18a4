// What an intercepted call costs in round trips to PostgreSQL, counted on a relay between the proxy and the server
// (upstream-turns.ts): a statement of calls whose arguments are constants or parameters needs one round trip to
// run (its BEGIN, the session's settings, describing it, evaluating the arguments, and the row of the model each
// call names), and one to end it (the calls' audit rows, COMMIT). Other statements first learn whether a cost cap
// applies, which decides how they run.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { cluster, connection, startProxy, type TestProxy } from '../support/proxy.js';
import { TcpRelay } from '../support/tcp-relay.js';

let relay: TcpRelay;
let proxy: TestProxy;
beforeAll(async () => {
  relay = await TcpRelay.start(cluster().port);
  proxy = await startProxy({ upstream: { port: relay.port } });
});
afterAll(async () => {
  await proxy.stop();
  await relay.stop();
});

/** The statement with its settings and its models' rows; its end with its audit rows. */
const ONE_ROW_ROUND_TRIPS = 2;
/** Of a statement over a table: the session's settings, the statement, its end. */
const STATEMENT_ROUND_TRIPS = 3;

async function setup(): Promise<pg.Client> {
  const { name } = await freshDatabase();
  const client = new pg.Client(connection(proxy.port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query('CREATE EXTENSION pg_llm');
  await client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"mock_response": "hello"}')`);
  return client;
}

/** The round trips of the second run of `statement` (the first learns that the catalog is installed). */
async function roundTrips(statement: () => Promise<pg.QueryResult>): Promise<string[]> {
  expect((await statement()).rows).toEqual([{ answer: 'hello' }]);
  relay.requests.reset();
  expect((await statement()).rows).toEqual([{ answer: 'hello' }]);
  return [...relay.requests.runs];
}

describe('round trips of a call whose arguments are constants or parameters', () => {
  it('a simple Query: one to run the statement, one to end it', async () => {
    const client = await setup();
    const runs = await roundTrips(() => client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`));
    expect(runs, runs.join(' | ')).toHaveLength(ONE_ROW_ROUND_TRIPS);
  });

  it('the same under a cost cap, whose check takes the row already read', async () => {
    const client = await setup();
    await client.query('SET pg_llm.max_calls_per_statement = 1');
    const runs = await roundTrips(() => client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`));
    expect(runs, runs.join(' | ')).toHaveLength(ONE_ROW_ROUND_TRIPS);
    await client.query('SET pg_llm.max_calls_per_statement = 0');
    await expect(client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`)).rejects.toMatchObject({ code: 'LM003' });
    await client.query('RESET pg_llm.max_calls_per_statement');
    expect((await client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`)).rows).toEqual([{ answer: 'hello' }]);
  });

  it('the extended protocol, unnamed and named: the same after the client’s Parse, Bind and Describe', async () => {
    const client = await setup();
    for (const name of [undefined, 'named']) {
      const runs = await roundTrips(() => client.query({ text: `SELECT pg_llm_chat($1, $2) AS answer`, values: ['m', 'hi'], name }));
      expect(runs, runs.join(' | ')).toHaveLength(1 + ONE_ROW_ROUND_TRIPS);
    }
  });

  it('a statement PostgreSQL refuses costs the same, and leaves only its error', async () => {
    const client = await setup();
    await client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`);
    relay.requests.reset();
    await expect(client.query(`SELECT pg_llm_chat('m', body) AS answer FROM missing`)).rejects.toMatchObject({ code: '42P01' });
    // Sent once the refused statement is over: its round trips are all in before it.
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    const runs = relay.requests.runs;
    expect(runs, runs.join(' | ')).toHaveLength(STATEMENT_ROUND_TRIPS + 1);
    expect((await client.query(`SELECT pg_llm_chat('m', 'again') AS answer`)).rows).toEqual([{ answer: 'hello' }]);
  });
});

describe('what the saved round trips keep', () => {
  it('an audit row that fails fails the statement with its error, and leaves no answer and the block as a failed call would', async () => {
    const client = await setup();
    await client.query(`CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'no audit today' USING ERRCODE = '22012'; END$$`);
    await client.query('CREATE TRIGGER refuse_audit BEFORE INSERT ON _pg_llm_catalog.pg_llm_audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()');
    const refused = { code: '22012', message: 'no audit today' };
    await expect(client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`)).rejects.toMatchObject(refused);
    await expect(client.query({ text: `SELECT pg_llm_chat($1, $2) AS answer`, values: ['m', 'hi'] })).rejects.toMatchObject(refused);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.query('BEGIN');
    await expect(client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`)).rejects.toMatchObject(refused);
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    await client.query('DROP TRIGGER refuse_audit ON _pg_llm_catalog.pg_llm_audit_log');
    const audited = async () => (await client.query(`SELECT count(*)::int AS rows FROM _pg_llm_catalog.pg_llm_audit_log`)).rows[0].rows as number;
    const before = await audited();
    await client.query('BEGIN');
    expect((await client.query(`SELECT pg_llm_chat('m', 'hi') AS answer, pg_llm_chat('m', 'other') AS other`)).rows).toEqual([{ answer: 'hello', other: 'hello' }]);
    await client.query('COMMIT');
    expect(await audited()).toBe(before + 2);
  });

  it("a model's row read ahead with the keys of the session's last statement serves only a call with the same keys", async () => {
    const client = await setup();
    await client.query(`SET pg_llm.master_key = 'a key of the session''s own'`);
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'sealed', 'sk-of-the-session', '{"mock_response": "hello"}')`);
    expect((await client.query(`SELECT pg_llm_chat('sealed', 'hi') AS answer`)).rows).toEqual([{ answer: 'hello' }]);
    await client.query('RESET pg_llm.master_key');
    // Read ahead with the session's key, the row's secrets would open: the call reads it again with the keys it has.
    await expect(client.query(`SELECT pg_llm_chat('sealed', 'hi') AS answer`)).rejects.toMatchObject({ code: '28000', message: expect.stringContaining('none of the configured master keys') });
    await client.query(`SET pg_llm.master_key = 'a key of the session''s own'`);
    expect((await client.query(`SELECT pg_llm_chat('sealed', 'hi') AS answer`)).rows).toEqual([{ answer: 'hello' }]);
  });
});
