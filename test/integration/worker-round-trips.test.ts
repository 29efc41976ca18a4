// What the llm.call worker costs in round trips to PostgreSQL per job, counted on a relay between the worker and the
// server (upstream-turns.ts). Claims, row checks and write-backs go by the batch: a batch's check is one statement and
// the wipe of its session, its write-back the BEGIN with the write, the marks with the COMMIT, and the wipe; a job
// alone costs five round trips, claimed alone one more.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { cluster } from '../support/proxy.js';
import { TcpRelay } from '../support/tcp-relay.js';
import { docsDatabase, startWorker } from '../support/worker.js';

const JOBS = 200;
/** About one in two in a drain of this size (1.3 when a batch's check and write-back took eleven); batches are shaped
 * by timing, so the bound leaves room for a loaded machine. */
const MAX_ROUND_TRIPS_PER_JOB = 0.9;

async function pending(client: pg.Client): Promise<number> {
  const { rows } = await client.query(`SELECT count(*)::int AS n FROM llm.queue WHERE status IN ('pending', 'processing')`);
  return rows[0].n as number;
}

describe('llm.call worker round trips', () => {
  it('drains a backlog of one table in about one round trip per two jobs', async () => {
    const { name, client } = await docsDatabase({ mock_mode: 'md5', mock_latency_ms: 20 }, `'{body}', 'summary', 'model=m'`);
    const relay = await TcpRelay.start(cluster().port);
    afterThisTest(() => relay.stop());
    await client.query(`INSERT INTO docs SELECT g, 'document ' || g FROM generate_series(1, ${JOBS}) g`);
    startWorker(name, { concurrency: 16, pollMs: 60_000, leaseMs: 600_000 }, { env: {} }, 'postgres', relay.port);
    await expect.poll(() => pending(client), { timeout: 60_000, interval: 50 }).toBe(0);
    const { rows } = await client.query(`SELECT count(*) FILTER (WHERE summary = md5(body))::int AS filled FROM docs`);
    expect(rows[0].filled).toBe(JOBS);
    expect(relay.requests.turns / JOBS).toBeLessThan(MAX_ROUND_TRIPS_PER_JOB);
  });
});
