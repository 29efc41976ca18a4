// Several proxy processes serving one database's llm.queue, as deployed: the built command with --worker, in child
// processes. They share the jobs without doing any twice, and the jobs of one that is killed are finished by the
// other once their lease runs out.

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/catalog/migrate.js';
import { freePort } from '../support/cluster.js';
import { launch, listening, type Running } from '../support/command.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { cluster } from '../support/proxy.js';

const EVENTUALLY = { timeout: 25_000, interval: 200 };

const shared = proxyAndFakeProvider();

/** A proxy process whose worker serves `database`; killed after the test if it is still running. */
async function workerProcess(database: string, ...args: string[]): Promise<Running> {
  const { port } = cluster();
  const running = launch(
    [
      '--listen', `127.0.0.1:${await freePort()}`,
      '--admin', 'off',
      '--embedded', 'never',
      '--upstream', `postgres://127.0.0.1:${port}/?sslmode=disable`,
      '--worker', `postgres://postgres@127.0.0.1:${port}/${database}`,
      ...args,
    ],
    { PG_LLM_MASTER_KEY: 'test master key' },
  );
  afterThisTest(async () => {
    if (running.child.exitCode === null && running.child.signalCode === null) {
      running.child.kill('SIGKILL');
      await running.exited;
    }
  });
  await listening(running);
  await expect.poll(() => running.output(), EVENTUALLY).toMatch(/llm.call worker started/);
  return running;
}

async function one(client: pg.Client, sql: string): Promise<Record<string, unknown>> {
  return (await client.query(sql)).rows[0]!;
}

describe('llm.call workers in several proxies', () => {
  it('fill a burst of 1,000 inserts between two processes, each job exactly once', async () => {
    const { name, client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`CREATE TRIGGER enrich AFTER INSERT ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('Summarize {body}', 'summary', 'model=llm')`);
    await Promise.all([workerProcess(name, '--worker-concurrency', '16'), workerProcess(name, '--worker-concurrency', '16')]);
    // Answers 30 ms apart: one process alone takes at least 2 s for the lot, so the other shares them even when the
    // machine is busy (with instant answers one process could drain all 1,000 before the other woke).
    shared.fake.script(...Array.from({ length: 1000 }, () => ({ kind: 'reply' as const, delayMs: 30, answer: () => 'default answer' })));
    await client.query(`INSERT INTO docs SELECT g, 'document ' || g FROM generate_series(1, 1000) g`);
    await expect.poll(() => one(client, `SELECT count(*)::int AS n FROM docs WHERE summary = 'default answer'`), EVENTUALLY).toEqual({ n: 1000 });
    expect(await one(client, `SELECT count(*)::int AS jobs, count(*) FILTER (WHERE status = 'done' AND attempts = 1)::int AS once, count(DISTINCT worker)::int AS workers FROM llm.queue`)).toEqual({
      jobs: 1000,
      once: 1000,
      workers: 2,
    });
    const prompts = shared.fake.requests.map((request) => (request.body.messages as Array<{ content: string }>)[0]!.content);
    expect(prompts).toHaveLength(1000);
    expect(new Set(prompts).size).toBe(1000);
  });

  it('finish the jobs of a process killed mid-batch once their lease runs out', async () => {
    const { name, client } = await freshDatabase();
    await migrate(client);
    await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, config) VALUES ('slow', 'mock', '{"mock_mode": "md5", "mock_latency_ms": 1500}')`);
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`CREATE TRIGGER enrich AFTER INSERT ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'summary', 'model=slow')`);
    // More jobs than one worker runs in several rounds, so the doomed one holds some even if it only wakes at its poll.
    const lease = ['--worker-lease', '1500', '--worker-concurrency', '16'];
    const [doomed] = await Promise.all([workerProcess(name, ...lease), workerProcess(name, ...lease)]);
    await client.query(`INSERT INTO docs SELECT g, 'document ' || g FROM generate_series(1, 100) g`);
    const held = `SELECT count(*)::int AS n FROM llm.queue WHERE status = 'processing' AND worker LIKE '%:${doomed!.child.pid}:%'`;
    await expect.poll(() => one(client, held), EVENTUALLY).not.toEqual({ n: 0 });
    const { n: orphaned } = await one(client, held);
    doomed!.child.kill('SIGKILL');
    await doomed!.exited;
    await expect.poll(() => one(client, `SELECT count(*)::int AS n FROM docs WHERE summary = md5(body)`), EVENTUALLY).toEqual({ n: 100 });
    expect(await one(client, `SELECT count(*) FILTER (WHERE status = 'done')::int AS done, count(*) FILTER (WHERE attempts = 2)::int AS retried,
                                     count(*) FILTER (WHERE worker LIKE '%:${doomed!.child.pid}:%')::int AS by_killed FROM llm.queue`)).toEqual({
      done: 100,
      retried: orphaned,
      by_killed: 0,
    });
  });
});
