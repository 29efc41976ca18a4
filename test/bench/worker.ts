// The llm.call worker's throughput: 1,000 jobs queued at once (one INSERT of 1,000 rows into a table with an
// llm.call trigger) and drained by the proxy's worker with a mock model that takes 50 ms per answer, timed from
// the commit to the last answer written. postgres-llm itself drains its queue with pg_cron every 5 s, 20 jobs at a
// time, one after another: the reference below.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { migrate } from '../../src/catalog/migrate.js';

export const WORKER_DATABASE = 'bench_worker';
export const WORKER_JOBS = 1000;
export const JOB_CALL_MS = 50;
/** --worker-concurrency of the benchmark's proxy. */
export const WORKER_CONCURRENCY = 64;
/** postgres-llm: llm.process_queue(20) every 5 seconds. */
const ORIGINAL_BATCH = 20;
const ORIGINAL_INTERVAL_MS = 5000;
const DRAIN_TIMEOUT_MS = 120_000;
/** The drain is on target within this factor of the ideal (the calls alone, in waves of the concurrency). */
export const DRAIN_TARGET_FACTOR = 1.3;

export interface WorkerResult {
  drainMs: number;
  /** Median and 95th percentile of the jobs' time from the commit to their answer in the row. */
  medianJobMs: number;
  p95JobMs: number;
}

/** Creates the database the benchmark's proxy serves with --worker, with the catalog installed. */
export async function prepareWorkerDatabase(port: number): Promise<void> {
  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${WORKER_DATABASE}`);
  } finally {
    await admin.end();
  }
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: WORKER_DATABASE });
  await client.connect();
  try {
    await migrate(client);
  } finally {
    await client.end();
  }
}

/** Registers the model through the proxy, queues the jobs in one transaction and waits for the worker to finish. */
export async function measureWorker(proxyPort: number): Promise<WorkerResult> {
  const client = new pg.Client({ host: '127.0.0.1', port: proxyPort, user: 'postgres', database: WORKER_DATABASE });
  await client.connect();
  try {
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'bench_worker', NULL, '{"mock_mode": "md5", "mock_latency_ms": ${JOB_CALL_MS}}')`);
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, summary text)`);
    await client.query(`CREATE TRIGGER enrich AFTER INSERT ON docs FOR EACH ROW EXECUTE FUNCTION llm.call('{body}', 'summary', 'model=bench_worker')`);
    await client.query(`INSERT INTO docs SELECT g, 'document ' || g FROM generate_series(1, ${WORKER_JOBS}) g`);
    const committed = performance.now();
    for (;;) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM llm.queue WHERE status IN ('pending', 'processing')`);
      if (rows[0].n === 0) break;
      if (performance.now() - committed > DRAIN_TIMEOUT_MS) throw new Error(`the worker left ${rows[0].n} of ${WORKER_JOBS} jobs after ${DRAIN_TIMEOUT_MS / 1000} s`);
      await sleep(10);
    }
    const drainMs = performance.now() - committed;
    const { rows } = await client.query(
      `SELECT count(*) FILTER (WHERE d.summary = md5(d.body))::int AS filled,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM q.processed_at - q.created_at)) * 1000 AS median,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM q.processed_at - q.created_at)) * 1000 AS p95
         FROM llm.queue q JOIN docs d ON q.row_pk = jsonb_build_object('id', d.id)`,
    );
    if (rows[0].filled !== WORKER_JOBS) throw new Error(`the worker filled ${rows[0].filled} of ${WORKER_JOBS} rows`);
    return { drainMs, medianJobMs: Number(rows[0].median), p95JobMs: Number(rows[0].p95) };
  } finally {
    await client.end();
  }
}

/** postgres-llm's drain time for the same jobs, and the best that jobs in waves of WORKER_CONCURRENCY can do. */
export function workerReference(): { originalMs: number; idealMs: number } {
  const batches = Math.ceil(WORKER_JOBS / ORIGINAL_BATCH);
  // Each cron run calls its 20 jobs one at a time; runs start every 5 s, or when the previous one ends if later.
  const originalMs = (batches - 1) * Math.max(ORIGINAL_INTERVAL_MS, ORIGINAL_BATCH * JOB_CALL_MS) + ORIGINAL_BATCH * JOB_CALL_MS;
  return { originalMs, idealMs: Math.ceil(WORKER_JOBS / WORKER_CONCURRENCY) * JOB_CALL_MS };
}
