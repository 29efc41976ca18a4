// A Bind asking for a result format PostgreSQL does not have (neither text, 0, nor binary, 1): PostgreSQL takes it and
// refuses the Execute at its first row with 22023. The rows the proxy sends itself (a projection of calls, a streamed
// call) are refused the same way: compared with the same messages sent direct, md5() in the call's place.

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

/** A Bind of the unnamed statement with one text parameter, asking for every result column in `format`. */
function bindWithFormat(parameter: string, format: number): Buffer {
  const value = Buffer.from(parameter);
  const body = Buffer.concat([Buffer.from([0, 0]), Buffer.from([0, 0, 0, 1]), Buffer.alloc(4), value, Buffer.from([0, 1]), Buffer.alloc(2)]);
  body.writeInt32BE(value.length, 6);
  body.writeInt16BE(format, body.length - 2);
  const head = Buffer.alloc(5);
  head[0] = 'B'.charCodeAt(0);
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

/** Parse, Bind (format 9), Describe, Execute, Sync, then a plain query: each message by name, an error by its code. */
async function answered(port: number, database: string, sql: string): Promise<string[]> {
  const raw = await RawClient.session(port, { database });
  afterThisTest(async () => void raw.socket.destroy());
  raw.send(serialize.parse({ text: sql, types: [] }), bindWithFormat('q', 9), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync());
  const answer = await raw.until('readyForQuery', 20_000);
  raw.send(serialize.query('SELECT 1'));
  const after = await raw.until('readyForQuery', 20_000);
  return [...answer, ...after].map((message) => (message.name === 'error' ? `error ${(message as unknown as { code: string }).code}` : message.name));
}

describe('a result format code neither text nor binary', () => {
  it.each([
    ['a one-row projection', `SELECT md5($1) AS a`, `SELECT pg_llm_chat('m', $1) AS a`],
    ['a projection of several rows', `SELECT md5($1 || v) AS a FROM (VALUES ('a'), ('b')) AS t (v)`, `SELECT pg_llm_chat('m', $1 || v) AS a FROM (VALUES ('a'), ('b')) AS t (v)`],
    ['a streamed call', `SELECT md5($1) AS chunk FROM generate_series(1, 2)`, `SELECT chunk FROM pg_llm_chat_stream('m', $1)`],
  ])('in %s is refused at the Execute with 22023, as PostgreSQL refuses it, and the session goes on', async (_, direct, proxied) => {
    const database = await databaseWithMd5Model(proxy);
    const expected = await answered(cluster().port, database, direct);
    expect(expected).toContain('error 22023');
    expect(await answered(proxy.port, database, proxied)).toEqual(expected);
  });
});
