// A job's row, as its table's owner (the worker's login role) sees it: found by primary key, with the values the
// prompt was resolved from, and checked before the model is asked. A job is run only on the row version written by
// the transaction that queued it (llm.queue.row_xmin): of a row written several times before a worker came, only the
// job of the version it has now costs a model call, and no answer overwrites a later write. The row
// is looked for only in the table the job was queued for (its oid), while the role it was queued under still owns it:
// a table renamed since is found under its new name, and no table that took the old name (or, once the job's table
// is dropped, its oid) is read or written.

import pg from 'pg';
import type { Job, Outcome } from './queue.js';
import { arrayLiteral, onRowConnection, ownedBySession } from './row-session.js';

/** The job's table, schema-qualified and quoted, by the name llm.queue gave it: see isJobTable. */
export function jobTable(job: Job): string {
  return `${pg.escapeIdentifier(job.tableSchema)}.${pg.escapeIdentifier(job.tableName)}`;
}

/**
 * SQL that is true when the table named by the parameter `name` (jobTable) is the job's table, of the oid in the
 * parameter `oid`, and owned by the session's login role. A statement that names the table may read or write it only
 * once this holds of the relation its name has while locked (lockJobTable): PostgreSQL plans it first.
 */
export const isJobTable = (name: string, oid: string) =>
  `(coalesce(pg_catalog.to_regclass(${name})::pg_catalog.oid OPERATOR(pg_catalog.=) ${oid}::pg_catalog.oid, false) AND ${ownedBySession(name)})`;

/** The SQLSTATE of refuseOtherTable: the relation of the job's table's name is not the job's table. */
export const NOT_THE_JOBS_TABLE = 'LM004';

/**
 * SQL that locks the relation of the job's table's name in `mode`, if there is one the session may lock, so that the
 * name stays on it. A statement that names the table comes after it and after a check that the relation is the job's
 * table (refuseOtherTable, or isJobTable in a statement of its own): PostgreSQL plans a statement before it tests any
 * condition (and an UPDATE fires the table's statement triggers before its WHERE), and planning runs code of the
 * table's owner (an immutable call of an index expression or a policy is evaluated then) as whoever plans. So the owner
 * of a table that took the name of the job's dropped table would run its code as the worker's role; a lock runs none.
 */
export function lockJobTable(job: Job, mode: 'ACCESS SHARE' | 'ROW EXCLUSIVE'): string {
  const lock = `LOCK TABLE ONLY ${jobTable(job)} IN ${mode} MODE`;
  return `DO ${pg.escapeLiteral(`BEGIN EXECUTE ${pg.escapeLiteral(lock)}; EXCEPTION WHEN undefined_table OR insufficient_privilege OR wrong_object_type THEN NULL; END`)}`;
}

/** SQL that fails with NOT_THE_JOBS_TABLE unless the relation of the job's table's name is the job's table (isJobTable). */
export function refuseOtherTable(job: Job): string {
  const [table, oid] = [jobTable(job), job.tableOid].map((text) => pg.escapeLiteral(text));
  return `SELECT _pg_llm_catalog.raise_error('${NOT_THE_JOBS_TABLE}', 'the relation of the job''s table''s name is not the job''s table') WHERE NOT ${isJobTable(table, oid)}`;
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

/** Where a job's check ended: its model may be asked, or the job was skipped, or it is no longer ours. */
export type Checked = Extract<Outcome, 'skipped' | 'lost'> | 'ready';

/**
 * Whether each job (all of one table) may ask its model: 'ready' if its table is still the one of its oid, owned by
 * the role it was queued under, and its row exists, holds the prompt's values and is the version the queuing
 * transaction wrote; otherwise the job is marked skipped, saying why, and nothing is spent. Jobs whose table was
 * renamed since their claim are given back to the queue ('lost'), to be claimed again under its new name. One
 * message for the lot (checkStatement); a statement more for the jobs it skips or gives back.
 */
export async function checkJobRows(pool: pg.Pool, worker: string, jobs: Job[]): Promise<Map<string, Checked>> {
  const outcomes = new Map<string, Checked>(jobs.map((job) => [job.id, 'lost']));
  return onRowConnection(pool, async (client) => {
    const claimed = await checkedJobs(client, worker, jobs);
    if (claimed.length === 0) return outcomes;
    const byId = new Map(jobs.map((job) => [job.id, job]));
    const mine = claimed.map((row) => ({ job: byId.get(row.id as string)!, writer: row.row_xmin as string | null, found: row as Partial<FoundRow> }));
    const { present, kept, ours } = claimed[0] as { present: boolean; kept: boolean; ours: boolean };
    if (kept && !ours) {
      await giveBack(client, worker, mine.map(({ job }) => job));
      return outcomes;
    }
    const reasons = new Map<string, string>();
    for (const { job, writer, found } of mine) {
      const reason = !kept
        ? present
          ? TABLE_GIVEN_AWAY
          : 'its table no longer exists'
        : writer === null
          ? 'it was queued before jobs were bound to the write that queued them; write the row again to queue it'
          : rowChanged(found.bound === null || found.bound === undefined ? undefined : (found as FoundRow));
      if (reason !== undefined) reasons.set(job.id, reason);
    }
    for (const { job } of mine) outcomes.set(job.id, reasons.has(job.id) ? 'skipped' : 'ready');
    if (reasons.size > 0) {
      await client.query(
        `UPDATE llm.queue q SET status = 'skipped', last_error = 'skipped before asking the model: ' OPERATOR(pg_catalog.||) r.reason, lease_until = NULL, processed_at = pg_catalog.now()
           FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($3::pg_catalog.text[])) AS r(id, reason)
          WHERE q.id OPERATOR(pg_catalog.=) r.id AND q.worker OPERATOR(pg_catalog.=) $2 AND q.status OPERATOR(pg_catalog.=) 'processing'`,
        [[...reasons.keys()], worker, [...reasons.values()]],
      );
    }
    return outcomes;
  });
}

/**
 * The jobs of checkStatement. A table given to another role, or dropped, cannot be read (its name may not even be
 * found): then the jobs are looked at without their rows, which a job whose table is no longer its own needs not.
 */
async function checkedJobs(client: pg.ClientBase, worker: string, jobs: Job[]): Promise<Array<Record<string, unknown>>> {
  const checked = async (withRows: boolean) => ((await client.query(checkStatement(worker, jobs, withRows))) as unknown as pg.QueryResult[]).at(-1)!.rows;
  try {
    return await checked(true);
  } catch (error) {
    const rows = await checked(false);
    if (rows.length > 0 && rows[0]!.kept && rows[0]!.ours) throw error;
    return rows;
  }
}

/**
 * The check of jobs of one table in one message, its values written in: the jobs still this worker's, locked, with
 * whether their table is still theirs and, for each trigger's jobs, the row of their key as found (FoundRow: bound to
 * the version their writer wrote, holding the prompt's values), unless `withRows` is false. With the rows, the table of
 * the jobs' name is locked and refused first unless it is theirs (lockJobTable): the check then fails, and its jobs are
 * looked at without their rows.
 *
 * The jobs are locked by a statement of their own, before the one that reads their rows: the write-back of a row's
 * other job binds this one to the version it writes, in the transaction that writes it. A statement that waited for
 * that transaction to let go of the job would see the job's new binding but, in its snapshot taken before the wait,
 * the row's old version; the next statement of the message takes its snapshot once the locks are held.
 */
function checkStatement(worker: string, jobs: Job[], withRows: boolean): string {
  const first = jobs[0]!;
  const [table, oid] = [jobTable(first), first.tableOid].map((text) => pg.escapeLiteral(text));
  const mine = `q.id OPERATOR(pg_catalog.=) ANY (${arrayLiteral(jobs.map((job) => job.id), 'int8')}) AND q.worker OPERATOR(pg_catalog.=) ${pg.escapeLiteral(worker)}
               AND q.status OPERATOR(pg_catalog.=) 'processing' ORDER BY q.id FOR UPDATE OF q`;
  const found = !withRows ? ['SELECT NULL::pg_catalog.int8 AS id, NULL::pg_catalog.bool AS bound, NULL::pg_catalog.bool AS unchanged'] : byTrigger(jobs.map((job) => ({ job }))).map((group) => {
    const row = rowMatch(group[0]!.job, 'j.pk', 'j.prompt_values');
    return `SELECT c.id, t.xmin OPERATOR(pg_catalog.=) c.row_xmin AS bound, ${row.values} AS unchanged
              FROM claimed c
                   JOIN ROWS FROM (pg_catalog.unnest(${arrayLiteral(group.map(({ job }) => job.id), 'int8')}),
                                   pg_catalog.unnest(${arrayLiteral(group.map(({ job }) => JSON.stringify(job.rowPk)), 'jsonb')}),
                                   pg_catalog.unnest(${arrayLiteral(group.map(({ job }) => JSON.stringify(job.promptValues)), 'jsonb')})) AS j(id, pk, prompt_values)
                     ON j.id OPERATOR(pg_catalog.=) c.id,
                   ${row.sources}, ${row.table} AS t
             WHERE ${row.key} AND ${isJobTable(table, oid)}`;
  });
  return `${withRows ? `${lockJobTable(first, 'ACCESS SHARE')}; ${refuseOtherTable(first)};` : ''}
          SELECT FROM llm.queue q WHERE ${mine};
          WITH claimed AS MATERIALIZED (
            SELECT q.id, q.row_xmin,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) q.table_oid) AS present,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) q.table_oid AND c.relowner OPERATOR(pg_catalog.=) q.table_owner) AS kept,
                   ${isJobTable(table, oid)} AS ours
              FROM llm.queue q WHERE ${mine}
          ), found AS MATERIALIZED (${found.join(' UNION ALL ')})
          SELECT c.id::pg_catalog.text AS id, c.row_xmin::pg_catalog.text AS row_xmin, c.present, c.kept, c.ours, f.bound, f.unchanged
            FROM claimed c LEFT JOIN found f ON f.id OPERATOR(pg_catalog.=) c.id ORDER BY c.id`;
}

/** Why a job whose table has another owner now than when it was queued is not run: the job is its former owner's. */
const TABLE_GIVEN_AWAY =
  'its table has another owner than when the job was queued, and a job is run only for the role that owned its table when its row was written; a write of the prompt\'s columns queues the row\'s job for the new owner';

/** What a job's row is now, as its check finds it: whether it is the version the job's writer wrote, and unchanged. */
interface FoundRow {
  bound: boolean;
  unchanged: boolean;
}

/** Why a job may not ask its model, given what its check found of its row; undefined when it may. */
function rowChanged(row: FoundRow | undefined): string | undefined {
  if (!row) return 'its row was deleted';
  if (!row.unchanged) return "its row's prompt columns changed since (a newer job has the new values)";
  if (!row.bound) {
    return "its row was not written by the transaction that queued it: the row was written again since (that write's job runs instead), or the job was queued other than by the row's llm.call trigger, or the row was written by a write the trigger does not fire for (UPDATE OF, WHEN); write the row again to queue it";
  }
  return undefined;
}

/** Hands claimed jobs back untried: their table is not where the worker looked for it (renamed meanwhile), or the session runs as another role. */
export async function giveBack(client: pg.ClientBase, worker: string, jobs: Job[]): Promise<void> {
  await client.query(
    `UPDATE llm.queue SET status = 'pending', attempts = attempts OPERATOR(pg_catalog.-) 1, worker = NULL, lease_until = NULL
      WHERE id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.int8[]) AND worker OPERATOR(pg_catalog.=) $2 AND status OPERATOR(pg_catalog.=) 'processing'`,
    [jobs.map((job) => job.id), worker],
  );
}

/** Jobs grouped by the columns their trigger reads and writes: each group is one statement. */
export function byTrigger<T extends { job: Job }>(items: T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const { promptValues, targetColumns } = item.job;
    const shape = JSON.stringify([Object.keys(promptValues), targetColumns]);
    groups.set(shape, [...(groups.get(shape) ?? []), item]);
  }
  return [...groups.values()];
}
