// COPY … FROM STDIN whose WHERE calls LLM functions is refused before the server sees it: the proxy's passes would
// each run the COPY, and the server would wait for the client's rows in every one of them. The refusal is an error
// like any other (the session goes on, a block it is in fails); COPY … TO STDOUT with calls still runs.

import { describe, expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { copy } from '../support/pg-copy.js';
import { afterThisTest } from '../support/database.js';
import { RawClient, serialize } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const COPY_FROM = `COPY notes FROM STDIN WHERE pg_llm_chat('llm', body) IS NOT NULL`;
const REFUSED = {
  code: '0A000',
  message: 'LLM functions cannot be called through COPY FROM STDIN',
  hint: 'COPY the rows into a staging table first, then INSERT … SELECT from it with the calls.',
};

async function notesDatabase() {
  const { name, client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await direct.query('CREATE TABLE notes (id int, body text)');
  return { name, client, direct };
}

async function noteCount(direct: { query: (sql: string) => Promise<{ rows: Array<{ n: number }> }> }): Promise<number> {
  return (await direct.query('SELECT count(*)::int AS n FROM notes')).rows[0]!.n;
}

describe('COPY FROM STDIN calling LLM functions', () => {
  it('is refused with 0A000 and a hint, nothing copied, and the session goes on', async () => {
    const { client, direct } = await notesDatabase();
    await expect(copy(client, COPY_FROM, '1\thello\n')).rejects.toMatchObject(REFUSED);
    expect(await noteCount(direct)).toBe(0);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(shared.fake.requests).toHaveLength(0);
  });

  it('fails the transaction block it is in, as any error does', async () => {
    const { client } = await notesDatabase();
    await client.query('BEGIN');
    await expect(copy(client, COPY_FROM, '1\thello\n')).rejects.toMatchObject(REFUSED);
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('is refused in the extended protocol too, the session going on', async () => {
    const { name, direct } = await notesDatabase();
    const raw = await RawClient.session(shared.proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    raw.send(serialize.parse({ text: COPY_FROM, types: [] }), serialize.bind({}), serialize.execute({}), serialize.sync());
    const answer = await raw.until('readyForQuery');
    expect(answer.map((message) => message.name)).toEqual(['error', 'readyForQuery']);
    expect(answer[0]).toMatchObject({ code: '0A000', message: REFUSED.message });
    expect(answer[1]).toMatchObject({ status: 'I' });
    const after = await raw.query('SELECT 1');
    expect(after.map((message) => message.name)).toEqual(['rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    expect(await noteCount(direct)).toBe(0);
  });

  it('runs as ever when it copies to STDOUT', async () => {
    const { client } = await notesDatabase();
    shared.fake.script({ kind: 'answer', content: 'hi there' });
    expect(await copy(client, `COPY (SELECT pg_llm_chat('llm', 'hello')) TO STDOUT`)).toBe('hi there\n');
  });
});
