// A request held against a cap in dollars asks for no longer an answer than it holds: a model without max_tokens is
// held at the estimate's 256 answer tokens, so its request carries max_tokens 256 (Anthropic's too, instead of its
// default 1024), and a stream whose provider ignores that is cut once it has written more, failing LM003 like a cap
// reached. The bound this leaves: each stream cut costs at most one piece's tokens beyond what it held, and is charged
// as counted (answer-count.ts). Without a cap the request asks for no limit, and the answer is whatever its length.
// Against a fake provider on loopback that streams 2000 one-token pieces, ignoring max_tokens or keeping to it.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { setRoleDailyBudgets, spentToday } from '../../src/cost/daily-spend.js';
import { ANSWER_TOKENS } from '../../src/cost/worst-case.js';
import type { FakeProvider } from '../support/fake-provider.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { clientOf } from '../support/pg-ai.js';

const shared = proxyAndFakeProvider();
/** A cent a token. */
const PRICE = { price_per_million_input_tokens: 10_000, price_per_million_output_tokens: 10_000 };
const TOKEN_USD = 0.01;
const SESSIONS = 4;
/** An ordinary long answer, far past what a call without max_tokens is held at. */
const ANSWER_PIECES = 2000;
const PROMPT = 'Say hello to the session, ok';
/** A row a piece, then a final one. */
const STREAM = `SELECT count(*) - 1 AS pieces FROM pg_llm_chat_stream('nomax', '${PROMPT}')`;

/** A database with a priced model of no max_tokens, 'nomax'. */
async function unlimitedModel(): Promise<{ name: string; client: pg.Client }> {
  const { name, client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0, ...PRICE });
  await client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'nomax', NULL, $1)`, [JSON.stringify({ model_name: 'gpt-open', base_url: shared.fake.baseUrl, max_retries: 0, ...PRICE })]);
  shared.fake.requests.length = 0;
  return { name, client };
}

/** Scripts `count` streams of 2000 pieces, ending only once `release` is called. */
function longStreams(fake: FakeProvider, count: number, honoursMaxTokens: boolean): { release: () => void } {
  let release = (): void => undefined;
  const hold = new Promise<void>((resolve) => (release = resolve));
  fake.script(...Array.from({ length: count }, () => ({ kind: 'stream' as const, chunks: Array.from({ length: ANSWER_PIECES }, () => 'x'), hold, honoursMaxTokens })));
  afterThisTest(async () => fake.unscript());
  return { release };
}

/** `SESSIONS` sessions of the role stream an answer each, all in flight together: how each ended, and what the day spent. */
async function streamsInFlightUnderBudget(honoursMaxTokens: boolean): Promise<{ outcomes: string[]; spent: number; budget: number }> {
  const { name } = await unlimitedModel();
  const before = spentToday('trust_user').usd;
  // Room for every session's hold (its prompt and 256 answer tokens: about $2.6), and not for 2000 tokens of one.
  const budget = SESSIONS * 3;
  setRoleDailyBudgets(new Map([['trust_user', { usd: before + budget }]]));
  afterThisTest(async () => setRoleDailyBudgets(new Map()));
  const streams = longStreams(shared.fake, SESSIONS, honoursMaxTokens);
  const sessions = await Promise.all(Array.from({ length: SESSIONS }, () => clientOf(shared.proxy, name, 'trust')));
  const outcomes = sessions.map((session) =>
    session.query(STREAM).then(
      (result) => `${String(result.rows[0].pieces)} pieces`,
      (error: { code: string; message: string }) => `${error.code}: ${error.message}`,
    ),
  );
  await expect.poll(() => shared.fake.requests.length).toBe(SESSIONS);
  streams.release();
  return { outcomes: await Promise.all(outcomes), spent: spentToday('trust_user').usd - before, budget };
}

describe("a role's daily budget in dollars, for a model without max_tokens", () => {
  it('asks each request for no more than the 256 answer tokens it holds: sessions streaming together spend no more than it', async () => {
    const { outcomes, spent, budget } = await streamsInFlightUnderBudget(true);
    expect(shared.fake.requests.map((request) => request.body.max_tokens)).toEqual(Array.from({ length: SESSIONS }, () => ANSWER_TOKENS));
    expect(outcomes).toEqual(Array.from({ length: SESSIONS }, () => `${ANSWER_TOKENS} pieces`));
    // The fake counts 5 prompt tokens and a token a piece.
    expect(spent).toBeCloseTo(SESSIONS * (5 + ANSWER_TOKENS) * TOKEN_USD, 10);
    expect(spent).toBeLessThanOrEqual(budget);
  });

  it("cuts a stream whose provider ignores the limit once it passes what it holds, with LM003: together they spend no more than it", async () => {
    const { outcomes, spent, budget } = await streamsInFlightUnderBudget(false);
    expect(shared.fake.requests.map((request) => request.body.max_tokens)).toEqual(Array.from({ length: SESSIONS }, () => ANSWER_TOKENS));
    expect(outcomes).toEqual(Array.from({ length: SESSIONS }, () => `LM003: the answer passed the ${ANSWER_TOKENS} tokens its caps hold, which the provider was asked to keep to: the statement's model calls stopped there`));
    await expect.poll(() => shared.fake.requests.every((request) => request.aborted)).toBe(true);
    // Each is charged its prompt as estimated (7 tokens) and the pieces it wrote: one past its hold, the bound.
    expect(spent).toBeCloseTo(SESSIONS * (7 + ANSWER_TOKENS + 1) * TOKEN_USD, 10);
    expect(spent).toBeLessThanOrEqual(budget);
  });
});

describe('pg_llm.max_cost_per_statement', () => {
  it("asks Anthropic for no more than the 256 answer tokens held, rather than the adapter's default 1024", async () => {
    const { client } = await unlimitedModel();
    await client.query(`SELECT pg_llm_add_model(false, 'anthropic', 'claude', 'sk-ant-0123456789', $1)`, [JSON.stringify({ model_name: 'claude-test', base_url: shared.fake.baseUrl.replace(/\/v1$/, ''), max_retries: 0, ...PRICE })]);
    await client.query('SET pg_llm.max_cost_per_statement = 10');
    shared.fake.script({ kind: 'answer', content: 'hello' });
    afterThisTest(async () => shared.fake.unscript());
    await client.query(`SELECT pg_llm_chat('claude', '${PROMPT}')`);
    expect(shared.fake.requests.map((request) => [request.path, request.body.max_tokens])).toEqual([['/v1/messages', ANSWER_TOKENS]]);
  });
});

describe('a model call under no cap', () => {
  it('asks for no limit, and streams the whole answer', async () => {
    const { name } = await unlimitedModel();
    const session = await clientOf(shared.proxy, name, 'trust');
    longStreams(shared.fake, 1, false).release();
    expect((await session.query(STREAM)).rows).toEqual([{ pieces: String(ANSWER_PIECES) }]);
    expect(shared.fake.requests.map((request) => 'max_tokens' in request.body || 'max_completion_tokens' in request.body)).toEqual([false]);
  });
});
