// The rows of a set-returning call go to the client as fast as its socket takes them. When they came without a wait
// (a mock model's answer, a catalog read all in) to a client that kept reading, the loop sending them ran as one
// chain of microtasks, and no other session, timer or socket of the proxy had a turn until the last row (issue 12:
// a mock model echoing a 1 MB prompt word by word held another session's SELECT 1 and /healthz for 48 s, 300k of a
// role's sessions from pg_llm_get_sessions() 0.9 s). The proxy runs in this process, so its turns are the test's:
// what it sends its clients is counted at each turn, and no turn may carry more than a few hundred rows. The client
// is psql, in a process of its own, so that its reading takes none of the turns.

import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configureProviderHttp } from '../../src/providers/http.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { psql } from '../support/psql.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

const ROWS = 50_000;
/** Far more than the rows the proxy sends between two turns, far less than all of them (some 4 MB). */
const MOST_IN_ONE_TURN = 256 * 1024;

let proxy: TestProxy;
beforeAll(async () => (proxy = await startProxy()));
afterAll(() => proxy.stop());
afterEach(() => configureProviderHttp({}));

/** A database with the catalog, where the mock model "echo" answers with the prompt; a proxy client on it. */
async function databaseWithEcho(config: Record<string, unknown> = {}): Promise<{ name: string; client: pg.Client; direct: pg.Client }> {
  const { name, client: direct } = await freshDatabase();
  const client = new pg.Client(connection(proxy.port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query('CREATE EXTENSION pg_llm');
  await client.query(`SELECT pg_llm_add_model(false, 'mock', 'echo', NULL, $1)`, [JSON.stringify({ mock_mode: 'echo', ...config })]);
  return { name, client, direct };
}

/** psql runs `sql` (its rows thrown away); the most bytes the proxy sent its clients in one turn of the event loop meanwhile, and the total. */
async function bytesPerTurn(database: string, sql: string): Promise<{ most: number; total: number; stderr: string }> {
  const { stats } = proxy.listener;
  const start = stats.bytesToClients;
  let last = start;
  let most = 0;
  let running = true;
  const turn = (): void => {
    most = Math.max(most, stats.bytesToClients - last);
    last = stats.bytesToClients;
    if (running) setImmediate(turn);
  };
  setImmediate(turn);
  const { stderr } = await psql(['-o', '/dev/null', '-c', sql], { port: proxy.port, database, guardMs: 120_000 });
  running = false;
  turn();
  return { most, total: stats.bytesToClients - start, stderr };
}

describe('rows that come without a wait, to a client that keeps reading', () => {
  it("a mock model's streamed answer of 50,000 words leaves the event loop turns all along", async () => {
    const { name } = await databaseWithEcho();
    const { most, total, stderr } = await bytesPerTurn(name, `SELECT * FROM pg_llm_chat_stream('echo', repeat('a ', ${ROWS}))`);
    expect(stderr).toBe('');
    expect(total).toBeGreaterThan(ROWS * 50);
    expect(most).toBeLessThan(MOST_IN_ONE_TURN);
  }, 120_000);
});

describe("a mock model's answer", () => {
  it('is held to --max-response-bytes, streamed or whole, as a real provider is; max_response_bytes lowers it', async () => {
    configureProviderHttp({ maxResponseBytes: 1000 });
    const { client } = await databaseWithEcho();
    const tooLarge = (limit: number) => ({ code: '54000', message: `the model provider's answer is larger than the limit of ${limit} bytes`, hint: expect.stringContaining('--max-response-bytes') });
    await expect(client.query(`SELECT count(*) FROM pg_llm_chat_stream('echo', repeat('a ', 600))`)).rejects.toMatchObject(tooLarge(1000));
    await expect(client.query(`SELECT pg_llm_chat('echo', repeat('a ', 600))`)).rejects.toMatchObject(tooLarge(1000));
    expect((await client.query(`SELECT length(pg_llm_chat('echo', repeat('a ', 500))) AS n`)).rows).toEqual([{ n: 1000 }]);
    expect((await client.query(`SELECT count(*)::int AS n FROM pg_llm_chat_stream('echo', repeat('a ', 500))`)).rows).toEqual([{ n: 501 }]);

    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'echo', NULL, '{"mock_mode": "echo", "max_response_bytes": 100}')`);
    await expect(client.query(`SELECT * FROM pg_llm_chat_stream('echo', repeat('a ', 51))`)).rejects.toMatchObject(tooLarge(100));
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 60_000);
});
