// The transaction in which the worker reads or writes a job's row. The worker is connected as the table's owner (it
// serves only the tables its login role owns, and never SET ROLEs), so the owner's code that runs there (triggers,
// policies, the casts and operators of its columns' types) runs with the owner's own rights; but it may leave session
// state behind (settings, a SET ROLE, temporary objects, prepared statements, advisory locks), which DISCARD ALL
// clears before the connection serves another job. The worker LISTENs on a connection of its own, so the UNLISTEN
// of DISCARD ALL costs it nothing.

import pg from 'pg';
import { sqlstateOf } from '../../proxy/pg-error.js';

/**
 * How long a statement of the worker waits for a lock, unless the --worker URL's options set a lock_timeout of their
 * own. Without a bound, a session holding a lock on a job's table (or on a table that took the name of one, or a
 * vectorizer key's advisory lock) for as long as it liked would keep a connection of the pool waiting as long. Given
 * as a startup option (connectionWithLockTimeout), so that DISCARD ALL between jobs puts it back rather than take it
 * away, and so that no ALTER ROLE … SET lock_timeout of the owner lifts it: a startup option outranks role and
 * database settings. The owner's own code may still SET it in its session, as it may hold its own tables' locks.
 */
export const WORKER_LOCK_TIMEOUT = '30s';
/** How long the jobs of a table (or a vectorizer's rows) whose lock was not had in time wait before they are tried again. */
export const LOCKED_OUT_DELAY_MS = 60_000;

/** The --worker URL with WORKER_LOCK_TIMEOUT among its startup options, before those it gives (which may set another). */
export function connectionWithLockTimeout(url: string): string {
  const parsed = new URL(url);
  const given = parsed.searchParams.get('options');
  parsed.searchParams.set('options', `-c lock_timeout=${WORKER_LOCK_TIMEOUT}${given ? ` ${given}` : ''}`);
  return parsed.toString();
}

/** Whether a statement failed for a lock it did not have within lock_timeout: another session holds it, no fault of the work's. */
export function lockedOut(error: unknown): boolean {
  return sqlstateOf(error) === '55P03';
}

/**
 * SQL that is true when the table named by the parameter `$n` (its quoted name) is owned by the session's login role,
 * which is also the current role. In the statement that reads or writes the table, it is checked after the table's
 * lock is taken and before any of the table's code runs, so an ALTER TABLE … OWNER TO cannot slip in between.
 */
export const ownedBySession = (parameter: string) =>
  `coalesce((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(${parameter}))
     OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) session_user)
   AND current_user OPERATOR(pg_catalog.=) session_user, false)`;

/**
 * SQL for `amount` (an SQL expression) times one `unit`, an interval, in parentheses (an OPERATOR(…) binds as any
 * operator does, not as its name would). The worker's statements name pg_catalog for every
 * function, operator and type: they run in the owner's session, with the owner's search_path, where a schema others
 * may create in (public, on many databases) could hold a better match of their own (a power(integer, integer), a
 * `*` on the types at hand) that would run with the owner's rights.
 */
export const times = (amount: string, unit: 'millisecond' | 'second') =>
  `((${amount})::pg_catalog.float8 OPERATOR(pg_catalog.*) '1 ${unit}'::pg_catalog.interval)`;

/**
 * Runs `work` on a pooled connection, its statements each a transaction of its own unless `work` begins one, and
 * wipes the session afterwards. The caller has its result without waiting for the wipe: the connection goes back to
 * the pool only once it is wiped.
 */
export async function onRowConnection<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await work(client);
  } finally {
    // A connection that cannot be wiped is closed rather than handed to the next job.
    void client.query('DISCARD ALL').then(
      () => client.release(),
      (error: Error) => client.release(error),
    );
  }
}

/**
 * Runs `work` in a transaction on a pooled connection, committed when it returns, and wipes the session afterwards.
 * `opening`: statements sent with the BEGIN, in its round trip.
 */
export async function inRowTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, opening?: string): Promise<T> {
  return onRowConnection(pool, async (client) => {
    try {
      await client.query(opening === undefined ? 'BEGIN' : `BEGIN; ${opening}`);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

/**
 * An array of `values` as an SQL constant of element type `type` (of pg_catalog), for statements whose values are
 * written in so that several go to the server in one message. pg.escapeLiteral writes an E'' string where a
 * backslash needs it, right whatever standard_conforming_strings the session has.
 */
export function arrayLiteral(values: string[], type: string): string {
  const elements = values.map((value) => `"${value.replace(/[\\"]/g, (character) => `\\${character}`)}"`);
  return `${pg.escapeLiteral(`{${elements.join(',')}}`)}::pg_catalog.${type}[]`;
}
