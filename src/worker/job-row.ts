// A job's row, as its table's owner (the worker's login role) sees it: found by primary key, with the values the
// prompt was resolved from, and checked before the model is asked. A job is run only on the row version written by the transaction that queued it
// (llm.queue.row_xmin): llm.call queues jobs through a function anyone may call, and this check is what keeps a job
// queued any other way (for a row its caller never wrote) from costing a model call or overwriting the row.

import pg from 'pg';
import type { Job, Outcome } from './queue.js';
import { inRowTransaction, ownedBySession } from './row-session.js';

/** The job's table, schema-qualified and quoted. */
export function jobTable(job: Job): string {
  return `${pg.escapeIdentifier(job.tableSchema)}.${pg.escapeIdentifier(job.tableName)}`;
}

/**
 * The job's table, and the FROM items and conditions that find its row still holding the prompt's values: the row's
 * key and the prompt's values are the JSON objects `pk` and `values` (SQL expressions), of the job or of any job of
 * the same trigger (jobs of one trigger share the key's and the prompt's columns).
 */
export function rowMatch(job: Job, pk: string, values: string): { table: string; sources: string; key: string; values: string } {
  const table = jobTable(job);
  const key = Object.keys(job.rowPk).map((column) => `t.${pg.escapeIdentifier(column)} OPERATOR(pg_catalog.=) k.${pg.escapeIdentifier(column)}`);
  // The values the prompt read, typed again and compared as this session prints them: the writer's JSON of a
  // timestamptz (or interval, float…) depends on its own TimeZone and styles, the value itself does not. Not IS NOT
  // DISTINCT FROM, which looks its "=" up in the owner's search_path.
  const unchanged = Object.keys(job.promptValues).map((column) => {
    const [now, then] = [`t.${pg.escapeIdentifier(column)}::pg_catalog.text`, `v.${pg.escapeIdentifier(column)}::pg_catalog.text`];
    return `coalesce(${now} OPERATOR(pg_catalog.=) ${then}, ${now} IS NULL AND ${then} IS NULL)`;
  });
  return {
    table,
    // jsonb_populate_record turns the JSON values into the columns' types by PostgreSQL's own input rules.
    sources: `pg_catalog.jsonb_populate_record(NULL::${table}, ${pk}) AS k, pg_catalog.jsonb_populate_record(NULL::${table}, ${values}) AS v`,
    key: key.join(' AND '),
    values: unchanged.length > 0 ? unchanged.join(' AND ') : 'true',
  };
}

/** rowMatch for one job, its key and values the parameters $1 and $2. */
export function jobRow(job: Job): ReturnType<typeof rowMatch> & { parameters: string[] } {
  return { ...rowMatch(job, '$1::pg_catalog.jsonb', '$2::pg_catalog.jsonb'), parameters: [JSON.stringify(job.rowPk), JSON.stringify(job.promptValues)] };
}

/**
 * Whether the job may ask its model: 'ready' if its row exists, holds the prompt's values and is the version the
 * queuing transaction wrote; otherwise the job is marked skipped, saying why, and nothing is spent. A job whose table
 * is no longer owned by the worker's role is given back to the queue, for the worker of its owner ('lost').
 */
export async function checkJobRow(pool: pg.Pool, worker: string, job: Job): Promise<Extract<Outcome, 'skipped' | 'lost'> | 'ready'> {
  const row = jobRow(job);
  return inRowTransaction(pool, async (client) => {
    const { rows: claimed } = await client.query(
      `SELECT q.row_xmin::pg_catalog.text AS row_xmin, pg_catalog.to_regclass($3) IS NOT NULL AS present, ${ownedBySession('$3')} AS ours
         FROM llm.queue q WHERE q.id OPERATOR(pg_catalog.=) $1 AND q.worker OPERATOR(pg_catalog.=) $2 AND q.status OPERATOR(pg_catalog.=) 'processing' FOR UPDATE OF q`,
      [job.id, worker, row.table],
    );
    if (claimed.length === 0) return 'lost';
    const { present, ours, row_xmin: writer } = claimed[0] as { present: boolean; ours: boolean; row_xmin: string | null };
    let reason: string | undefined;
    if (!present) reason = 'its table no longer exists';
    else if (!ours) {
      await giveBack(client, worker, job);
      return 'lost';
    } else if (writer === null) reason = 'it was queued before jobs were bound to the write that queued them; write the row again to queue it';
    else {
      const { rows } = await client.query(
        `SELECT t.xmin OPERATOR(pg_catalog.=) $3::pg_catalog.xid AS bound, ${row.values} AS unchanged FROM ${row.table} AS t, ${row.sources} WHERE ${row.key} AND ${ownedBySession('$4')}`,
        [...row.parameters, writer, row.table],
      );
      const found = rows[0] as { bound: boolean; unchanged: boolean } | undefined;
      if (!found) reason = 'its row was deleted';
      else if (!found.unchanged) reason = "its row's prompt columns changed since (a newer job has the new values)";
      else if (!found.bound)
        reason =
          "its row was not written by the transaction that queued it: the row was written again since (that write's job runs instead), or the job was queued other than by the row's llm.call trigger, or the row was written by a write the trigger does not fire for (UPDATE OF, WHEN); write the row again to queue it";
    }
    if (reason === undefined) return 'ready';
    await client.query(
      `UPDATE llm.queue SET status = 'skipped', last_error = $3, lease_until = NULL, processed_at = pg_catalog.now()
        WHERE id OPERATOR(pg_catalog.=) $1 AND worker OPERATOR(pg_catalog.=) $2 AND status OPERATOR(pg_catalog.=) 'processing'`,
      [job.id, worker, `skipped before asking the model: ${reason}`],
    );
    return 'skipped';
  });
}

/** Hands a claimed job back untried: its table changed owner, so another worker (its owner's) is to run it. */
export async function giveBack(client: pg.ClientBase, worker: string, job: Job): Promise<void> {
  await client.query(
    `UPDATE llm.queue SET status = 'pending', attempts = attempts OPERATOR(pg_catalog.-) 1, worker = NULL, lease_until = NULL
      WHERE id OPERATOR(pg_catalog.=) $1 AND worker OPERATOR(pg_catalog.=) $2 AND status OPERATOR(pg_catalog.=) 'processing'`,
    [job.id, worker],
  );
}
