// The worker's check of a job's row before it asks the model (job-row.ts), racing the write-back of another job of
// the same row: that write-back writes the row and binds the row's other jobs to its version in one transaction. A
// check that waited for that transaction's lock on its job must compare the job's new binding with the row's new
// version, not with the version it would have seen before it waited.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/catalog/migrate.js';
import { checkJobRows } from '../../src/worker/job-row.js';
import { DEFAULT_ARGUMENT_LIMITS } from '../../src/intercept/argument-limits.js';
import { claimJobs } from '../../src/worker/queue.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { cluster, connection } from '../support/proxy.js';

const WORKER = 'checker';

async function connected(name: string): Promise<pg.Client> {
  const client = new pg.Client(connection(cluster().port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  return client;
}

describe("the worker's check of a job's row", () => {
  it("finds the job bound to the row's version when the write-back of the row's other job committed while the check waited for it", async () => {
    const { name, client } = await freshDatabase();
    await migrate(client);
    await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_models (instance_name, model_type, config) VALUES ('m', 'mock', '{}')`);
    await client.query(`CREATE TABLE reviews (id int PRIMARY KEY, body text, sentiment text, tags text)`);
    for (const [trigger, target] of [['a_sentiment', 'sentiment'], ['b_tags', 'tags']]) {
      await client.query(`CREATE TRIGGER ${trigger} AFTER INSERT OR UPDATE OF body ON reviews FOR EACH ROW
                          EXECUTE FUNCTION llm.call('${target}: {body}', '${target}', 'model=m')`);
    }
    await client.query(`INSERT INTO reviews VALUES (1, 'Great!', NULL, NULL)`);
    const pool = new pg.Pool({ ...connection(cluster().port, 'postgres', name), max: 2 });
    afterThisTest(() => pool.end());
    const tags = (await claimJobs(pool, WORKER, 2, 60_000, [], DEFAULT_ARGUMENT_LIMITS.call)).find((job) => job.triggerName === 'b_tags')!;

    // The sentiment job's write-back, as write-back.ts makes it: the answer written, the tags job bound to the new
    // version, uncommitted while the tags job's check starts and waits on it.
    const writeBack = await connected(name);
    await writeBack.query(`BEGIN`);
    await writeBack.query(`UPDATE reviews SET sentiment = 'positive' WHERE id = 1`);
    await writeBack.query(`UPDATE llm.queue SET row_xmin = (SELECT xmin FROM reviews WHERE id = 1) WHERE id = $1`, [tags.id]);
    const checked = checkJobRows(pool, WORKER, [tags]);
    const watcher = await connected(name);
    await expect
      .poll(async () => (await watcher.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [name])).rows[0].n)
      .toBe(1);
    await writeBack.query(`COMMIT`);

    expect((await checked).get(tags.id)).toBe('ready');
    expect((await client.query(`SELECT status, last_error FROM llm.queue WHERE id = $1`, [tags.id])).rows).toEqual([{ status: 'processing', last_error: null }]);
  });
});
