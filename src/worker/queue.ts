// The worker's side of llm.queue, in SQL: claiming jobs (FOR UPDATE SKIP LOCKED, so workers in several proxies
// never take the same one), renewing the leases of the jobs it runs, writing an answer back into its row by primary
// key, recording a failure (a retry after a backoff, or status 'error'), giving jobs back at shutdown, and the
// upkeep: jobs whose worker vanished, finished jobs past their keeping time, the counts by status.
//
// Everything goes through the llm.queue view, so the worker's role needs rights on it and on the tables it writes,
// nothing in the catalog.

import pg from 'pg';
import { jobRow } from './job-row.js';

export interface Job {
  id: string;
  tableSchema: string;
  tableName: string;
  /** The row's primary key, column by column, as to_jsonb gives it. */
  rowPk: Record<string, unknown>;
  /** The values the prompt was resolved from: the answer is written only while the row still holds them. */
  promptValues: Record<string, unknown>;
  prompt: string;
  targetColumns: string[];
  modelInstance: string | null;
  attempts: number;
  maxAttempts: number;
}

/** Where a job ended: written back, skipped (row gone or changed), waiting for a retry, failed for good, or no
 * longer ours (its lease ran out and another worker took it). */
export type Outcome = 'done' | 'skipped' | 'retry' | 'error' | 'lost';

export const STATUSES = ['pending', 'processing', 'done', 'error', 'skipped'] as const;
export type Status = (typeof STATUSES)[number];

const MAX_RETRY_DELAY_MS = 5 * 60 * 1000;

/** Takes up to `limit` jobs that are due, or whose lease ran out with attempts left, for `worker`. */
export async function claimJobs(pool: pg.Pool, worker: string, limit: number, leaseMs: number): Promise<Job[]> {
  const { rows } = await pool.query(
    `UPDATE llm.queue q
        SET status = 'processing', attempts = q.attempts + 1, worker = $1, lease_until = now() + $2 * interval '1 millisecond', started_at = now()
      WHERE q.id IN (SELECT id FROM llm.queue
                      WHERE (status = 'pending' AND run_after <= now())
                         OR (status = 'processing' AND lease_until < now() AND attempts < max_attempts)
                      ORDER BY run_after, id
                      LIMIT $3
                      FOR UPDATE SKIP LOCKED)
  RETURNING q.id, q.table_schema, q.table_name, q.row_pk, q.prompt_values, q.prompt, q.target_columns, q.model_instance, q.attempts, q.max_attempts`,
    [worker, leaseMs, limit],
  );
  return rows.map((row) => ({
    id: String(row.id),
    tableSchema: row.table_schema,
    tableName: row.table_name,
    rowPk: row.row_pk,
    promptValues: row.prompt_values,
    prompt: row.prompt,
    targetColumns: row.target_columns,
    modelInstance: row.model_instance,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
  }));
}

/** Extends the leases of the jobs `worker` is still running. */
export async function renewLeases(pool: pg.Pool, worker: string, ids: string[], leaseMs: number): Promise<void> {
  if (ids.length === 0) return;
  await pool.query(
    `UPDATE llm.queue SET lease_until = now() + $3 * interval '1 millisecond' WHERE id = ANY($2::bigint[]) AND worker = $1 AND status = 'processing'`,
    [worker, ids, leaseMs],
  );
}

/**
 * Writes the answer into the job's row and marks the job done, in one transaction, if the job is still this
 * worker's. The row is written as the table's owner (SET LOCAL ROLE), so the table's own triggers, defaults and
 * checks run with the rights of whoever defined them, never with the worker's (which reach the whole queue and the
 * other tables it fills); the worker's role must therefore be a member of the owner's. A row that was deleted, or
 * whose prompt columns changed since (a newer job has the new values), is left alone and the job marked skipped.
 * Resolves to the outcome and the seconds since the job was queued.
 */
export async function completeJob(pool: pg.Pool, worker: string, job: Job, answer: Record<string, unknown>): Promise<{ outcome: Outcome; seconds?: number }> {
  const row = jobRow(job);
  const set = job.targetColumns.map((column) => `${pg.escapeIdentifier(column)} = answer.${pg.escapeIdentifier(column)}`).join(', ');
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows: claimed } = await client.query(
      `SELECT pg_get_userbyid(c.relowner) AS owner, q.row_xmin::text AS row_xmin FROM llm.queue q LEFT JOIN pg_class c ON c.oid = to_regclass($3)
        WHERE q.id = $1 AND q.worker = $2 AND q.status = 'processing' FOR UPDATE OF q`,
      [job.id, worker, row.table],
    );
    if (claimed.length === 0) {
      await client.query('ROLLBACK');
      return { outcome: 'lost' };
    }
    let written: string | undefined;
    const { owner, row_xmin: boundTo } = claimed[0] as { owner: string | null; row_xmin: string | null };
    if (owner !== null) {
      await client.query(`SET LOCAL ROLE ${pg.escapeIdentifier(owner)}`);
      const { rows } = await client.query(
        `UPDATE ${row.table} AS t SET ${set} FROM ${row.sources}, jsonb_populate_record(NULL::${row.table}, $3::jsonb) AS answer
          WHERE ${row.key} AND ${row.values} RETURNING t.xmin::text AS xmin`,
        [...row.parameters, JSON.stringify(answer)],
      );
      written = rows[0]?.xmin as string | undefined;
      await client.query('RESET ROLE');
    }
    // The row's other jobs bound to the version this answer replaces (several llm.call triggers on one table) follow
    // it: a trigger limited by UPDATE OF or WHEN does not fire for this write, so would not re-bind them itself.
    const { rows } = await client.query(
      `WITH rebound AS (
         UPDATE llm.queue SET row_xmin = $4::xid
          WHERE $4::xid IS NOT NULL AND id <> $1 AND status IN ('pending', 'processing') AND row_xmin = $3::xid
            AND table_schema = $5 AND table_name = $6 AND row_pk = $7::jsonb)
       UPDATE llm.queue SET status = $2, last_error = NULL, lease_until = NULL, processed_at = now() WHERE id = $1
       RETURNING extract(epoch FROM processed_at - created_at)::float8 AS seconds`,
      [job.id, written ? 'done' : 'skipped', boundTo, written ?? null, job.tableSchema, job.tableName, JSON.stringify(job.rowPk)],
    );
    await client.query('COMMIT');
    return { outcome: written ? 'done' : 'skipped', seconds: rows[0]?.seconds as number };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Records a failed attempt: the job waits for its retry (the delay doubling with each attempt), or ends in 'error'
 * once its attempts are spent, or is skipped when the row has a newer job that will run on newer values.
 */
export async function failJob(pool: pg.Pool, worker: string, job: Job, message: string, retryDelayMs: number): Promise<Outcome> {
  const { rows } = await pool.query(
    `WITH failed AS (
       SELECT q.id, q.attempts >= q.max_attempts AS spent,
              EXISTS (SELECT 1 FROM llm.queue n
                       WHERE n.status = 'pending' AND n.table_schema = q.table_schema AND n.table_name = q.table_name
                         AND n.trigger_name = q.trigger_name AND n.row_pk = q.row_pk) AS superseded
         FROM llm.queue q WHERE q.id = $1)
     UPDATE llm.queue q
        SET status = CASE WHEN f.superseded THEN 'skipped' WHEN f.spent THEN 'error' ELSE 'pending' END,
            last_error = $3,
            run_after = now() + least($4 * power(2, q.attempts - 1), $5) * interval '1 millisecond',
            lease_until = NULL,
            processed_at = CASE WHEN f.superseded OR f.spent THEN now() END
       FROM failed f
      WHERE q.id = f.id AND q.worker = $2 AND q.status = 'processing'
  RETURNING q.status`,
    [job.id, worker, message, retryDelayMs, MAX_RETRY_DELAY_MS],
  );
  const status = rows[0]?.status as Status | undefined;
  return status === undefined ? 'lost' : status === 'pending' ? 'retry' : (status as Outcome);
}

/** Gives jobs back to the queue untried, at shutdown: the attempt they were claimed for does not count. */
export async function releaseJobs(pool: pg.Pool, worker: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await pool.query(
    `UPDATE llm.queue SET status = 'pending', attempts = attempts - 1, lease_until = NULL, run_after = now()
      WHERE id = ANY($2::bigint[]) AND worker = $1 AND status = 'processing'`,
    [worker, ids],
  );
}

/**
 * Ends jobs whose worker stopped without a word on their last attempt (lease run out, attempts spent), and deletes
 * done and skipped jobs older than `keepDoneSeconds`.
 */
export async function tidyQueue(pool: pg.Pool, keepDoneSeconds: number): Promise<void> {
  await pool.query(
    `UPDATE llm.queue
        SET status = 'error', processed_at = now(), lease_until = NULL,
            last_error = coalesce(last_error || '; ', '') || 'the worker running its last attempt stopped before finishing it (' || worker || ')'
      WHERE status = 'processing' AND lease_until < now() AND attempts >= max_attempts`,
  );
  await pool.query(`DELETE FROM llm.queue WHERE status IN ('done', 'skipped') AND processed_at < now() - $1 * interval '1 second'`, [keepDoneSeconds]);
}

/** How many jobs the queue holds in each status. */
export async function countByStatus(pool: pg.Pool): Promise<Record<Status, number>> {
  const { rows } = await pool.query(`SELECT status, count(*)::int AS n FROM llm.queue GROUP BY status`);
  const counts = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<Status, number>;
  for (const row of rows) counts[row.status as Status] = row.n;
  return counts;
}
