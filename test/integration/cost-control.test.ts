// Cost you see and cap, against a fake OpenAI on loopback that answers every request with 7 prompt and 3 completion
// tokens: pg_llm_estimate and EXPLAIN tell the model calls a statement would make without making one, and agree with
// the calls it makes when it runs (a projection over rows with duplicates, a WHERE llm_if, an UPDATE … SET col =
// pg_llm_chat); what they run leaves nothing behind; the session's caps refuse a statement before its first call
// and stop one that reaches them while it runs; a role's daily budget holds across statements; and the spend shows
// by role, database and model on /metrics and on the dashboard's overview.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { NoticeMessage } from 'pg-protocol/dist/messages.js';
import { describe, expect, it } from 'vitest';
import { setRoleDailyBudgets, spentToday } from '../../src/cost/daily-spend.js';
import { priceOf } from '../../src/providers/metrics.js';
import { testAdminOfFile } from '../support/admin.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { clientOf } from '../support/pg-ai.js';

const shared = proxyAndFakeProvider();
const admin = testAdminOfFile(() => shared.proxy);

const ROWS = 50;
const TOPICS = 10;
/** Dollars per million tokens: a cent a token, so that a few calls cost something. */
const PRICE = { price_per_million_input_tokens: 10_000, price_per_million_output_tokens: 10_000 };

/** A database with model 'llm' (priced) and a table of ROWS documents on TOPICS topics; direct reaches it without the proxy. */
async function withDocs(config: Record<string, unknown> = {}) {
  const { name, client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0, ...PRICE, ...config });
  await client.query(`CREATE TABLE docs AS SELECT id, 'Topic ' || (id % ${TOPICS}) AS body, NULL::text AS summary FROM generate_series(1, ${ROWS}) AS id`);
  shared.fake.requests.length = 0;
  return { name, client, direct };
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

describe('pg_llm.max_calls_per_statement and pg_llm.max_cost_per_statement', () => {
  it('refuse a statement whose estimate is over them before its first call (LM003, the estimate in the hint), with SET, SHOW and RESET', async () => {
    const { client } = await withDocs();
    await client.query(`SET pg_llm.max_calls_per_statement = ${TOPICS - 1}`);
    expect((await client.query('SHOW pg_llm.max_calls_per_statement')).rows).toEqual([{ 'pg_llm.max_calls_per_statement': String(TOPICS - 1) }]);
    await client.query('BEGIN');
    await expect(client.query(PROJECTION)).rejects.toMatchObject({
      code: 'LM003',
      message: `pg_llm.max_calls_per_statement is ${TOPICS - 1}, and the statement would make ${TOPICS} model calls: no model was called`,
      hint: expect.stringContaining(`Estimate: llm: ${ROWS} calls, ${TOPICS} distinct`),
    });
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect(shared.fake.requests).toHaveLength(0);

    await client.query(`SET pg_llm.max_calls_per_statement = ${TOPICS}`);
    await client.query('SET pg_llm.max_cost_per_statement = 25');
    await expect(client.query(PROJECTION)).rejects.toMatchObject({ code: 'LM003', message: expect.stringContaining('pg_llm.max_cost_per_statement is $25.00, and the statement\'s model calls would cost about $25.80') });
    expect(shared.fake.requests).toHaveLength(0);
    await client.query('RESET pg_llm.max_cost_per_statement');
    expect((await client.query(PROJECTION)).rows).toHaveLength(ROWS);
    expect(shared.fake.requests).toHaveLength(TOPICS);
  });

  it('stop a statement whose calls cost more than estimated at the cap, cancelling the calls in flight', async () => {
    // Estimated at 3 tokens a call (max_tokens 1), each answer says 10: 10 cents a call, over 35 cents at the fourth.
    const { client } = await withDocs({ max_tokens: 1 });
    await client.query('SET pg_llm.max_cost_per_statement = 0.35');
    shared.fake.script(...Array.from({ length: 4 }, () => ({ kind: 'reply' as const, answer: () => 'ok', delayMs: 100 })), ...Array.from({ length: TOPICS - 4 }, () => ({ kind: 'stall' as const })));
    await client.query('BEGIN');
    await expect(client.query(`UPDATE docs SET summary = pg_llm_chat('llm', body)`)).rejects.toMatchObject({
      code: 'LM003',
      message: expect.stringContaining('pg_llm.max_cost_per_statement ($0.35) is exceeded: the statement\'s model calls cost $0.4'),
    });
    // Every call was asked for at once; a call not sent yet when the cap was reached is never sent.
    await expect.poll(() => shared.fake.requests.filter((request) => request.aborted).length).toBe(shared.fake.requests.length - 4);
    expect(shared.fake.requests.length).toBeGreaterThan(4);
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await client.query('ROLLBACK');
    expect((await client.query('SELECT count(*)::int AS left FROM docs WHERE summary IS NULL')).rows).toEqual([{ left: ROWS }]);
  });

  it('stop a statement at the call the cap leaves no room for, though its estimate was within it', async () => {
    const { client } = await withDocs();
    await client.query('SET pg_llm.max_calls_per_statement = 1');
    // The first answer is none of the labels: llm_classify asks again, a second request.
    shared.fake.script({ kind: 'answer', content: '{"label": "billing"}' });
    await expect(client.query(`SELECT llm_classify('Money back please', ARRAY['refund', 'bug'], 'llm')`)).rejects.toMatchObject({
      code: 'LM003',
      message: expect.stringContaining('pg_llm.max_calls_per_statement (1) is reached'),
    });
    expect(shared.fake.requests).toHaveLength(1);
    expect((await client.query('SELECT 1 AS fine')).rows).toEqual([{ fine: 1 }]);
  });

  it('fail a call with 22023 when their value is not a number', async () => {
    const { client } = await withDocs();
    await client.query(`SET pg_llm.max_cost_per_statement = 'lots'`);
    await expect(client.query(`SELECT pg_llm_chat('llm', 'hi')`)).rejects.toMatchObject({ code: '22023', message: 'invalid value for parameter "pg_llm.max_cost_per_statement": "lots"' });
  });
});

describe('model prices', () => {
  it('are refused at registration unless finite and not negative (22023), so that no call makes its role spend NaN', async () => {
    const { client } = await withDocs();
    const register = (prices: string) =>
      client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'poison', NULL, '{"model_name": "m", "base_url": "${shared.fake.baseUrl}", "max_retries": 0, ${prices}}')`);
    // jsonb keeps 1e400, which JavaScript reads as Infinity: Infinity·a − Infinity·b is NaN, over no budget.
    for (const prices of ['"price_per_million_input_tokens": 1e400, "price_per_million_output_tokens": -1e400', '"price_per_million_input_tokens": -1', '"price_per_million_output_tokens": "cheap"']) {
      await expect(register(prices)).rejects.toMatchObject({
        code: '22023',
        message: expect.stringMatching(/^invalid model config: price_per_million_(input|output)_tokens must be a finite number of US dollars, 0 or more$/),
        hint: expect.stringContaining('pg_llm_add_model'),
      });
    }
    await expect(client.query(`SELECT pg_llm_chat('poison', 'hello')`)).rejects.toMatchObject({ code: '42704' });
    expect(shared.fake.requests).toHaveLength(0);
    expect(spentToday('postgres').usd).not.toBeNaN();
  });

  it('stored before the check (or written by hand) refuse the calls of their model and its estimate, with the same error', () => {
    for (const config of ['{"price_per_million_input_tokens": 1e400}', '{"price_per_million_output_tokens": -0.5}']) {
      expect(() => priceOf(JSON.parse(config) as Record<string, unknown>, 'm')).toThrow(expect.objectContaining({ sqlstate: '22023' }));
    }
    expect(priceOf({ price_per_million_input_tokens: 2.5 }, 'm')).toEqual({ input: 2.5, output: 0 });
  });
});

describe('the usage a provider answers', () => {
  it('counts negative or non-finite token counts as none: the call is answered, and the dashboard shows it ended', async () => {
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () =>
        response.writeHead(200, { 'content-type': 'application/json' }).end(
          '{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":-5,"completion_tokens":1e400,"total_tokens":1}}',
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    afterThisTest(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { client } = await withDocs();
    await client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'liar', NULL, $1)`, [
      JSON.stringify({ model_name: 'liar-model', base_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, max_retries: 0, ...PRICE }),
    ]);
    const running = async () => ((await (await fetch(`${admin.base}/api/overview`)).json()) as { calls: { running: unknown[] } }).calls.running;
    for (const i of [1, 2, 3]) expect((await client.query(`SELECT pg_llm_chat('liar', 'hello ${i}') AS a`)).rows).toEqual([{ a: 'ok' }]);
    expect(await running()).toEqual([]);
    const metrics = (await (await fetch(`${admin.base}/metrics`)).text()).split('\n');
    expect(metrics).toContain('pg_llm_model_prompt_tokens_total{provider="openai_compatible",model="liar-model"} 0');
    expect(metrics).toContain('pg_llm_model_completion_tokens_total{provider="openai_compatible",model="liar-model"} 0');
  });
});

describe("a role's daily budget", () => {
  it("refuses the statement that would take the role over it, counting the role's earlier statements; the spend shows on /metrics and the dashboard", async () => {
    const { name, client } = await withDocs();
    await client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'open', NULL, $1)`, [JSON.stringify({ model_name: 'gpt-open', base_url: shared.fake.baseUrl, max_retries: 0, ...PRICE })]);
    await client.query('GRANT SELECT ON docs TO trust_user');
    setRoleDailyBudgets(new Map([['trust_user', { calls: 3 }], ['*', { usd: 100 }]]));
    afterThisTest(async () => setRoleDailyBudgets(new Map()));
    const other = await clientOf(shared.proxy, name, 'trust');
    const twoCalls = `SELECT pg_llm_chat('open', body) FROM docs WHERE id <= 2`;
    await expect(other.query(`SELECT pg_llm_chat('open', body) FROM docs WHERE id <= 5`)).rejects.toMatchObject({
      code: 'LM003',
      message: 'role "trust_user" may make 3 model calls a day, has made 0 today, and the statement would make 5: no model was called',
    });
    expect((await other.query(twoCalls)).rows).toHaveLength(2);
    await expect(other.query(twoCalls)).rejects.toMatchObject({ code: 'LM003', message: expect.stringContaining('has made 2 today') });
    expect(shared.fake.requests).toHaveLength(2);
    // Another role has a budget of its own.
    expect((await client.query(twoCalls)).rows).toHaveLength(2);

    const metrics = (await (await fetch(`${admin.base}/metrics`)).text()).split('\n');
    expect(metrics).toContain(`pg_llm_spend_requests_total{role="trust_user",database="${name}",model="gpt-open"} 2`);
    expect(metrics.find((line) => line.startsWith(`pg_llm_spend_usd_total{role="trust_user",database="${name}",model="gpt-open"}`))).toMatch(/ 0\.2$/);
    const { spend } = (await (await fetch(`${admin.base}/api/overview`)).json()) as { spend: { rows: Array<Record<string, unknown>>; budgets: Array<Record<string, unknown>> } };
    expect(spend.rows).toContainEqual({ role: 'trust_user', database: name, model: 'gpt-open', calls: 2, usd: expect.closeTo(0.2, 6) });
    expect(spend.budgets).toEqual([
      { role: 'trust_user', budget: { calls: 3 }, spent: { calls: 2, usd: expect.closeTo(0.2, 6) } },
      { role: '*', budget: { usd: 100 }, spent: { calls: 0, usd: 0 } },
    ]);
  });

  it("binds its login's sessions whatever role they SET, as well as the role they SET to", async () => {
    const { name, client, direct } = await withDocs();
    await client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'open', NULL, $1)`, [JSON.stringify({ model_name: 'gpt-open', base_url: shared.fake.baseUrl, max_retries: 0, ...PRICE })]);
    await direct.query(`DO $$ BEGIN CREATE ROLE llm_budget_group NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    await direct.query('GRANT llm_budget_group TO trust_user');
    const login = spentToday('trust_user').calls;
    const group = spentToday('llm_budget_group').calls;
    // No budget for every role ("*"): the group's own is the only other.
    setRoleDailyBudgets(new Map([['trust_user', { calls: login + 1 }], ['llm_budget_group', { calls: group + 2 }]]));
    afterThisTest(async () => setRoleDailyBudgets(new Map()));
    const member = await clientOf(shared.proxy, name, 'trust');
    await member.query('SET ROLE llm_budget_group');
    expect((await member.query(`SELECT pg_llm_chat('open', 'one') AS a`)).rows).toHaveLength(1);
    await expect(member.query(`SELECT pg_llm_chat('open', 'two')`)).rejects.toMatchObject({
      code: 'LM003',
      message: `role "trust_user" may make ${login + 1} model calls a day, has made ${login + 1} today, and the statement would make 1: no model was called`,
    });
    await member.query('RESET ROLE');
    await expect(member.query(`SELECT pg_llm_chat('open', 'three')`)).rejects.toMatchObject({ code: 'LM003' });
    // The group's budget binds it too: another login SET to it has one call of it left.
    await direct.query('GRANT llm_budget_group TO postgres');
    await client.query('SET ROLE llm_budget_group');
    expect((await client.query(`SELECT pg_llm_chat('open', 'four') AS a`)).rows).toHaveLength(1);
    await expect(client.query(`SELECT pg_llm_chat('open', 'five')`)).rejects.toMatchObject({ code: 'LM003', message: expect.stringContaining('role "llm_budget_group" may make') });
    expect(shared.fake.requests).toHaveLength(2);
  });
});
