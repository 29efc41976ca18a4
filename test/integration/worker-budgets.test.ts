// The worker's model calls are made for the owner of the table (an llm.call job's) or of the vectorizer, and count
// against that role's daily budget as its sessions' calls do: a call waits while the calls in flight hold what is
// left of the budget, and one the day's spend leaves no room for is not made: its job (or the vectorizer's batch)
// waits for the next UTC day, saying why, and no attempt or retry of it is counted. Against a fake OpenAI on
// loopback, which counts 7 prompt and 3 completion tokens for every answer.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { setRoleDailyBudgets, spentToday } from '../../src/cost/daily-spend.js';
import { processRegistry } from '../../src/metrics.js';
import { setPriceTable } from '../../src/providers/metrics.js';
import { afterThisTest } from '../support/database.js';
import { pgAiSuite } from '../support/pg-ai.js';
import { alicesTable } from '../support/vectorizer.js';
import { docsDatabase, startWorker } from '../support/worker.js';

const suite = pgAiSuite();
const EVENTUALLY = { timeout: 20_000, interval: 100 };
/** Dollars per million tokens: a cent a token. */
const PRICE = { price_per_million_input_tokens: 10_000, price_per_million_output_tokens: 10_000 };

const rows = async (client: pg.Client, sql: string) => (await client.query(sql)).rows;
const gauge = async (name: string) => Number((await processRegistry.metrics()).split('\n').find((line) => line.startsWith(`${name} `))?.split(' ')[1]);

/** When the UTC day after today starts. */
function tomorrow(): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
}

describe("the llm.call worker's calls", () => {
  it("count against the table owner's daily budget: they wait for room held by calls in flight, and a job the day leaves no room for waits for the next day", async () => {
    // "Summarize: row 1" is 4 tokens as estimated: with max_tokens 24, 28 cents a job at worst; the fake counts 10.
    const { name, client } = await docsDatabase({ provider: 'openai_compatible', model_name: 'gpt-test', base_url: suite.fake.baseUrl, max_retries: 0, max_tokens: 24, ...PRICE });
    const before = spentToday('postgres');
    // Room for two jobs' worst case at once; after four jobs (40 cents spent), none for a fifth's.
    setRoleDailyBudgets(new Map([['postgres', { usd: before.usd + 0.6 }]]));
    afterThisTest(async () => setRoleDailyBudgets(new Map()));
    let release = (): void => undefined;
    const hold = new Promise<void>((resolve) => (release = resolve));
    suite.fake.script(...Array.from({ length: 2 }, () => ({ kind: 'reply' as const, answer: () => 'ok', hold })));
    suite.fake.requests.length = 0;
    await client.query(`INSERT INTO docs (id, body) SELECT i, 'row ' || i FROM generate_series(1, 5) AS i`);
    startWorker(name);
    // Two calls in flight, held by the fake; the other three wait for them.
    await expect.poll(async () => [suite.fake.requests.length, await gauge('pg_llm_model_calls_waiting_for_budget')], EVENTUALLY).toEqual([2, 3]);
    release();
    const jobs = () => rows(client, `SELECT status, attempts, last_error, run_after FROM llm.queue ORDER BY id`);
    await expect.poll(async () => (await jobs()).map((job) => job.status).sort(), EVENTUALLY).toEqual(['done', 'done', 'done', 'done', 'pending']);
    const waiting = (await jobs()).find((job) => job.status === 'pending')!;
    expect(waiting).toMatchObject({ attempts: 0, last_error: expect.stringMatching(/^role "postgres"'s daily budget of \$[\d.]+ leaves no room for the call: .*the model was not called/) });
    expect(waiting.run_after).toEqual(tomorrow());
    expect(await rows(client, `SELECT count(*)::int AS n FROM docs WHERE summary IS NOT NULL`)).toEqual([{ n: 4 }]);
    expect(spentToday('postgres').calls - before.calls).toBe(4);
    expect(spentToday('postgres').usd - before.usd).toBeCloseTo(0.4, 10);
    const metrics = (await processRegistry.metrics()).split('\n');
    expect(metrics).toContain(`pg_llm_spend_requests_total{role="postgres",database="${name}",model="gpt-test"} 4`);
    expect(metrics.find((line) => line.startsWith(`pg_llm_worker_jobs_total{database="postgres@127.0.0.1:`) && line.includes(`/${name}",outcome="deferred"}`))).toMatch(/ 1$/);
  });
});

describe("a pgai vectorizer's embeddings", () => {
  it("count against its owner's daily budget: a batch the day leaves no room for is not embedded, and its rows wait for the next day without a retry counted", async () => {
    const { name, alice } = await alicesTable(suite.proxy);
    await alice.query(`INSERT INTO alice.docs VALUES (1, 'one', 'the purple elephant sits on a red mushroom'), (2, 'two', 'a short body')`);
    setPriceTable(new Map([['text-embedding-3-small', { input: 10_000, output: 0 }]]));
    afterThisTest(async () => setPriceTable(new Map()));
    // Less than the worst case of the batch's texts, whatever was spent before.
    setRoleDailyBudgets(new Map([['trust_user', { usd: spentToday('trust_user').usd + 0.05 }]]));
    afterThisTest(async () => setRoleDailyBudgets(new Map()));
    await alice.query(`SELECT ai.create_vectorizer('alice.docs'::regclass, loading => ai.loading_column('body'),
                         embedding => ai.embedding_openai('text-embedding-3-small', 4), chunking => ai.chunking_none())`);
    suite.fake.requests.length = 0;
    startWorker(name, {}, { env: { OPENAI_API_KEY: 'sk-vectorizer-0123456789', OPENAI_BASE_URL: suite.fake.baseUrl } }, 'trust_user');
    await expect.poll(async () => rows(alice, `SELECT message, details FROM ai.vectorizer_errors`), EVENTUALLY).toEqual([
      { message: expect.stringMatching(/^role "trust_user"'s daily budget of \$[\d.]+ leaves no room for the call: .*the model was not called/), details: { step: 'embedding', rows: 2 } },
    ]);
    expect(suite.fake.requests).toHaveLength(0);
    expect(await rows(alice, `SELECT id, loading_retries, loading_retry_after FROM alice._vectorizer_q_1 ORDER BY id`)).toEqual([
      { id: 1, loading_retries: 0, loading_retry_after: tomorrow() },
      { id: 2, loading_retries: 0, loading_retry_after: tomorrow() },
    ]);
    expect(await rows(alice, `SELECT count(*)::int AS n FROM alice._vectorizer_q_failed_1`)).toEqual([{ n: 0 }]);
    expect(await rows(alice, `SELECT count(*)::int AS n FROM alice.docs_embedding`)).toEqual([{ n: 0 }]);
  });
});
