// A portal run to its end and Executed again in the same transaction: PostgreSQL answers the second Execute of a
// SELECT's portal with no rows (SELECT 0). Through the proxy, whose fast paths answer some Executes of calls whole
// without running the server's portal (projection.ts, stream.ts), the second Execute answers the same: compared with
// the same messages sent direct, md5() in the call's place.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithMd5Model } from '../support/models.js';
import { cluster, startProxy, type TestProxy } from '../support/proxy.js';
import { RawClient, serialize } from '../support/raw-client.js';

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

/** Parse, Bind, Execute, Execute, Sync of `sql` with one parameter: each message by name, a command by its tag. */
async function executedTwice(port: number, database: string, sql: string): Promise<string[]> {
  const raw = await RawClient.session(port, { database });
  afterThisTest(async () => void raw.socket.destroy());
  raw.send(serialize.parse({ text: sql, types: [] }), serialize.bind({ values: ['q'] }), serialize.execute({}), serialize.execute({}), serialize.sync());
  const answer = await raw.until('readyForQuery', 20_000);
  return answer.map((message) => (message.name === 'commandComplete' ? (message as unknown as { text: string }).text : message.name));
}

describe('a portal of calls answered whole by the proxy, Executed again', () => {
  it.each([
    ['a one-row projection', `SELECT md5($1) AS a`, `SELECT pg_llm_chat('m', $1) AS a`, 'SELECT 1'],
    ['a projection of several rows', `SELECT md5($1 || v) AS a FROM (VALUES ('a'), ('b')) AS t (v)`, `SELECT pg_llm_chat('m', $1 || v) AS a FROM (VALUES ('a'), ('b')) AS t (v)`, 'SELECT 2'],
    // The mock model streams its answer and a final chunk: two rows.
    ['a streamed call', `SELECT md5($1) AS chunk FROM generate_series(1, 2)`, `SELECT chunk FROM pg_llm_chat_stream('m', $1)`, 'SELECT 2'],
  ])('%s has no rows left (SELECT 0), as PostgreSQL\'s portal', async (_, direct, proxied, first) => {
    const database = await databaseWithMd5Model(proxy);
    const expected = await executedTwice(cluster().port, database, direct);
    expect(expected.slice(-3)).toEqual([first, 'SELECT 0', 'readyForQuery']);
    expect(await executedTwice(proxy.port, database, proxied)).toEqual(expected);
  });
});
