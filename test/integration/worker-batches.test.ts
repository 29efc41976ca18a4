// llm.call jobs of a model instance with "batch": true, through the fake provider's batch APIs on loopback (the
// real SDKs): submitted as one batch, waiting in llm.queue as 'batched' while the batch is polled, then written back
// into their rows; a request the batch failed retried in a batch of its own, a batch that failed whole recorded.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate, shippedMigrations } from '../../src/catalog/migrate.js';
import { processRegistry } from '../../src/metrics.js';
import { WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { freshDatabase } from '../support/database.js';
import { API_KEY, databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { roles } from '../support/roles.js';
import type { FakeBatch } from '../support/fake-batches.js';
import { startWorker } from '../support/worker.js';

const EVENTUALLY = { timeout: 15_000 };
const shared = proxyAndFakeProvider();

async function rows(client: pg.Client, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql)).rows;
}

/** A docs table enriched by the model instance 'llm' of `provider`, batched, and a worker for its database. */
async function batchedDocs(provider: string, config: Record<string, unknown> = {}, triggerOptions = '', concurrency = 8) {
  const { name, client } = await databaseWithModel(shared.proxy, shared.fake, provider, { batch: true, ...config });
  await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
  await client.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE OF body ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize: {body}', 'summary', 'model=llm'${triggerOptions})`);
  startWorker(name, { concurrency });
  return client;
}

/** The batch submitted after those there were, once it is there. */
async function nextBatch(before: number): Promise<FakeBatch> {
  await expect.poll(() => shared.fake.batches.all.length, EVENTUALLY).toBe(before + 1);
  return shared.fake.batches.all[before]!;
}

describe('llm.call jobs through a batch API', () => {
  it("OpenAI's: submitted as one JSONL batch, 'batched' while it is polled, written back once it has ended, a failed request retried", async () => {
    const before = shared.fake.batches.all.length;
    const client = await batchedDocs('openai');
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'first'), (2, 'second'), (3, 'third')`);
    const batch = await nextBatch(before);
    // Marked once the provider has taken the batch.
    await expect.poll(() => rows(client, `SELECT DISTINCT status, batch_id, attempts FROM llm.queue`), EVENTUALLY).toEqual([{ status: 'batched', batch_id: batch.id, attempts: 1 }]);
    const jobs = await rows(client, `SELECT id::text FROM llm.queue ORDER BY id`);
    expect(batch.requests.map((request) => request.customId).sort()).toEqual(jobs.map((job) => job.id).sort());
    expect(batch.requests.map((request) => request.body.messages[0].content).sort()).toEqual(['Summarize: first', 'Summarize: second', 'Summarize: third']);
    expect(batch.requests[0]!.body).toMatchObject({ model: 'gpt-test', messages: [{ role: 'user' }] });
    // No request of the plain chat API: the batch is the only way the jobs were asked.
    expect(shared.fake.requests.filter((request) => request.path.endsWith('/chat/completions'))).toEqual([]);

    await expect.poll(() => batch.polls, EVENTUALLY).toBeGreaterThan(1);
    expect(await rows(client, `SELECT count(*)::int AS n FROM docs WHERE summary IS NOT NULL`)).toEqual([{ n: 0 }]);
    // The provider's words are cut to a few hundred characters: they go into last_error and the log.
    shared.fake.batches.end(batch, (prompt) => (prompt.includes('second') ? new Error(`the request was refused${' again'.repeat(100_000)}`) : `answer to: ${prompt}`));
    await expect.poll(() => rows(client, `SELECT id, summary FROM docs WHERE summary IS NOT NULL ORDER BY id`), EVENTUALLY).toEqual([
      { id: 1, summary: 'answer to: Summarize: first' },
      { id: 3, summary: 'answer to: Summarize: third' },
    ]);

    // The failed request's job is retried, and submitted again in a batch of its own.
    const retry = await nextBatch(before + 1);
    expect(retry.requests.map((request) => request.body.messages[0].content)).toEqual(['Summarize: second']);
    await expect.poll(() => rows(client, `SELECT status, attempts, last_error FROM llm.queue WHERE batch_id = '${retry.id}'`), EVENTUALLY).toEqual([
      { status: 'batched', attempts: 2, last_error: expect.stringContaining('the request was refused') },
    ]);
    expect((await rows(client, `SELECT length(last_error) AS n FROM llm.queue WHERE batch_id = '${retry.id}'`))[0]!.n).toBeLessThan(400);
    // An answer too big to read on the event loop: its line is cut down to what is read of it in a worker thread.
    shared.fake.batches.end(retry, () => 'long answer '.repeat(10_000));
    await expect.poll(() => rows(client, `SELECT summary = repeat('long answer ', 10000) AS written FROM docs WHERE id = 2`), EVENTUALLY).toEqual([{ written: true }]);
    await expect.poll(() => rows(client, `SELECT status, count(*)::int AS n FROM llm.queue GROUP BY status`), EVENTUALLY).toEqual([{ status: 'done', n: 3 }]);
  });

  it("counts an ended batch's answered requests once, in the tables' owner's spend, at half the model's price", async () => {
    const before = shared.fake.batches.all.length;
    const client = await batchedDocs('openai', { model_name: 'gpt-batch-metered', price_per_million_input_tokens: 1, price_per_million_output_tokens: 2 });
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'first'), (2, 'second')`);
    const batch = await nextBatch(before);
    await expect.poll(() => batch.polls, EVENTUALLY).toBeGreaterThan(1);
    shared.fake.batches.end(batch);
    await expect.poll(() => rows(client, `SELECT status, count(*)::int AS n FROM llm.queue GROUP BY status`), EVENTUALLY).toEqual([{ status: 'done', n: 2 }]);
    // The fake's completion: 7 prompt and 3 completion tokens, (7 × 1 + 3 × 2) / 1e6 dollars, half that in a batch.
    const metrics = await processRegistry.metrics();
    expect(metrics).toContain('pg_llm_model_requests_total{provider="openai",model="gpt-batch-metered",kind="chat",outcome="ok"} 2');
    expect(metrics).toContain('pg_llm_model_prompt_tokens_total{provider="openai",model="gpt-batch-metered"} 14');
    // Paid by the tables' owner, the worker's login role.
    expect(metrics).toMatch(/pg_llm_spend_requests_total\{role="postgres",database="[^"]+",model="gpt-batch-metered"\} 2\n/);
    const cost = /pg_llm_model_cost_usd_total\{provider="openai",model="gpt-batch-metered"\} (\S+)/.exec(metrics)?.[1];
    expect(Number(cost)).toBeCloseTo(2 * 6.5e-6, 12);
  });

  it("Anthropic's: the Messages API's params per request, the results read as JSON lines and written back", async () => {
    const before = shared.fake.batches.all.length;
    const client = await batchedDocs('anthropic', { base_url: shared.fake.baseUrl.replace(/\/v1$/, ''), model_name: 'claude-test', max_tokens: 300 });
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'first'), (2, 'second')`);
    const batch = await nextBatch(before);
    expect(batch.api).toBe('anthropic');
    expect(batch.requests.map((request) => request.body).sort((a, b) => a.messages[0].content.localeCompare(b.messages[0].content))).toEqual([
      { model: 'claude-test', max_tokens: 300, messages: [{ role: 'user', content: 'Summarize: first' }] },
      { model: 'claude-test', max_tokens: 300, messages: [{ role: 'user', content: 'Summarize: second' }] },
    ]);
    shared.fake.batches.end(batch);
    await expect.poll(() => rows(client, `SELECT id, summary FROM docs ORDER BY id`), EVENTUALLY).toEqual([
      { id: 1, summary: 'answer to: Summarize: first' },
      { id: 2, summary: 'answer to: Summarize: second' },
    ]);
    expect(await rows(client, `SELECT DISTINCT status, batch_id FROM llm.queue`)).toEqual([{ status: 'done', batch_id: batch.id }]);
  });

  it('writes back a batch submitted before "batch" left the model\'s config, and asks one by one after', async () => {
    const before = shared.fake.batches.all.length;
    const client = await batchedDocs('openai');
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'first')`);
    const batch = await nextBatch(before);
    await expect.poll(() => rows(client, `SELECT status FROM llm.queue`), EVENTUALLY).toEqual([{ status: 'batched' }]);
    const config = { provider: 'openai', model_name: 'gpt-test', base_url: shared.fake.baseUrl, max_retries: 2 };
    await client.query(`SELECT pg_llm_add_model(false, 'openai', 'llm', $1, $2)`, [API_KEY, JSON.stringify(config)]);
    // The worker reads a model again after a few seconds.
    await new Promise((resolve) => setTimeout(resolve, 5500));
    shared.fake.batches.end(batch);
    shared.fake.script({ kind: 'answer', content: 'asked alone' });
    await client.query(`INSERT INTO docs (id, body) VALUES (2, 'second')`);
    await expect.poll(() => rows(client, `SELECT id, summary FROM docs ORDER BY id`), EVENTUALLY).toEqual([
      { id: 1, summary: 'answer to: Summarize: first' },
      { id: 2, summary: 'asked alone' },
    ]);
    expect(shared.fake.batches.all).toHaveLength(before + 1);
  });

  it('holds at most four batches of answered jobs while their batches are being submitted', { timeout: 120_000 }, async () => {
    const before = shared.fake.batches.all.length;
    let release!: () => void;
    shared.fake.batches.hold = new Promise((resolve) => (release = resolve));
    const client = await batchedDocs('openai', {}, '', 64);
    await client.query(`INSERT INTO docs (id, body) SELECT g, 'row ' || g FROM generate_series(1, 1500) g`);
    // The worker's concurrency (64), as many claimed ahead, and four batches of 256 jobs: claimed, and then no more
    // while none is submitted.
    const claimed = () => rows(client, `SELECT count(*)::int AS n FROM llm.queue WHERE status = 'processing'`);
    await expect.poll(claimed, { timeout: 60_000 }).toEqual([{ n: 2 * 64 + 4 * 256 }]);
    // Longer than a lease (5 s here): the jobs stay claimed while their batches are being submitted, however long.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect(await claimed()).toEqual([{ n: 2 * 64 + 4 * 256 }]);
    shared.fake.batches.hold = undefined;
    release();
    await expect.poll(() => rows(client, `SELECT count(*)::int AS n FROM llm.queue WHERE status = 'batched'`), EVENTUALLY).toEqual([{ n: 1500 }]);
    const sizes = shared.fake.batches.all.slice(before).map((batch) => batch.requests.length);
    expect(sizes.every((size) => size <= 256)).toBe(true);
    expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(1500);
  });

  it("gives a worker's role granted the columns the worker wrote before batches (0018) the batch_id it wrote then, and takes it back once the worker no longer writes it", async () => {
    const [worker] = await roles('worker');
    const { client: direct } = await freshDatabase();
    const all = shippedMigrations();
    const at = (name: string) => all.findIndex((migration) => migration.name === name);
    await migrate(direct, all.slice(0, at('0020_llm_queue_batches')));
    await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO ${worker}`);
    await migrate(direct, all.slice(0, at('0025_llm_queue_batch_tags')));
    const privilege = `SELECT has_column_privilege('${worker}', 'llm.queue', 'batch_id', 'UPDATE') AS granted`;
    expect((await direct.query(privilege)).rows).toEqual([{ granted: true }]);
    // Jobs waiting for a batch submitted then, whose batch carries no tag: asked again, that attempt not counted.
    await direct.query(`INSERT INTO _pg_llm_catalog.pg_llm_queue (table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, status, attempts, batch_id)
                        VALUES ('public', 'docs', 'enrich', '{"id": 1}', '{}', 'p', '{summary}', 'batched', 1, 'batch_named_by_hand')`);
    await migrate(direct, all);
    expect((await direct.query(privilege)).rows).toEqual([{ granted: false }]);
    expect((await direct.query(`SELECT has_table_privilege('${worker}', 'llm.queue', 'UPDATE') AS whole`)).rows).toEqual([{ whole: false }]);
    expect((await direct.query(`SELECT status, attempts, batch_id, last_error FROM llm.queue`)).rows).toEqual([
      { status: 'pending', attempts: 0, batch_id: null, last_error: 'its batch was submitted before batches carried a tag, so its answer is not read: the job is asked again' },
    ]);
  });

  it('a batch that failed whole fails each of its jobs, recorded in last_error', async () => {
    const before = shared.fake.batches.all.length;
    const client = await batchedDocs('openai', {}, `, 'max_attempts=1'`);
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'first')`);
    const batch = await nextBatch(before);
    // What the provider says of it, copied to each job and the log, is cut to a few hundred characters.
    shared.fake.batches.fail(batch, 'failed', `the input file could not be read${' at all'.repeat(100_000)}`);
    await expect.poll(() => rows(client, `SELECT status, last_error FROM llm.queue`), EVENTUALLY).toEqual([
      { status: 'error', last_error: expect.stringContaining(`the openai batch ${batch.id} is failed: the input file could not be read at all at all`) },
    ]);
    expect((await rows(client, `SELECT length(last_error) AS n FROM llm.queue`))[0]!.n).toBeLessThan(400);
    expect(await rows(client, `SELECT summary FROM docs`)).toEqual([{ summary: null }]);
  });

  it('a model whose provider has no batch API fails its jobs with a hint', async () => {
    const client = await batchedDocs('ollama', {}, `, 'max_attempts=1'`);
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'first')`);
    await expect.poll(() => rows(client, `SELECT status, last_error FROM llm.queue`), EVENTUALLY).toEqual([
      { status: 'error', last_error: expect.stringContaining('the ollama provider has no batch API') },
    ]);
  });
});
