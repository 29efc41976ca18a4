// What a worker's claim reads: the due jobs of its own login role's tables, however many other roles have queued. The
// claim is EXPLAINed with the worker's own statement (CLAIM) in a transaction rolled back, and the pages it touched
// counted, before and after another role queued a backlog: pages, not time, so the figures hold on a loaded machine.

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/catalog/migrate.js';
import { DEFAULT_ARGUMENT_LIMITS } from '../../src/intercept/argument-limits.js';
import { CLAIM, WORKER_PRIVILEGES } from '../../src/worker/queue.js';
import { freshDatabase } from '../support/database.js';
import { connectAs } from '../support/roles.js';

/** Another role's backlog: its rows fill a few thousand pages of the queue. */
const OTHER_JOBS = 100_000;
const OWN_JOBS = 64;

/** The shared buffers a claim of all the role's due jobs touched, the claim undone. */
async function claimBuffers(owner: pg.Client): Promise<number> {
  await owner.query('BEGIN');
  try {
    const { rows } = await owner.query({ text: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${CLAIM}`, values: ['worker', 60_000, OWN_JOBS, 4 * OWN_JOBS, [], DEFAULT_ARGUMENT_LIMITS.call] });
    const plan = (rows[0]['QUERY PLAN'] as Array<{ Plan: Record<string, number> }>)[0]!.Plan;
    expect(plan['Actual Rows']).toBe(OWN_JOBS);
    return plan['Shared Hit Blocks']! + plan['Shared Read Blocks']!;
  } finally {
    await owner.query('ROLLBACK');
  }
}

describe("an llm.call worker's claim", () => {
  it("reads its own role's due jobs, not another role's backlog", async () => {
    const { name, client: direct } = await freshDatabase();
    await migrate(direct);
    await direct.query(`GRANT ${WORKER_PRIVILEGES} ON llm.queue TO trust_user`);
    const queue = async (owner: string, jobs: number) => {
      await direct.query(
        `INSERT INTO _pg_llm_catalog.pg_llm_queue (table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, table_oid, table_owner)
         SELECT 'public', 'docs', 'enrich', jsonb_build_object('id', g), '{}', 'p', '{summary}', 1, '${owner}'::regrole FROM generate_series(1, ${jobs}) g`,
      );
      await direct.query('VACUUM ANALYZE _pg_llm_catalog.pg_llm_queue');
    };
    const alice = await connectAs('trust', name);
    await queue('trust_user', OWN_JOBS);
    const alone = await claimBuffers(alice);
    await queue('password_user', OTHER_JOBS);
    // Before the due jobs were indexed by role, the claim went through the backlog's too: 2,400 pages more than alone.
    expect(await claimBuffers(alice)).toBeLessThan(1.5 * alone);
  }, 120_000);
});
