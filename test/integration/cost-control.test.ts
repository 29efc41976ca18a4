// Cost you see, against a fake OpenAI on loopback: pg_llm_estimate and EXPLAIN tell the model calls a statement
// would make without making one, and agree with the calls it makes when it runs (a projection over rows with
// duplicates, a WHERE llm_if, an UPDATE … SET col = pg_llm_chat); what they run leaves nothing behind.

import pg from 'pg';
import type { NoticeMessage } from 'pg-protocol/dist/messages.js';
import { describe, expect, it } from 'vitest';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();

const ROWS = 50;
const TOPICS = 10;
/** Dollars per million tokens: a cent a token, so that a few calls cost something. */
const PRICE = { price_per_million_input_tokens: 10_000, price_per_million_output_tokens: 10_000 };

/** A database with model 'llm' (priced) and a table of ROWS documents on TOPICS topics. */
async function withDocs() {
  const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0, ...PRICE });
  await client.query(`CREATE TABLE docs AS SELECT id, 'Topic ' || (id % ${TOPICS}) AS body, NULL::text AS summary FROM generate_series(1, ${ROWS}) AS id`);
  shared.fake.requests.length = 0;
  return { client };
}

async function estimate(client: pg.Client, sql: string) {
  return (await client.query('SELECT * FROM pg_llm_estimate($1)', [sql])).rows;
}

/** The notices a client receives while `work` runs. */
async function noticesOf<T>(client: pg.Client, work: () => Promise<T>): Promise<{ result: T; notices: NoticeMessage[] }> {
  const notices: NoticeMessage[] = [];
  const listener = (notice: NoticeMessage) => notices.push(notice);
  client.on('notice', listener);
  try {
    return { result: await work(), notices };
  } finally {
    client.off('notice', listener);
  }
}

const PROJECTION = `SELECT id, pg_llm_chat('llm', body) AS summary FROM docs ORDER BY id`;

describe('the estimate of a statement equals the model calls it makes', () => {
  it('for a projection over rows that repeat their calls', async () => {
    const { client } = await withDocs();
    const [row] = await estimate(client, PROJECTION);
    // A cent a token, in and out: "Topic 3" is 2 tokens, the answer 256 (no max_tokens).
    expect(row).toEqual({ model: 'llm', calls: String(ROWS), distinct_calls: String(TOPICS), input_tokens: String(2 * TOPICS), output_tokens: String(256 * TOPICS), cost_usd: expect.closeTo(25.8, 6) });
    expect(shared.fake.requests).toHaveLength(0);
    const { rows } = await client.query(PROJECTION);
    expect(rows).toHaveLength(ROWS);
    expect(shared.fake.requests).toHaveLength(Number(row.distinct_calls));
  });

  it('for llm_if in WHERE', async () => {
    const { client } = await withDocs();
    const statement = `SELECT id FROM docs WHERE llm_if('Is this about topic 3? ' || body, 'llm') ORDER BY id`;
    const [row] = await estimate(client, statement);
    expect(row).toMatchObject({ model: 'llm', calls: String(ROWS), distinct_calls: String(TOPICS) });
    shared.fake.script(...Array.from({ length: TOPICS }, () => ({ kind: 'reply' as const, answer: (messages: Array<{ content: string }>) => JSON.stringify({ answer: messages.at(-1)!.content.endsWith('Topic 3') }) })));
    const { rows } = await client.query(statement);
    expect(rows).toHaveLength(ROWS / TOPICS);
    expect(shared.fake.requests).toHaveLength(Number(row.distinct_calls));
  });

  it('for an UPDATE that sets a column to a call, which the estimate does not change', async () => {
    const { client } = await withDocs();
    const statement = `UPDATE docs SET summary = pg_llm_chat('llm', 'Summarize: ' || body) WHERE id <= 30`;
    const [row] = await estimate(client, statement);
    expect(row).toMatchObject({ model: 'llm', calls: '30', distinct_calls: String(TOPICS) });
    expect((await client.query('SELECT count(*)::int AS left FROM docs WHERE summary IS NULL')).rows).toEqual([{ left: ROWS }]);
    expect((await client.query(statement)).rowCount).toBe(30);
    expect(shared.fake.requests).toHaveLength(Number(row.distinct_calls));
    expect((await client.query('SELECT count(*)::int AS left FROM docs WHERE summary IS NULL')).rows).toEqual([{ left: ROWS - 30 }]);
  });
});

describe('EXPLAIN without ANALYZE through the proxy', () => {
  it("adds a NOTICE with the calls the statement would make to PostgreSQL's plan, calling no model", async () => {
    const { client } = await withDocs();
    const { result, notices } = await noticesOf(client, () => client.query(`EXPLAIN (COSTS false) ${PROJECTION}`));
    expect(result.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('Seq Scan on docs');
    expect(notices.map((notice) => notice.message)).toEqual([`pg_llm: the statement would make ${TOPICS} model calls (its rows call ${ROWS} times), costing about $25.80`]);
    expect(notices[0]!.detail).toBe(`llm: ${ROWS} calls, ${TOPICS} distinct, about ${2 * TOPICS} input and ${256 * TOPICS} output tokens, about $25.80`);
    expect(shared.fake.requests).toHaveLength(0);
  });

  it('tells why when the statement cannot be estimated, and still plans it', async () => {
    const { client } = await withDocs();
    await client.query('CREATE SEQUENCE numbers');
    const { result, notices } = await noticesOf(client, () => client.query(`EXPLAIN SELECT nextval('numbers'), pg_llm_chat('llm', body) FROM docs`));
    expect(result.rows.length).toBeGreaterThan(0);
    expect(notices.map((notice) => notice.message)).toEqual([expect.stringMatching(/^pg_llm: the model calls of the statement were not estimated: the explained statement calls pg_catalog.nextval\(\), a volatile function/)]);
    expect((await client.query(`SELECT nextval('numbers') AS next`)).rows).toEqual([{ next: '1' }]);
  });

  it('tells that a statement with parameters of the extended protocol was not estimated, and plans it', async () => {
    const { client } = await withDocs();
    const { result, notices } = await noticesOf(client, () => client.query(`EXPLAIN SELECT pg_llm_chat('llm', body || $1::text) FROM docs`, ['!']));
    expect(result.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('Seq Scan on docs');
    expect(notices.map((notice) => notice.message)).toEqual(['pg_llm: the model calls of the statement were not estimated: the explained statement refers to parameters ($1…), whose values an estimate does not have']);
    expect((await client.query('SELECT 1 AS fine')).rows).toEqual([{ fine: 1 }]);
  });
});

describe('pg_llm_estimate', () => {
  it('leaves nothing behind, runs only what no rollback leaves a trace of, and calls no model', async () => {
    const { client } = await withDocs();
    await client.query('CREATE SEQUENCE numbers');
    expect(await estimate(client, `DELETE FROM docs WHERE pg_llm_chat('llm', body) IS NULL`)).toMatchObject([{ calls: String(ROWS) }]);
    expect((await client.query('SELECT count(*)::int AS rows FROM docs')).rows).toEqual([{ rows: ROWS }]);
    await expect(estimate(client, `SELECT pg_llm_chat('llm', body), nextval('numbers') FROM docs`)).rejects.toMatchObject({ code: '38001', message: expect.stringContaining('volatile') });
    await expect(estimate(client, `SELECT pg_advisory_lock(7), pg_llm_chat('llm', 'x')`)).rejects.toMatchObject({ code: '38001' });
    await expect(estimate(client, 'DROP TABLE docs')).rejects.toMatchObject({ code: '38003' });
    await expect(estimate(client, `SELECT 1; UPDATE docs SET summary = pg_llm_chat('llm', body)`)).rejects.toMatchObject({ code: '38003' });
    expect((await client.query(`SELECT nextval('numbers') AS next, (SELECT count(*)::int FROM docs WHERE summary IS NULL) AS left`)).rows).toEqual([{ next: '1', left: ROWS }]);
    expect(shared.fake.requests).toHaveLength(0);
  });

  it('reports a model without a price with no cost, and a NOT NULL column the calls fill as any other', async () => {
    const { client } = await withDocs();
    await client.query(`SELECT pg_llm_add_model(false, 'openai', 'unpriced', 'sk-x', $1)`, [JSON.stringify({ model_name: 'gpt-unpriced', base_url: shared.fake.baseUrl, max_tokens: 20 })]);
    await client.query('CREATE TABLE answers (id int, answer text NOT NULL)');
    const rows = await estimate(client, `INSERT INTO answers SELECT id, pg_llm_chat('unpriced', body) FROM docs`);
    expect(rows).toEqual([{ model: 'unpriced', calls: String(ROWS), distinct_calls: String(TOPICS), input_tokens: String(2 * TOPICS), output_tokens: String(20 * TOPICS), cost_usd: null }]);
    expect((await client.query('SELECT count(*)::int AS rows FROM answers')).rows).toEqual([{ rows: 0 }]);
  });
});
