// The llm.call worker in this process against a real PostgreSQL: rows written to a table with an llm.call trigger
// are filled in by the model afterwards, with the mock provider or the real OpenAI SDK against the fake provider.

import { createHash } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ARGUMENT_LIMITS } from '../../src/intercept/argument-limits.js';
import { processRegistry } from '../../src/metrics.js';
import { queueCounts } from '../../src/worker/metrics.js';
import { afterThisTest } from '../support/database.js';
import { API_KEY, databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { cluster, connection } from '../support/proxy.js';
import { claimJobs, WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { docsDatabase, startWorker } from '../support/worker.js';

/** The worker's jobs finish within this; retries and polls are what takes time. */
const EVENTUALLY = { timeout: 10_000 };

const shared = proxyAndFakeProvider();

async function rows(client: pg.Client, sql: string): Promise<Array<Record<string, unknown>>> {
  return (await client.query(sql)).rows;
}

const allFinished = (client: pg.Client) => async () =>
  (await rows(client, `SELECT count(*)::int AS n FROM llm.queue WHERE status IN ('pending', 'processing')`))[0]!.n;

describe('llm.call worker', () => {
  it('fills the target column after an insert, refills it after an update, and its own write queues nothing', async () => {
    const { name, client } = await docsDatabase({ mock_mode: 'md5' });
    startWorker(name);
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'first'), (2, 'second')`);
    await expect.poll(() => rows(client, `SELECT id, summary = md5('Summarize: ' || body) AS filled FROM docs ORDER BY id`), EVENTUALLY).toEqual([
      { id: 1, filled: true },
      { id: 2, filled: true },
    ]);
    await client.query(`UPDATE docs SET body = 'changed' WHERE id = 1`);
    await expect.poll(() => rows(client, `SELECT summary FROM docs WHERE id = 1`), EVENTUALLY).toEqual([{ summary: md5('Summarize: changed') }]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await rows(client, `SELECT row_pk, status, attempts, last_error FROM llm.queue ORDER BY id`)).toEqual([
      { row_pk: { id: 1 }, status: 'done', attempts: 1, last_error: null },
      { row_pk: { id: 2 }, status: 'done', attempts: 1, last_error: null },
      { row_pk: { id: 1 }, status: 'done', attempts: 1, last_error: null },
    ]);
  });

  it('fills several columns from one JSON answer, by composite primary key, asking with a schema of exactly those columns', async () => {
    const { name, client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await client.query(`CREATE TABLE reviews (shop text, n int, body text, sentiment text, stars int, PRIMARY KEY (shop, n))`);
    await client.query(`CREATE TRIGGER enrich AFTER INSERT ON reviews FOR EACH ROW EXECUTE FUNCTION llm.call('Rate: {body}', 'sentiment', 'stars', 'model=llm')`);
    shared.fake.script({ kind: 'answer', content: '{"sentiment": "positive", "stars": "5"}' });
    startWorker(name);
    await client.query(`INSERT INTO reviews VALUES ('acme', 1, 'Great!', NULL, NULL)`);
    await expect.poll(() => rows(client, `SELECT shop, n, sentiment, stars FROM reviews`), EVENTUALLY).toEqual([{ shop: 'acme', n: 1, sentiment: 'positive', stars: 5 }]);
    expect(shared.fake.requests).toHaveLength(1);
    expect(shared.fake.requests[0]!.body).toMatchObject({
      messages: [{ role: 'user', content: 'Rate: Great!\n\nReturn a JSON object with exactly these keys: sentiment, stars' }],
      response_format: { type: 'json_schema', json_schema: { schema: { required: ['sentiment', 'stars'], additionalProperties: false } } },
    });
  });

  it('retries a failing provider with a backoff, and fills the row once it answers; no secret reaches the queue', async () => {
    const { name, client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`CREATE TRIGGER enrich AFTER INSERT ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'summary', 'model=llm')`);
    shared.fake.script(
      { kind: 'error', status: 500, message: `upstream broke, key ${API_KEY}` },
      { kind: 'error', status: 503, message: 'still down' },
      { kind: 'answer', content: 'third time lucky' },
    );
    startWorker(name, { retryDelayMs: 300 });
    await client.query(`INSERT INTO docs VALUES (1, 'hello', NULL)`);
    await expect.poll(() => rows(client, `SELECT last_error FROM llm.queue`), EVENTUALLY).toEqual([{ last_error: expect.stringContaining('upstream broke') }]);
    expect(JSON.stringify(await rows(client, `SELECT * FROM llm.queue`))).not.toContain(API_KEY);
    await expect.poll(() => rows(client, `SELECT summary FROM docs`), EVENTUALLY).toEqual([{ summary: 'third time lucky' }]);
    const jobs = await rows(client, `SELECT status, attempts, last_error, started_at - created_at >= interval '800 milliseconds' AS waited FROM llm.queue`);
    expect(jobs).toEqual([{ status: 'done', attempts: 3, last_error: null, waited: true }]);
    expect(shared.fake.requests).toHaveLength(3);
  });

  it('ends a job that keeps failing in status error with its last error, after max_attempts', async () => {
    const { name, client } = await docsDatabase({ mock_error: 'model on fire' }, `'{body}', 'summary', 'model=m', 'max_attempts=2'`);
    startWorker(name);
    await client.query(`INSERT INTO docs VALUES (1, 'hello', NULL)`);
    await expect.poll(() => rows(client, `SELECT status, attempts, last_error FROM llm.queue`), EVENTUALLY).toEqual([
      { status: 'error', attempts: 2, last_error: 'mock provider failed: model on fire' },
    ]);
    expect(await rows(client, `SELECT summary FROM docs`)).toEqual([{ summary: null }]);
    expect(await processRegistry.metrics()).toMatch(new RegExp(`pg_llm_worker_jobs_total\\{database="postgres@127.0.0.1:\\d+/${name}",outcome="error"\\} 1`));
  });

  it('skips a job whose row was deleted before it ran', async () => {
    const { name, client } = await docsDatabase({ mock_response: 'never written' });
    await client.query('BEGIN');
    await client.query(`INSERT INTO docs VALUES (1, 'short-lived', NULL)`);
    await client.query(`DELETE FROM docs WHERE id = 1`);
    await client.query('COMMIT');
    startWorker(name);
    await expect.poll(() => rows(client, `SELECT status, last_error FROM llm.queue`), EVENTUALLY).toEqual([
      { status: 'skipped', last_error: 'skipped before asking the model: its row was deleted' },
    ]);
  });

  it('never writes an answer over newer values: the row updated while its job ran gets the newer job\'s answer', async () => {
    const { name, client } = await docsDatabase({ mock_mode: 'md5', mock_latency_ms: 400 });
    startWorker(name);
    await client.query(`INSERT INTO docs VALUES (1, 'old', NULL)`);
    await expect.poll(() => rows(client, `SELECT status FROM llm.queue`), EVENTUALLY).toEqual([{ status: 'processing' }]);
    await client.query(`UPDATE docs SET body = 'new' WHERE id = 1`);
    await expect.poll(allFinished(client), EVENTUALLY).toBe(0);
    expect(await rows(client, `SELECT summary FROM docs`)).toEqual([{ summary: md5('Summarize: new') }]);
    expect(await rows(client, `SELECT prompt, status FROM llm.queue ORDER BY id`)).toEqual([
      { prompt: 'Summarize: old', status: 'skipped' },
      { prompt: 'Summarize: new', status: 'done' },
    ]);
  });

  it('writes back a row written in another TimeZone: the values the prompt read are compared as values', async () => {
    const { name, client } = await docsDatabase({ mock_mode: 'md5' });
    await client.query(`CREATE TABLE events (id int PRIMARY KEY, at timestamptz, took interval, score float8, note text)`);
    await client.query(`CREATE TRIGGER enrich AFTER INSERT OR UPDATE ON events FOR EACH ROW EXECUTE FUNCTION llm.call('At {at}, for {took}, scored {score}', 'note', 'model=m')`);
    await client.query(`SET timezone = 'Asia/Tokyo'`);
    await client.query(`SET intervalstyle = 'iso_8601'`);
    await client.query(`INSERT INTO events (id, at, took, score) VALUES (1, '2024-01-01 12:00:00+00', '90 minutes', 0.1)`);
    await client.query(`RESET timezone`);
    await client.query(`RESET intervalstyle`);
    startWorker(name);
    await expect.poll(allFinished(client), EVENTUALLY).toBe(0);
    expect(await rows(client, `SELECT status FROM llm.queue`)).toEqual([{ status: 'done' }]);
    expect(await rows(client, `SELECT note IS NOT NULL AS filled FROM events`)).toEqual([{ filled: true }]);
  });

  it('uses the proxy\'s default model when the trigger names none', async () => {
    const { name, client } = await docsDatabase({}, `'{body}', 'summary'`);
    startWorker(name, {}, { env: {}, model: { provider: 'mock', mock_response: 'from the default model' } });
    await client.query(`INSERT INTO docs VALUES (1, 'x', NULL)`);
    await expect.poll(() => rows(client, `SELECT summary FROM docs`), EVENTUALLY).toEqual([{ summary: 'from the default model' }]);
  });

  it('keeps the hint of a failure in last_error: without a default model, a trigger naming none says how to configure one', async () => {
    const { name, client } = await docsDatabase({}, `'{body}', 'summary', 'max_attempts=1'`);
    startWorker(name);
    await client.query(`INSERT INTO docs VALUES (1, 'x', NULL)`);
    await expect.poll(() => rows(client, `SELECT status, last_error FROM llm.queue`), EVENTUALLY).toEqual([
      { status: 'error', last_error: expect.stringMatching(/^no API key for the default LLM provider openai \(hint: Configure one with any of: OPENAI_API_KEY/) },
    ]);
  });

  it('counts jobs by status and their latency on /metrics, and by status for the admin dashboard', async () => {
    const { name, client } = await docsDatabase({ mock_response: 'ok' });
    startWorker(name);
    await client.query(`INSERT INTO docs SELECT g, 'x' FROM generate_series(1, 5) g`);
    await expect.poll(() => rows(client, `SELECT count(*)::int AS n FROM docs WHERE summary = 'ok'`), EVENTUALLY).toEqual([{ n: 5 }]);
    const database = `database="postgres@127.0.0.1:${cluster().port}/${name}"`;
    await expect.poll(() => processRegistry.metrics(), EVENTUALLY).toContain(`pg_llm_queue_jobs{${database},status="done"} 5`);
    const text = await processRegistry.metrics();
    expect(text).toContain(`pg_llm_worker_jobs_total{${database},outcome="done"} 5`);
    expect(text).toContain(`pg_llm_worker_job_seconds_count{${database}} 5`);
    expect(text).toContain(`pg_llm_worker_jobs_running{${database}} 0`);
    const shown = queueCounts().find((queue) => queue.database === `postgres@127.0.0.1:${cluster().port}/${name}`);
    expect(shown?.jobs).toEqual({ pending: 0, processing: 0, batched: 0, done: 5, error: 0, skipped: 0 });
  });

  it("works as the tables' owner with only the documented grant, and its write-back runs the owner's triggers as that role alone", async () => {
    const { name, client } = await docsDatabase({ mock_response: 'as the owner' });
    const owner = `owner_${name}`;
    await client.query(`CREATE ROLE ${owner} LOGIN PASSWORD 'owner secret'`);
    afterThisTest(async () => void (await client.query(`DROP OWNED BY ${owner}; DROP ROLE ${owner}`)));
    await client.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO ${owner}; ALTER TABLE docs OWNER TO ${owner}`);
    // The owner's own trigger sees who writes, and as whom the session logged in.
    await client.query(`ALTER TABLE docs ADD COLUMN written_by text`);
    await client.query(`CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.written_by := current_user || '/' || session_user; RETURN NEW; END $$`);
    await client.query(`ALTER FUNCTION stamp() OWNER TO ${owner}`);
    await client.query(`CREATE TRIGGER stamp BEFORE UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION stamp()`);
    startWorker(name, {}, { env: {} }, `${owner}:owner%20secret`);
    await client.query(`INSERT INTO docs VALUES (1, 'x', NULL)`);
    await expect.poll(() => rows(client, `SELECT summary, written_by FROM docs`), EVENTUALLY).toEqual([{ summary: 'as the owner', written_by: `${owner}/${owner}` }]);
  });

  it("leaves the jobs of tables its role does not own to their owner's worker, though it may write them", async () => {
    const { name, client } = await docsDatabase({ mock_response: 'answered' });
    const role = `enricher_${name}`;
    await client.query(`CREATE ROLE ${role} LOGIN PASSWORD 'enricher secret'`);
    afterThisTest(async () => void (await client.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`)));
    await client.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO ${role}; GRANT SELECT, UPDATE ON docs TO ${role}; GRANT CREATE ON SCHEMA public TO ${role}`);
    await client.query(`INSERT INTO docs VALUES (1, 'x', NULL)`);
    // A table of its own, whose job is queued after the other's: claimed in order, so once it is answered the worker
    // has passed the other by.
    await client.query(`SET ROLE ${role}`);
    await client.query(`CREATE TABLE own (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`CREATE TRIGGER enrich AFTER INSERT ON own FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'summary', 'model=m')`);
    await client.query(`INSERT INTO own VALUES (1, 'y', NULL)`);
    expect(await rows(client, `SELECT table_name FROM llm.queue`)).toEqual([{ table_name: 'own' }]);
    await client.query('RESET ROLE');
    startWorker(name, {}, { env: {} }, `${role}:enricher%20secret`);
    await expect.poll(() => rows(client, `SELECT summary FROM own`), EVENTUALLY).toEqual([{ summary: 'answered' }]);
    expect(await rows(client, `SELECT table_name, status FROM llm.queue ORDER BY id`)).toEqual([
      { table_name: 'docs', status: 'pending' },
      { table_name: 'own', status: 'done' },
    ]);
  });

  it('locks only the jobs it claims while claiming, so another worker takes the rest of the backlog meanwhile', async () => {
    const { name, client } = await docsDatabase({ mock_response: 'answered' });
    // Two jobs more than the second claim asks for: a first claim that locked more than its two would leave it short.
    await client.query(`INSERT INTO docs SELECT g, 'x', NULL FROM generate_series(1, 102) g`);
    const [first, second] = [new pg.Client(connection(cluster().port, 'postgres', name)), new pg.Client(connection(cluster().port, 'postgres', name))];
    for (const worker of [first, second]) {
      await worker.connect();
      afterThisTest(() => worker.end());
    }
    await first.query('BEGIN');
    expect(await claimJobs(first as unknown as pg.Pool, 'first', 2, 60_000, [], DEFAULT_ARGUMENT_LIMITS.call)).toHaveLength(2);
    const meanwhile = await claimJobs(second as unknown as pg.Pool, 'second', 100, 60_000, [], DEFAULT_ARGUMENT_LIMITS.call);
    expect(meanwhile).toHaveLength(100);
    await first.query('ROLLBACK');
  });

  it('gives unfinished jobs back to the queue when it stops', async () => {
    const { name, client } = await docsDatabase({ mock_response: 'slow', mock_latency_ms: 10_000 });
    const worker = startWorker(name);
    await client.query(`INSERT INTO docs VALUES (1, 'x', NULL)`);
    await expect.poll(() => rows(client, `SELECT status FROM llm.queue`), EVENTUALLY).toEqual([{ status: 'processing' }]);
    await worker.stop(100);
    expect(await rows(client, `SELECT status, attempts, lease_until FROM llm.queue`)).toEqual([{ status: 'pending', attempts: 0, lease_until: null }]);
  });

  it('claims a wave ahead of its places, and at shutdown gives the jobs claimed ahead back at once, untried', async () => {
    // The call in flight outlasts the stop's deadline, which is long enough for the state in between to be seen under load.
    const { name, client } = await docsDatabase({ mock_response: 'slow', mock_latency_ms: 60_000 });
    const worker = startWorker(name, { concurrency: 1 });
    await client.query(`INSERT INTO docs VALUES (1, 'x', NULL), (2, 'y', NULL), (3, 'z', NULL)`);
    const byStatus = () => rows(client, `SELECT status, count(*)::int AS n FROM llm.queue GROUP BY status ORDER BY status`);
    // One job asks its model; one more is claimed and checked, waiting for its place.
    await expect.poll(byStatus, EVENTUALLY).toEqual([{ status: 'pending', n: 1 }, { status: 'processing', n: 2 }]);
    const stopped = worker.stop(10_000);
    await expect.poll(byStatus, EVENTUALLY).toEqual([{ status: 'pending', n: 2 }, { status: 'processing', n: 1 }]);
    await stopped;
    expect(await rows(client, `SELECT status, attempts FROM llm.queue ORDER BY id`)).toEqual(Array(3).fill({ status: 'pending', attempts: 0 }));
  });
});

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}
