// Answers of several jobs of one table written back together: one transaction for the lot, where completeJob
// (queue.ts) takes a transaction of its own per job, in two messages to the server: the transaction's BEGIN with the
// lock and check of the table (job-row.ts, lockJobTable) and the answers' write (a statement for each trigger's jobs,
// which also locks them), then the jobs' marks with the COMMIT.
// The values are written into the statements (arrayLiteral) so that each message is one round trip. Each job keeps
// completeJob's rules: written only while it is still this worker's and its row still holds the prompt's values, by
// the table's owner (the worker's login role), the row's other jobs following the new version; a job whose row
// changed is skipped. The write and the marks are two statements, so that the table's triggers have fired for the
// write (and queued again what they queue) before the marks look at the row's other jobs.

import pg from 'pg';
import { sqlstateOf } from '../../proxy/pg-error.js';
import { byTrigger, giveBack, isJobTable, lockJobTable, NOT_THE_JOBS_TABLE, refuseOtherTable, rowMatch } from './job-row.js';
import type { Job, Outcome } from './queue.js';
import { arrayLiteral, onRowConnection } from './row-session.js';

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
  const outcomes = new Map<string, WriteBack>(batch.map(({ job }) => [job.id, { outcome: 'lost' }]));
  return onRowConnection(pool, async (client) => {
    try {
      const claimed: Array<{ id: string; xmin: string | null }> = [];
      const { job: first } = batch[0]!;
      const opening = `BEGIN; ${lockJobTable(first, 'ROW EXCLUSIVE')}; ${refuseOtherTable(first)};`;
      for (const [index, jobs] of byTrigger(batch).entries()) {
        const statement = writeStatement(worker, jobs);
        const results = (await client.query(index === 0 ? `${opening} ${statement}` : statement)) as unknown as pg.QueryResult | pg.QueryResult[];
        claimed.push(...(Array.isArray(results) ? results.at(-1)! : results).rows);
      }
      const mine = batch.filter(({ job }) => claimed.some((row) => row.id === job.id));
      if (mine.length === 0) {
        await client.query('COMMIT');
        return outcomes;
      }
      const written = new Map(claimed.filter((row) => row.xmin !== null).map((row) => [row.id, row.xmin!]));
      const [finished] = (await client.query(`${finishStatement(mine, written)}; COMMIT`)) as unknown as pg.QueryResult[];
      for (const row of finished!.rows) outcomes.set(row.id as string, { outcome: row.status as Outcome, seconds: row.seconds as number });
      return outcomes;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (sqlstateOf(error) !== NOT_THE_JOBS_TABLE) throw error;
      await giveBack(client, worker, batch.map(({ job }) => job));
      return outcomes;
    }
  });
}

/**
 * Writes the answers of jobs of one trigger into the rows that still hold their prompt's values, the jobs locked
 * first and only those still this worker's written, in the table of the job's name, locked and found to be the
 * job's by the statements before it (lockJobTable, refuseOtherTable) and written only while the session is still its
 * owner's: for each, its row's new xmin if it was written.
 */
function writeStatement(worker: string, jobs: Answered[]): string {
  const first = jobs[0]!.job;
  const row = rowMatch(first, 'j.pk', 'j.prompt_values');
  const [table, oid] = [row.table, first.tableOid].map((text) => pg.escapeLiteral(text));
  const ids = arrayLiteral(jobs.map(({ job }) => job.id), 'int8');
  const set = first.targetColumns.map((column) => `${pg.escapeIdentifier(column)} = answer.${pg.escapeIdentifier(column)}`).join(', ');
  return `WITH claimed AS MATERIALIZED (
            SELECT q.id FROM llm.queue q
             WHERE q.id OPERATOR(pg_catalog.=) ANY (${ids}) AND q.worker OPERATOR(pg_catalog.=) ${pg.escapeLiteral(worker)} AND q.status OPERATOR(pg_catalog.=) 'processing'
             ORDER BY q.id FOR UPDATE OF q
          ), written AS (
            UPDATE ${row.table} AS t SET ${set}
              FROM claimed c
                   JOIN ROWS FROM (pg_catalog.unnest(${ids}), pg_catalog.unnest(${arrayLiteral(jobs.map(({ job }) => JSON.stringify(job.rowPk)), 'jsonb')}),
                                   pg_catalog.unnest(${arrayLiteral(jobs.map(({ job }) => JSON.stringify(job.promptValues)), 'jsonb')}),
                                   pg_catalog.unnest(${arrayLiteral(jobs.map(({ answer }) => JSON.stringify(answer)), 'jsonb')})) AS j(id, pk, prompt_values, answer)
                     ON j.id OPERATOR(pg_catalog.=) c.id,
                   ${row.sources}, pg_catalog.jsonb_populate_record(NULL::${row.table}, j.answer) AS answer
             WHERE ${row.key} AND ${row.values} AND ${isJobTable(table, oid)}
         RETURNING j.id, t.xmin
          )
          SELECT c.id::pg_catalog.text AS id, w.xmin::pg_catalog.text AS xmin FROM claimed c LEFT JOIN written w ON w.id OPERATOR(pg_catalog.=) c.id`;
}

/**
 * Marks the jobs done (row written) or skipped. As in completeJob, the row's other jobs bound to the version an
 * answer replaced follow the new one, unless its trigger fired for the write and queued its job again itself. Those
 * are jobs of other triggers: a trigger queues one job per version of a row. Where the jobs are all of one trigger,
 * that is said as a condition on the queue's rows alone, which PostgreSQL tests before comparing any row's key.
 */
function finishStatement(jobs: Answered[], written: Map<string, string>): string {
  const { tableOid } = jobs[0]!.job;
  const oid = `${pg.escapeLiteral(tableOid)}::pg_catalog.oid`;
  const ids = arrayLiteral(jobs.map(({ job }) => job.id), 'int8');
  const triggers = [...new Set(jobs.map(({ job }) => job.triggerName))];
  const otherTrigger = triggers.length === 1 ? `AND q.trigger_name OPERATOR(pg_catalog.<>) ${pg.escapeLiteral(triggers[0]!)}` : '';
  return `WITH answered AS (
       SELECT q.id, q.row_pk, q.trigger_name, q.row_xmin AS bound, w.xmin
         FROM llm.queue q
              LEFT JOIN ROWS FROM (pg_catalog.unnest(${arrayLiteral([...written.keys()], 'int8')}), pg_catalog.unnest(${arrayLiteral([...written.values()], 'xid')})) AS w(id, xmin)
                ON w.id OPERATOR(pg_catalog.=) q.id
        WHERE q.id OPERATOR(pg_catalog.=) ANY (${ids})
     ), rebound AS (
       UPDATE llm.queue q SET row_xmin = a.xmin FROM answered a
        WHERE a.xmin IS NOT NULL AND q.id OPERATOR(pg_catalog.<>) ALL (${ids}) ${otherTrigger}
          AND q.status OPERATOR(pg_catalog.=) ANY ('{pending,processing}'::pg_catalog.text[]) AND q.row_xmin OPERATOR(pg_catalog.=) a.bound
          AND q.table_oid OPERATOR(pg_catalog.=) ${oid} AND q.trigger_name OPERATOR(pg_catalog.<>) a.trigger_name AND q.row_pk OPERATOR(pg_catalog.=) a.row_pk
          AND NOT EXISTS (SELECT 1 FROM llm.queue o WHERE o.row_xmin OPERATOR(pg_catalog.=) a.xmin AND o.status OPERATOR(pg_catalog.=) 'pending'
                             AND o.table_oid OPERATOR(pg_catalog.=) ${oid}
                             AND o.row_pk OPERATOR(pg_catalog.=) a.row_pk AND o.trigger_name OPERATOR(pg_catalog.=) q.trigger_name))
     UPDATE llm.queue q SET status = CASE WHEN a.xmin IS NULL THEN 'skipped' ELSE 'done' END, last_error = NULL, lease_until = NULL, processed_at = pg_catalog.now()
       FROM answered a WHERE q.id OPERATOR(pg_catalog.=) a.id
     RETURNING q.id::pg_catalog.text AS id, q.status, extract(epoch FROM q.processed_at OPERATOR(pg_catalog.-) q.created_at)::pg_catalog.float8 AS seconds`;
}
