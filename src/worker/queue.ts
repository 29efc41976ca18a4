// The worker's side of llm.queue, in SQL: claiming jobs (FOR UPDATE SKIP LOCKED, so workers in several proxies
// never take the same one), renewing the leases of the jobs it runs, writing an answer back into its row by primary
// key, recording a failure (a retry after a backoff, or status 'error'), giving jobs back at shutdown, and the
// upkeep: jobs whose worker vanished, finished jobs past their keeping time, the counts by status.
//
// Everything goes through the llm.queue view, which shows a role only the jobs of the tables it owned when their rows
// were written: the worker's role (the tables' owner) needs rights on it, nothing in the catalog. A worker claims only
// the jobs queued for tables its login role owned, and runs them only while it still owns the table of that oid, so
// that no owner's code ever runs in a session that could RESET ROLE to a stronger role.

import pg from 'pg';
import { PgError } from '../../proxy/pg-error.js';
import { giveBack, isJobTable, jobRow, lockJobTable } from './job-row.js';
import { inRowTransaction, times } from './row-session.js';

export interface Job {
  id: string;
  /** The oid of the table the job was queued for: its rows are read and written only in the table of this oid. */
  tableOid: string;
  /** Where that table is now, as llm.queue shows it (or was, once it is dropped or given to another owner). */
  tableSchema: string;
  tableName: string;
  /** The llm.call trigger that queued it. */
  triggerName: string;
  /** The row's primary key, column by column, as to_jsonb gives it. */
  rowPk: Record<string, unknown>;
  /** The values the prompt was resolved from: the answer is written only while the row still holds them. */
  promptValues: Record<string, unknown>;
  prompt: string;
  targetColumns: string[];
  modelInstance: string | null;
  attempts: number;
  maxAttempts: number;
  /**
   * Whether its prompt and values together pass what the worker reads (--max-argument-bytes): then neither is read (promptValues is {}, prompt ''),
   * and the job fails without its model being asked.
   */
  oversized: boolean;
}

/** Where a job ended: written back, skipped (row gone or changed), waiting for a retry, failed for good, waiting for
 * the next day of its owner's daily budget, or no longer ours (its lease ran out and another worker took it). */
export type Outcome = 'done' | 'skipped' | 'retry' | 'error' | 'deferred' | 'lost';

export const STATUSES = ['pending', 'processing', 'batched', 'done', 'error', 'skipped'] as const;
export type Status = (typeof STATUSES)[number];

/**
 * What a worker's role must be granted on llm.queue: UPDATE of the columns it writes, deleted included (a job is
 * deleted by marking it), and no UPDATE or DELETE of the whole view, which would let the role LOCK it and with it
 * every role's queue (incremental/0018_no_table_locks.sql). A job's batch is written otherwise (markBatched).
 */
export const WORKER_PRIVILEGES = 'SELECT, UPDATE (status, attempts, last_error, run_after, worker, lease_until, started_at, processed_at, row_xmin, deleted)';

const MAX_RETRY_DELAY_MS = 5 * 60 * 1000;
/** Due jobs looked at per job wanted: room for other workers' claims of the same ones, which are skipped. */
const CANDIDATES_PER_JOB = 4;

/** A job that is due: pending and past its run_after, or processing with its lease run out and attempts left. */
function dueJob(job: string): string {
  return `((${job}.status OPERATOR(pg_catalog.=) 'pending' AND ${job}.run_after OPERATOR(pg_catalog.<=) pg_catalog.now())
           OR (${job}.status OPERATOR(pg_catalog.=) 'processing' AND ${job}.lease_until OPERATOR(pg_catalog.<) pg_catalog.now()
               AND ${job}.attempts OPERATOR(pg_catalog.<) ${job}.max_attempts))`;
}

/**
 * A job queued for a table the session's login role owned then, taken while the session runs as that role. Its
 * table may have been dropped or given to another owner since: checkJobRows skips such a job unasked.
 */
function jobOfSessionOwner(job: string): string {
  return `current_user OPERATOR(pg_catalog.=) session_user
          AND ${job}.table_owner OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) session_user)`;
}

/**
 * Takes up to `limit` jobs that are due, or whose lease ran out with attempts left, for `worker`: only jobs of the
 * tables the session's login role owns, and none while the session runs as another role, nor any of `held`: the
 * jobs `worker` is still running or writing back, which name it still once their lease has run out and, taken again,
 * would be run twice. A job it has let go of may be taken again, by it too: one whose failure it could not record
 * waits for its lease to run out, as a vanished worker's would. The due jobs are chosen first without locks, a few
 * times more than wanted; then they are locked one at a time in that order, passing over those no longer due or
 * locked by another worker's claim, until enough are held. FOR UPDATE through llm.queue (a security-barrier view)
 * locks every row its filter passes before a LIMIT above it applies: a claim that locked its jobs in one go would
 * lock the whole backlog, or every candidate, and other workers, skipping locked rows, would find nothing meanwhile.
 * A job's prompt and values are sent only within `maxJobBytes` (see takenJobs).
 */
export async function claimJobs(pool: pg.Pool, worker: string, limit: number, leaseMs: number, held: string[], maxJobBytes: number): Promise<Job[]> {
  const { rows } = await pool.query(CLAIM, [worker, leaseMs, limit, limit * CANDIDATES_PER_JOB, held, maxJobBytes]);
  return rows.map(jobOf);
}

/** Why a job whose prompt and values pass `maxJobBytes` fails, unread and unasked. */
export function oversizedJob(maxJobBytes: number): PgError {
  return new PgError('54000', `the job's prompt and the row values it was made from are larger than the worker reads (${maxJobBytes} bytes)`, {
    hint: 'Shorten the columns the llm.call prompt reads, or raise --max-argument-bytes; the model is not asked.',
  });
}

/**
 * The jobs an UPDATE of `llm.queue q` takes, as a claim returns them. Any role that may write a table with an
 * llm.call trigger makes its jobs, of any size, and the worker parses them on the event loop the proxy's sessions
 * share: the server measures each job's prompt and values (as JSON text) once, and sends neither when together they
 * pass `maxBytes`, the parameter that --max-argument-bytes gives.
 */
function takenJobs(update: string, maxBytes: string): string {
  return `WITH taken AS (${update}
  RETURNING q.id, q.table_oid, q.table_schema, q.table_name, q.trigger_name, q.row_pk, q.prompt_values, q.prompt,
            coalesce(pg_catalog.octet_length(q.prompt)::pg_catalog.int8, 0) OPERATOR(pg_catalog.+)
              coalesce(pg_catalog.octet_length(q.prompt_values::pg_catalog.text)::pg_catalog.int8, 0) OPERATOR(pg_catalog.>) ${maxBytes}::pg_catalog.int8 AS oversized,
            q.target_columns, q.model_instance, q.attempts, q.max_attempts)
SELECT t.id, t.table_oid::pg_catalog.text AS table_oid, t.table_schema, t.table_name, t.trigger_name, t.row_pk,
       CASE WHEN t.oversized THEN '{}'::pg_catalog.jsonb ELSE t.prompt_values END AS prompt_values,
       CASE WHEN t.oversized THEN '' ELSE t.prompt END AS prompt,
       t.oversized, t.target_columns, t.model_instance, t.attempts, t.max_attempts
  FROM taken t`;
}

/** The claim of claimJobs; its parameters: the worker, the lease in ms, how many jobs, how many candidates, the jobs held, the most bytes of a job read. */
export const CLAIM = takenJobs(
  `UPDATE llm.queue q
        SET status = 'processing', attempts = q.attempts OPERATOR(pg_catalog.+) 1, worker = $1,
            lease_until = pg_catalog.now() OPERATOR(pg_catalog.+) ${times('$2', 'millisecond')}, started_at = pg_catalog.now()
      WHERE q.id OPERATOR(pg_catalog.=) ANY (ARRAY(
              SELECT j.id
                FROM pg_catalog.unnest(ARRAY(SELECT due.id FROM llm.queue due WHERE ${dueJob('due')} AND ${jobOfSessionOwner('due')}
                                                AND due.id OPERATOR(pg_catalog.<>) ALL ($5::pg_catalog.int8[])
                                              ORDER BY due.run_after, due.id LIMIT $4)) AS candidate(id),
                     LATERAL (SELECT j.id FROM llm.queue j WHERE j.id OPERATOR(pg_catalog.=) candidate.id AND ${dueJob('j')} FOR UPDATE SKIP LOCKED) AS j
               LIMIT $3))`,
  '$6',
);

function jobOf(row: Record<string, any>): Job {
  return {
    id: String(row.id),
    tableOid: row.table_oid,
    tableSchema: row.table_schema,
    tableName: row.table_name,
    triggerName: row.trigger_name,
    rowPk: row.row_pk,
    promptValues: row.prompt_values,
    prompt: row.prompt,
    targetColumns: row.target_columns,
    modelInstance: row.model_instance,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    oversized: row.oversized,
  };
}

/**
 * Jobs `worker` has submitted in a provider's batch: they wait as 'batched', without a lease, until the batch has
 * ended (a batch may take a day), with its id and the tag it carries. No role may UPDATE those two columns: they are
 * written by batch_llm_jobs, for the jobs this transaction has just marked through llm.queue, which says whose jobs
 * they are (incremental/0025_llm_queue_batch_tags.sql). Resolves to the ids still this worker's.
 */
export async function markBatched(pool: pg.Pool, worker: string, ids: string[], batchId: string, tag: string): Promise<string[]> {
  return inRowTransaction(pool, async (client) => {
    await client.query(
      `UPDATE llm.queue SET status = 'batched', lease_until = NULL
        WHERE id OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.int8[]) AND worker OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'processing'`,
      [worker, ids],
    );
    const { rows } = await client.query(`SELECT id::pg_catalog.text AS id FROM _pg_llm_catalog.batch_llm_jobs($1::pg_catalog.int8[], $2, $3) AS id`, [ids, batchId, tag]);
    return rows.map((row) => row.id as string);
  });
}

/**
 * The batches whose jobs wait in the queue, of the tables the session's login role owns, with their tag ('' for jobs
 * without one) and model instance.
 */
export async function waitingBatches(pool: pg.Pool): Promise<Array<{ batchId: string; tag: string; modelInstance: string }>> {
  const { rows } = await pool.query(
    `SELECT DISTINCT q.batch_id, coalesce(q.batch_tag, '') AS tag, q.model_instance FROM llm.queue q
      WHERE q.status OPERATOR(pg_catalog.=) 'batched' AND q.batch_id IS NOT NULL AND q.model_instance IS NOT NULL AND ${jobOfSessionOwner('q')}
      ORDER BY q.batch_id`,
  );
  return rows.map((row) => ({ batchId: row.batch_id, tag: row.tag, modelInstance: row.model_instance }));
}

/**
 * Takes up the jobs of a batch that has ended, those that name its tag, for `worker` to write their answers back (or
 * record their failures): as a claim, under a lease, but without counting another attempt. Another worker that looked
 * at the same batch finds its jobs taken.
 */
export async function takeBatch(pool: pg.Pool, worker: string, batchId: string, tag: string, leaseMs: number, maxJobBytes: number): Promise<Job[]> {
  const { rows } = await pool.query(
    takenJobs(
      `UPDATE llm.queue q
          SET status = 'processing', worker = $1, lease_until = pg_catalog.now() OPERATOR(pg_catalog.+) ${times('$2', 'millisecond')}
        WHERE q.status OPERATOR(pg_catalog.=) 'batched' AND q.batch_id OPERATOR(pg_catalog.=) $3
          AND coalesce(q.batch_tag, '') OPERATOR(pg_catalog.=) $4 AND ${jobOfSessionOwner('q')}`,
      '$5',
    ),
    [worker, leaseMs, batchId, tag, maxJobBytes],
  );
  return rows.map(jobOf);
}

/**
 * Extends the leases of the jobs `worker` is still running. Resolves to the ids of those no longer its own: taken by
 * another worker once their lease ran out (or finished by this one meanwhile).
 */
export async function renewLeases(pool: pg.Pool, worker: string, ids: string[], leaseMs: number): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await pool.query(
    `UPDATE llm.queue SET lease_until = pg_catalog.now() OPERATOR(pg_catalog.+) ${times('$3', 'millisecond')}
      WHERE id OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.int8[]) AND worker OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'processing'
  RETURNING id::pg_catalog.text AS id`,
    [worker, ids, leaseMs],
  );
  const renewed = new Set(rows.map((row) => row.id as string));
  return ids.filter((id) => !renewed.has(id));
}

/**
 * Writes the answer into the job's row and marks the job done, in one transaction, if the job is still this
 * worker's. The worker's login role owns the table, so the table's own triggers, defaults and checks run with its
 * owner's rights and no other. A row that was deleted, or whose prompt columns changed since (a newer job has the new
 * values), is left alone and the job marked skipped. The table of the job's name is locked before the job's check, which
 * is before any statement names it (lockJobTable). Resolves to the outcome and the seconds since the job was queued.
 */
export async function completeJob(pool: pg.Pool, worker: string, job: Job, answer: Record<string, unknown>): Promise<{ outcome: Outcome; seconds?: number }> {
  const row = jobRow(job);
  const set = job.targetColumns.map((column) => `${pg.escapeIdentifier(column)} = answer.${pg.escapeIdentifier(column)}`).join(', ');
  return inRowTransaction(pool, async (client) => {
    const { rows: claimed } = await client.query(
      `SELECT ${isJobTable('$3', '$4')} AS ours, q.row_xmin::pg_catalog.text AS row_xmin FROM llm.queue q
        WHERE q.id OPERATOR(pg_catalog.=) $1 AND q.worker OPERATOR(pg_catalog.=) $2 AND q.status OPERATOR(pg_catalog.=) 'processing' FOR UPDATE OF q`,
      [job.id, worker, row.table, job.tableOid],
    );
    if (claimed.length === 0) return { outcome: 'lost' };
    const { ours, row_xmin: boundTo } = claimed[0] as { ours: boolean; row_xmin: string | null };
    if (!ours) {
      await giveBack(client, worker, [job]);
      return { outcome: 'lost' };
    }
    const { rows: updated } = await client.query(
      `UPDATE ${row.table} AS t SET ${set} FROM ${row.sources}, pg_catalog.jsonb_populate_record(NULL::${row.table}, $3::pg_catalog.jsonb) AS answer
        WHERE ${row.key} AND ${row.values} AND ${isJobTable('$4', '$5')} RETURNING t.xmin::pg_catalog.text AS xmin`,
      [...row.parameters, JSON.stringify(answer), row.table, job.tableOid],
    );
    const written = updated[0]?.xmin as string | undefined;
    // The row's other jobs bound to the version this answer replaces (several llm.call triggers on one table) follow
    // it: a trigger limited by UPDATE OF or WHEN does not fire for this write, so would not queue them again itself;
    // one that does fire has queued its job again already (llm.call), and that one is not doubled.
    const { rows } = await client.query(
      `WITH rebound AS (
         UPDATE llm.queue q SET row_xmin = $4::pg_catalog.xid
          WHERE $4::pg_catalog.xid IS NOT NULL AND q.id OPERATOR(pg_catalog.<>) $1 AND q.status OPERATOR(pg_catalog.=) ANY ('{pending,processing}'::pg_catalog.text[])
            AND q.row_xmin OPERATOR(pg_catalog.=) $3::pg_catalog.xid
            AND q.table_oid OPERATOR(pg_catalog.=) $5::pg_catalog.oid AND q.row_pk OPERATOR(pg_catalog.=) $6::pg_catalog.jsonb
            AND NOT EXISTS (SELECT 1 FROM llm.queue o WHERE o.row_xmin OPERATOR(pg_catalog.=) $4::pg_catalog.xid AND o.status OPERATOR(pg_catalog.=) 'pending'
                               AND o.table_oid OPERATOR(pg_catalog.=) $5::pg_catalog.oid
                               AND o.row_pk OPERATOR(pg_catalog.=) $6::pg_catalog.jsonb AND o.trigger_name OPERATOR(pg_catalog.=) q.trigger_name))
       UPDATE llm.queue SET status = $2, last_error = NULL, lease_until = NULL, processed_at = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) $1
       RETURNING extract(epoch FROM processed_at OPERATOR(pg_catalog.-) created_at)::pg_catalog.float8 AS seconds`,
      [job.id, written ? 'done' : 'skipped', boundTo, written ?? null, job.tableOid, JSON.stringify(job.rowPk)],
    );
    return { outcome: written ? 'done' : 'skipped', seconds: rows[0]?.seconds as number };
  }, lockJobTable(job, 'ROW EXCLUSIVE'));
}

/**
 * Records a failed attempt: the job waits for its retry (the delay doubling with each attempt), or ends in 'error'
 * once its attempts are spent. A retry whose row was written again since is skipped by checkJobRows, unasked; a newer
 * job of the row does not end it here, as anyone who may insert one row of the table can queue such a job.
 */
export async function failJob(pool: pg.Pool, worker: string, job: Job, message: string, retryDelayMs: number): Promise<Outcome> {
  const { rows } = await pool.query(
    `UPDATE llm.queue q
        SET status = CASE WHEN q.attempts OPERATOR(pg_catalog.>=) q.max_attempts THEN 'error' ELSE 'pending' END,
            last_error = $3,
            run_after = pg_catalog.now() OPERATOR(pg_catalog.+) ${times(`LEAST($4::pg_catalog.float8 OPERATOR(pg_catalog.*) pg_catalog.power(2::pg_catalog.float8, (q.attempts OPERATOR(pg_catalog.-) 1)::pg_catalog.float8), $5)`, 'millisecond')},
            lease_until = NULL,
            processed_at = CASE WHEN q.attempts OPERATOR(pg_catalog.>=) q.max_attempts THEN pg_catalog.now() END
      WHERE q.id OPERATOR(pg_catalog.=) $1 AND q.worker OPERATOR(pg_catalog.=) $2 AND q.status OPERATOR(pg_catalog.=) 'processing'
  RETURNING q.status`,
    [job.id, worker, message, retryDelayMs, MAX_RETRY_DELAY_MS],
  );
  const status = rows[0]?.status as Status | undefined;
  return status === undefined ? 'lost' : status === 'pending' ? 'retry' : (status as Outcome);
}

/**
 * Gives a job back to the queue untried until `until`, saying why in last_error: its owner's daily budget left no room
 * for its model call, so the attempt it was claimed for does not count.
 */
export async function deferJob(pool: pg.Pool, worker: string, job: Job, message: string, until: Date): Promise<Outcome> {
  const { rowCount } = await pool.query(
    `UPDATE llm.queue SET status = 'pending', attempts = attempts OPERATOR(pg_catalog.-) 1, last_error = $3, run_after = $4, lease_until = NULL
      WHERE id OPERATOR(pg_catalog.=) $1 AND worker OPERATOR(pg_catalog.=) $2 AND status OPERATOR(pg_catalog.=) 'processing'`,
    [job.id, worker, message, until],
  );
  return rowCount === 0 ? 'lost' : 'deferred';
}

/** Gives jobs back to the queue untried, at shutdown: the attempt they were claimed for does not count. */
/**
 * deferJob, and with `wholeTable` the pending jobs of the job's table too (none counted as an attempt): a lock on
 * the table was not had in time, and its jobs claimed again at once would wait as long.
 */
export async function deferJobs(pool: pg.Pool, worker: string, job: Job, message: string, until: Date, wholeTable: boolean): Promise<Outcome> {
  const outcome = await deferJob(pool, worker, job, message, until);
  if (wholeTable) {
    await pool.query(
      `UPDATE llm.queue q SET run_after = $2
        WHERE q.table_oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid AND q.status OPERATOR(pg_catalog.=) 'pending' AND q.run_after OPERATOR(pg_catalog.<) $2 AND ${jobOfSessionOwner('q')}`,
      [job.tableOid, until],
    );
  }
  return outcome;
}

export async function releaseJobs(pool: pg.Pool, worker: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await pool.query(
    `UPDATE llm.queue SET status = 'pending', attempts = attempts OPERATOR(pg_catalog.-) 1, lease_until = NULL, run_after = pg_catalog.now()
      WHERE id OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.int8[]) AND worker OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'processing'`,
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
        SET status = 'error', processed_at = pg_catalog.now(), lease_until = NULL,
            last_error = pg_catalog.concat_ws('; ', last_error, 'the worker running its last attempt stopped before finishing it (' OPERATOR(pg_catalog.||) worker OPERATOR(pg_catalog.||) ')')
      WHERE status OPERATOR(pg_catalog.=) 'processing' AND lease_until OPERATOR(pg_catalog.<) pg_catalog.now() AND attempts OPERATOR(pg_catalog.>=) max_attempts`,
  );
  await pool.query(`UPDATE llm.queue SET deleted = true WHERE status OPERATOR(pg_catalog.=) ANY ('{done,skipped}'::pg_catalog.text[])
      AND processed_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) ${times('$1', 'second')})`, [keepDoneSeconds]);
}

/** How many jobs the queue holds in each status. */
export async function countByStatus(pool: pg.Pool): Promise<Record<Status, number>> {
  const { rows } = await pool.query(`SELECT status, pg_catalog.count(*)::pg_catalog.int4 AS n FROM llm.queue GROUP BY status`);
  const counts = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<Status, number>;
  for (const row of rows) counts[row.status as Status] = row.n;
  return counts;
}
