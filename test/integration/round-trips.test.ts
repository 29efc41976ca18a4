// What an intercepted call costs in round trips to PostgreSQL, counted on a relay between the proxy and the server
// (upstream-turns.ts): a call whose arguments are constants or parameters needs one round trip for the session's
// settings (whether a cost cap applies decides how the statement runs), one to describe the statement and evaluate
// its arguments, and one to end it; the rest is the function's own (its model's row, its audit row).

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

/** The function's own round trips: the model's row, and the audit row. */
const CALL_ROUND_TRIPS = 2;
/** The session's settings, the statement, its end. */
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
  it('a simple Query: one for the settings, one to run the statement, one to end it', async () => {
    const client = await setup();
    const runs = await roundTrips(() => client.query(`SELECT pg_llm_chat('m', 'hi') AS answer`));
    expect(runs, runs.join(' | ')).toHaveLength(STATEMENT_ROUND_TRIPS + CALL_ROUND_TRIPS);
  });

  it('the extended protocol, unnamed and named: the same after the client’s Parse, Bind and Describe', async () => {
    const client = await setup();
    for (const name of [undefined, 'named']) {
      const runs = await roundTrips(() => client.query({ text: `SELECT pg_llm_chat($1, $2) AS answer`, values: ['m', 'hi'], name }));
      expect(runs, runs.join(' | ')).toHaveLength(1 + STATEMENT_ROUND_TRIPS + CALL_ROUND_TRIPS);
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
