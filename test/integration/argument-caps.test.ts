// The arguments of LLM calls, which PostgreSQL evaluates and hands the proxy in rows (a value may take 1 GB), are read
// under the proxy's caps (--max-argument-bytes a call, --max-statement-argument-bytes a statement, set low here): a
// call over one fails with 54000 before its arguments are read, the provider never asked, and the session and its
// transaction go on as after any other error; a call within them runs as ever, on each path the proxy takes.

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { peakGrowth } from '../support/held-memory.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { aiDatabase, pointedAt } from '../support/pgai.js';

const MiB = 1024 ** 2;
const shared = proxyAndFakeProvider({ argumentLimits: { call: MiB, statement: 4 * MiB } });

const CALL_TOO_LARGE = { code: '54000', message: `pg_llm_chat: the arguments of one call are larger than the proxy takes (${MiB} bytes)`, hint: expect.stringContaining('--max-argument-bytes') };
const STATEMENT_TOO_LARGE = {
  code: '54000',
  message: `the arguments of one statement's calls are larger than the proxy holds at once (${4 * MiB} bytes)`,
  hint: expect.stringContaining('--max-statement-argument-bytes'),
};

function modelDatabase() {
  return databaseWithModel(shared.proxy, shared.fake, 'openai');
}

/** Whether the session is in no transaction block: SAVEPOINT needs one. */
async function outsideBlock(client: pg.Client): Promise<boolean> {
  return client.query('SAVEPOINT probe').then(
    () => false,
    (error: { code?: string }) => error.code === '25P01',
  );
}

describe("a call's arguments over the cap", () => {
  it('fail with 54000 before they are read, the provider never asked, the session going on', async () => {
    const { client } = await modelDatabase();
    let error: unknown;
    // Read whole, the value would take its 64 MiB at least once in this process, where the proxy runs.
    const growth = await peakGrowth(async () => {
      error = await client.query(`SELECT pg_llm_chat('llm', repeat('x', ${64 * MiB}))`).catch((caught: unknown) => caught);
    }, 250);
    expect(error).toMatchObject(CALL_TOO_LARGE);
    expect(growth).toBeLessThan(16 * MiB);
    expect(shared.fake.requests).toEqual([]);
    expect(await outsideBlock(client)).toBe(true);
    expect((await client.query(`SELECT pg_llm_chat('llm', 'hi') AS a`)).rows).toEqual([{ a: 'default answer' }]);
  }, 180_000);

  it('fail the transaction block they are called in, which ROLLBACK ends as ever', async () => {
    const { client } = await modelDatabase();
    await client.query('CREATE TABLE kept (n int)');
    await client.query('BEGIN');
    await client.query('INSERT INTO kept VALUES (1)');
    await expect(client.query(`SELECT pg_llm_chat('llm', repeat('x', ${2 * MiB}))`)).rejects.toMatchObject(CALL_TOO_LARGE);
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect((await client.query('SELECT count(*)::int AS n FROM kept')).rows).toEqual([{ n: 0 }]);
    expect(await outsideBlock(client)).toBe(true);
    expect(shared.fake.requests).toEqual([]);
  }, 60_000);

  it('fail alike where the statement runs in passes, given as a bound parameter, read from a cursor or estimated', async () => {
    const { client } = await modelDatabase();
    const big = `repeat('x', ${2 * MiB})`;
    await expect(client.query(`SELECT upper(pg_llm_chat('llm', ${big}))`)).rejects.toMatchObject(CALL_TOO_LARGE);
    await expect(client.query(`SELECT pg_llm_chat($1, $2)`, ['llm', 'x'.repeat(2 * MiB)])).rejects.toMatchObject(CALL_TOO_LARGE);
    await expect(client.query(`SELECT * FROM pg_llm_estimate($$SELECT pg_llm_chat('llm', ${big})$$)`)).rejects.toMatchObject(CALL_TOO_LARGE);
    await client.query('BEGIN');
    await client.query(`DECLARE c CURSOR FOR SELECT pg_llm_chat('llm', ${big}) AS a`);
    await expect(client.query('FETCH 1 FROM c')).rejects.toMatchObject(CALL_TOO_LARGE);
    await client.query('ROLLBACK');
    expect(await outsideBlock(client)).toBe(true);
    expect(shared.fake.requests).toEqual([]);
  }, 60_000);

  it("fail for an aggregate's group and for an array of texts to embed, naming the function", async () => {
    const { client } = await modelDatabase();
    // Within llm_summarize's own cap of a group (8 MiB), over the proxy's.
    const groups = client.query(`SELECT llm_summarize(body, 'llm') FROM (SELECT g || repeat('x', ${600 * 1024}) AS body FROM generate_series(1, 3) g) AS t`);
    await expect(groups).rejects.toMatchObject({ ...CALL_TOO_LARGE, message: expect.stringMatching(/^llm_summarize: /) });
    const pgai = await aiDatabase(shared);
    await pgai.client.query(`${pointedAt(shared.fake)}; SET ai.openai_api_key = 'sk-caps-0123456789'`);
    const texts = pgai.client.query(`SELECT ai.openai_embed('text-embedding-3-small', ARRAY[repeat('a', ${600 * 1024}), repeat('b', ${600 * 1024})])`);
    await expect(texts).rejects.toMatchObject({ ...CALL_TOO_LARGE, message: expect.stringMatching(/^ai\.openai_embed\(text, text\[\]\): /) });
    expect(shared.fake.requests).toEqual([]);
  }, 60_000);
});

describe("a call's arguments just within the cap", () => {
  it('are taken on either path, and reach the provider whole', async () => {
    const { client } = await modelDatabase();
    const prompt = `repeat('y', ${MiB - 1024})`;
    expect((await client.query(`SELECT pg_llm_chat('llm', ${prompt}) AS a`)).rows).toEqual([{ a: 'default answer' }]);
    expect((await client.query(`SELECT upper(pg_llm_chat('llm', ${prompt})) AS a`)).rows).toEqual([{ a: 'DEFAULT ANSWER' }]);
    const prompts = shared.fake.requests.map((request) => (request.body.messages as Array<{ content: string }>).at(-1)!.content);
    expect(prompts).toEqual(['y'.repeat(MiB - 1024), 'y'.repeat(MiB - 1024)]);
  }, 60_000);
});

describe("a statement's arguments", () => {
  const EACH = 768 * 1024;

  it('fail with 54000 where a pass finds more than the statement may hold at once', async () => {
    const { client } = await modelDatabase();
    const calls = client.query(`SELECT upper(pg_llm_chat('llm', g || repeat('x', ${EACH}))) FROM generate_series(1, 8) g`);
    await expect(calls).rejects.toMatchObject(STATEMENT_TOO_LARGE);
    expect(shared.fake.requests).toEqual([]);
    expect(await outsideBlock(client)).toBe(true);
  }, 60_000);

  it('stream past that cap as whole output columns, their rows asked for as they fit and let go once sent', async () => {
    const { client } = await modelDatabase();
    const { rows } = await client.query(`SELECT g, pg_llm_chat('llm', g || repeat('x', ${EACH})) AS a FROM generate_series(1, 12) g`);
    expect(rows).toEqual(Array.from({ length: 12 }, (_, i) => ({ g: i + 1, a: 'default answer' })));
    expect(shared.fake.requests).toHaveLength(12);
  }, 60_000);

  it('count the other columns of the rows waiting for their calls', async () => {
    const { client } = await modelDatabase();
    await expect(client.query(`SELECT repeat('p', ${5 * MiB}) AS pad, pg_llm_chat('llm', 'hi') AS a`)).rejects.toMatchObject(STATEMENT_TOO_LARGE);
    expect(await outsideBlock(client)).toBe(true);
  }, 60_000);
});
