// The spending caps hold against the model calls in flight, not only against the cost of those answered: each
// request holds its worst case (its prompt's tokens as estimated, and its answer's max_tokens) against its statement's
// caps and its role's day before it goes out, and settles to its real cost when its answer comes. Calls in flight
// together therefore spend no more than a cap whenever each costs no more than its worst case (the bound these tests
// show: a provider that counts more tokens than the estimate can go past a cap by that difference, per call in flight).
// Against a fake OpenAI on loopback that holds its answers until the test lets them go, so that the calls are
// certainly in flight together, and counts 7 prompt and 3 completion tokens for every answer.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { setRoleDailyBudgets, spentToday } from '../../src/cost/daily-spend.js';
import { StatementSpending } from '../../src/cost/statement-spending.js';
import { embedTexts, providerFor } from '../../src/providers/index.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { clientOf } from '../support/pg-ai.js';

const shared = proxyAndFakeProvider();

/** Dollars per million tokens: a cent a token. */
const PRICE = { price_per_million_input_tokens: 10_000, price_per_million_output_tokens: 10_000 };
/** 28 characters, 7 tokens as estimated: with max_tokens 3, a call's worst case is 10 tokens, what the fake counts. */
const PROMPT = 'Say hello to the session, ok';
const WORST_CASE_USD = 0.1;
const SESSIONS = 8;
/** Statements through the proxy take their time on a busy machine. */
const EVENTUALLY = { timeout: 20_000, interval: 50 };

/** A database with priced models of max_tokens 3 (any role may call them): 'open', and 'p1' to 'p{parallel}'. */
async function pricedModels(parallel = 0) {
  const { name, client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0, ...PRICE });
  for (const instance of ['open', ...Array.from({ length: parallel }, (_, i) => `p${i + 1}`)]) {
    await client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', $1, NULL, $2)`, [instance, JSON.stringify({ model_name: 'gpt-open', base_url: shared.fake.baseUrl, max_retries: 0, max_tokens: 3, ...PRICE })]);
  }
  shared.fake.requests.length = 0;
  return { name, client };
}

/** Scripts `count` answers that the fake holds until `release` is called; those no request took are dropped after the test. */
function heldAnswers(count: number): { release: () => void } {
  let release = (): void => undefined;
  const hold = new Promise<void>((resolve) => (release = resolve));
  shared.fake.script(...Array.from({ length: count }, () => ({ kind: 'reply' as const, answer: () => 'hello', hold })));
  afterThisTest(async () => shared.fake.unscript());
  return { release };
}

/** The query's SQLSTATE, or 'answered'; `settled` counts the queries that have ended. */
function outcome(client: pg.Client, sql: string, settled: { count: number }): Promise<string> {
  return client.query(sql).then(
    () => 'answered',
    (error: { code: string; message: string }) => `${error.code}: ${error.message}`,
  ).finally(() => settled.count++);
}

describe("a role's daily budget in dollars", () => {
  it('holds against the calls its sessions have in flight: together they spend no more than it, and another role is not held up', async () => {
    const { name, client } = await pricedModels();
    const before = spentToday('trust_user').usd;
    // Room for three calls' worst case, not four.
    const budget = before + 3.5 * WORST_CASE_USD;
    setRoleDailyBudgets(new Map([['trust_user', { usd: budget }]]));
    afterThisTest(async () => setRoleDailyBudgets(new Map()));
    const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => clientOf(shared.proxy, name, 'trust')));
    const held = heldAnswers(SESSIONS + 1);
    const settled = { count: 0 };
    // Each statement alone is well within the budget, so each passes the check before its first call.
    const outcomes = sessions.map((session) => outcome(session, `SELECT pg_llm_chat('open', '${PROMPT}')`, settled));
    const other = outcome(client, `SELECT pg_llm_chat('open', '${PROMPT}')`, settled);
    // Every call is in flight at the fake, or refused without a request.
    await expect.poll(() => shared.fake.requests.length + settled.count, EVENTUALLY).toBe(SESSIONS + 1);
    held.release();
    const results = await Promise.all(outcomes);
    expect(results.filter((result) => result === 'answered')).toHaveLength(3);
    expect(results.filter((result) => result !== 'answered')).toEqual(
      Array.from({ length: SESSIONS - 3 }, () => expect.stringMatching(/^LM003: role "trust_user"'s daily budget of \$[\d.]+ leaves no room for the call: .* held by calls in flight/)),
    );
    expect(await other).toBe('answered');
    expect(shared.fake.requests).toHaveLength(3 + 1);
    expect(spentToday('trust_user').usd).toBeLessThanOrEqual(budget);
    expect(spentToday('trust_user').usd - before).toBeCloseTo(3 * WORST_CASE_USD, 10);
  });
});

describe('pg_llm.max_cost_per_statement', () => {
  it("holds against one statement's calls in flight together: a parallel chat of eight models sends no more than the cap's worth", async () => {
    const { client } = await pricedModels(SESSIONS);
    const before = spentToday('postgres').usd;
    await client.query(`SET pg_llm.max_cost_per_statement = ${3.5 * WORST_CASE_USD}`);
    const held = heldAnswers(SESSIONS);
    const settled = { count: 0 };
    // Its estimate cannot tell which models the call asks, so it passes the check before the first call.
    const models = Array.from({ length: SESSIONS }, (_, i) => `'p${i + 1}'`).join(', ');
    const result = outcome(client, `SELECT pg_llm_parallel_chat('${PROMPT}', ARRAY[${models}])`, settled);
    await expect.poll(() => settled.count > 0 || shared.fake.requests.length === SESSIONS, EVENTUALLY).toBe(true);
    held.release();
    expect(await result).toMatch(/^LM003: pg_llm.max_cost_per_statement \(\$0.35\) leaves no room for the call/);
    expect(shared.fake.requests.length).toBeLessThanOrEqual(3);
    expect(spentToday('postgres').usd - before).toBeLessThanOrEqual(3.5 * WORST_CASE_USD);
  });
});

describe('embeddings of several statements sent in one request', () => {
  /** A statement's spending under a max cost, as a session's statement has it. */
  const statement = (maxUsd: number): StatementSpending => {
    const spending = new StatementSpending();
    spending.limitBy(Promise.resolve({ maxCalls: undefined, maxUsd, daily: [] }));
    return spending;
  };
  const embedding = () => providerFor('shared-embeddings', { provider: 'openai_compatible', model_name: 'm', embedding_model: 'emb-test', base_url: shared.fake.baseUrl, max_retries: 0, ...PRICE });
  const asker = JSON.stringify(['batch_role', 'db', 'batch_role']);
  /** 40 and 120 characters: 10 and 30 tokens as estimated, a quarter and three quarters of a request of both. */
  const [short, long] = ['a'.repeat(40), 'b'.repeat(120)];
  const embedFor = (spending: StatementSpending, text: string) => spending.within(() => embedTexts(embedding(), [text], spending.signal, asker));

  it("charge each statement's caps its own share of the request, and the role's day the whole of it", async () => {
    shared.fake.requests.length = 0;
    const [first, second] = [statement(1), statement(1)];
    const before = spentToday('batch_role').usd;
    await Promise.all([embedFor(first, short), embedFor(second, long)]);
    expect(shared.fake.requests.map((request) => request.body.input)).toEqual([[short, long]]);
    // The fake counts 2 tokens a text: 4 cents for the request.
    expect(spentToday('batch_role').usd - before).toBeCloseTo(0.04, 10);
    expect([first.usd, second.usd]).toEqual([expect.closeTo(0.01, 10), expect.closeTo(0.03, 10)]);
    expect([first.calls, second.calls]).toEqual([1, 1]);
  });

  it("stop the statement whose cap leaves no room for its share; the others get their answers", async () => {
    shared.fake.requests.length = 0;
    // The long text's worst case is 30 cents.
    const [roomy, tight] = [statement(1), statement(0.25)];
    const [answered, refused] = await Promise.allSettled([embedFor(roomy, short), embedFor(tight, long)]);
    expect(answered).toMatchObject({ status: 'fulfilled', value: { vectors: [expect.any(Array)] } });
    expect(refused.status).toBe('rejected');
    expect(tight.exceeded).toMatchObject({ sqlstate: 'LM003', message: expect.stringContaining('pg_llm.max_cost_per_statement ($0.25) leaves no room for the call') });
    expect([roomy.usd, tight.usd]).toEqual([expect.closeTo(0.01, 10), 0]);
  });
});
