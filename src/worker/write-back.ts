// Answers of several jobs of one table written back together: one transaction and a few set-based statements for
// the lot, where completeJob (queue.ts) takes a transaction of its own per job. Each job keeps completeJob's rules:
// written only while it is still this worker's and its row still holds the prompt's values, by the table's owner
// (the worker's login role), the row's other jobs following the new version; a job whose row changed is skipped.

import pg from 'pg';
import { byTrigger, giveBack, isJobTable, jobTable, rowMatch } from './job-row.js';
import type { Job, Outcome } from './queue.js';
import { inRowTransaction } from './row-session.js';

export interface Answered {
  job: Job;
  /** The values of the job's target columns, by column name. */
  answer: Record<string, unknown>;
}

/** Where a job's write-back ended, and the seconds since it was queued. */
export interface WriteBack {
  outcome: Outcome;
  seconds?: number;
}

/**
 * Writes the answers of `batch`: jobs of one table, at most one per row (one row written twice in one statement
 * would take only one of its answers). Resolves to each job's outcome by job id; a failure fails the whole batch,
 * nothing of it written.
 */
export async function completeJobs(pool: pg.Pool, worker: string, batch: Answered[]): Promise<Map<string, WriteBack>> {
  const { job: first } = batch[0]!;
  const table = jobTable(first);
  const outcomes = new Map<string, WriteBack>(batch.map(({ job }) => [job.id, { outcome: 'lost' }]));
  return inRowTransaction(pool, async (client) => {
    const { rows: claimed } = await client.query(
      `SELECT q.id::pg_catalog.text AS id, ${isJobTable('$3', '$4')} AS ours FROM llm.queue q
        WHERE q.id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int8[]) AND q.worker OPERATOR(pg_catalog.=) $2 AND q.status OPERATOR(pg_catalog.=) 'processing'
        ORDER BY q.id FOR UPDATE OF q`,
      [batch.map(({ job }) => job.id), worker, table, first.tableOid],
    );
    const ours = new Set(claimed.map((row) => row.id as string));
    const mine = batch.filter(({ job }) => ours.has(job.id));
    if (mine.length === 0) return outcomes;
    if (!(claimed[0] as { ours: boolean }).ours) {
      await giveBack(client, worker, mine.map(({ job }) => job));
      return outcomes;
    }
    const written = new Map<string, string>();
    for (const jobs of byTrigger(mine)) for (const [id, xmin] of await writeRows(client, jobs)) written.set(id, xmin);
    for (const [id, result] of await finish(client, mine, written)) outcomes.set(id, result);
    return outcomes;
  });
}

/** Writes the answers of jobs of one trigger into the rows that still hold their prompt's values: job id → new xmin. */
async function writeRows(client: pg.ClientBase, jobs: Answered[]): Promise<Array<[string, string]>> {
  const first = jobs[0]!.job;
  const row = rowMatch(first, 'j.pk', 'j.prompt_values');
  const set = first.targetColumns.map((column) => `${pg.escapeIdentifier(column)} = answer.${pg.escapeIdentifier(column)}`).join(', ');
  const { rows } = await client.query(
    `UPDATE ${row.table} AS t SET ${set}
       FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.jsonb[]), pg_catalog.unnest($3::pg_catalog.jsonb[]),
                       pg_catalog.unnest($4::pg_catalog.jsonb[])) AS j(id, pk, prompt_values, answer),
            ${row.sources}, pg_catalog.jsonb_populate_record(NULL::${row.table}, j.answer) AS answer
      WHERE ${row.key} AND ${row.values} AND ${isJobTable('$5', '$6')}
  RETURNING j.id::pg_catalog.text AS id, t.xmin::pg_catalog.text AS xmin`,
    [
      jobs.map(({ job }) => job.id),
      jobs.map(({ job }) => JSON.stringify(job.rowPk)),
      jobs.map(({ job }) => JSON.stringify(job.promptValues)),
      jobs.map(({ answer }) => JSON.stringify(answer)),
      row.table,
      first.tableOid,
    ],
  );
  return rows.map((written) => [written.id as string, written.xmin as string]);
}

/**
 * Marks the jobs done (row written) or skipped. As in completeJob, the row's other jobs bound to the version an
 * answer replaced follow the new one, unless its trigger fired for the write and queued its job again itself.
 */
async function finish(client: pg.ClientBase, jobs: Answered[], written: Map<string, string>): Promise<Array<[string, WriteBack]>> {
  const { tableOid } = jobs[0]!.job;
  const { rows } = await client.query(
    `WITH answered AS (
       SELECT q.id, q.row_pk, q.row_xmin AS bound, w.xmin
         FROM llm.queue q
              LEFT JOIN ROWS FROM (pg_catalog.unnest($2::pg_catalog.int8[]), pg_catalog.unnest($3::pg_catalog.xid[])) AS w(id, xmin) ON w.id OPERATOR(pg_catalog.=) q.id
        WHERE q.id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int8[])
     ), rebound AS (
       UPDATE llm.queue q SET row_xmin = a.xmin FROM answered a
        WHERE a.xmin IS NOT NULL AND q.id OPERATOR(pg_catalog.<>) ALL ($1::pg_catalog.int8[])
          AND q.status OPERATOR(pg_catalog.=) ANY ('{pending,processing}'::pg_catalog.text[]) AND q.row_xmin OPERATOR(pg_catalog.=) a.bound
          AND q.table_oid OPERATOR(pg_catalog.=) $4::pg_catalog.oid AND q.row_pk OPERATOR(pg_catalog.=) a.row_pk
          AND NOT EXISTS (SELECT 1 FROM llm.queue o WHERE o.row_xmin OPERATOR(pg_catalog.=) a.xmin AND o.status OPERATOR(pg_catalog.=) 'pending'
                             AND o.table_oid OPERATOR(pg_catalog.=) $4::pg_catalog.oid
                             AND o.row_pk OPERATOR(pg_catalog.=) a.row_pk AND o.trigger_name OPERATOR(pg_catalog.=) q.trigger_name))
     UPDATE llm.queue q SET status = CASE WHEN a.xmin IS NULL THEN 'skipped' ELSE 'done' END, last_error = NULL, lease_until = NULL, processed_at = pg_catalog.now()
       FROM answered a WHERE q.id OPERATOR(pg_catalog.=) a.id
     RETURNING q.id::pg_catalog.text AS id, q.status, extract(epoch FROM q.processed_at OPERATOR(pg_catalog.-) q.created_at)::pg_catalog.float8 AS seconds`,
    [jobs.map(({ job }) => job.id), [...written.keys()], [...written.values()], tableOid],
  );
  return rows.map((row) => [row.id as string, { outcome: row.status as Outcome, seconds: row.seconds as number }]);
}
