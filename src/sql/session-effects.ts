// What a statement run in the sandbox (sandbox.ts) can leave in the caller's session that rolling back its
// savepoint does not undo, found by comparing the session before and after: session-level advisory locks and
// prepared statements (code the static check never sees can take or prepare them: a domain's CHECK, a policy's
// function, a cast). Those left behind are undone; those the statement took away (an unlock, a DEALLOCATE of the
// caller's own) cannot be given back, but the call still fails. Either way it fails with 38001.
//
// Not covered, because nothing in the session shows them: an advisory lock the caller already held taken once more
// (pg_locks has no count), pg_terminate_backend()/pg_cancel_backend() of the caller's other sessions, dblink
// connections and what they did, a superuser's file and program access. Only the static check stands there.

import type { CallContext } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';

/**
 * A select-list item: the session's granted advisory locks and its prepared statements, as jsonb. Qualified, so
 * nothing on the caller's search_path stands in for the catalog's views.
 */
export const SESSION_STATE = `pg_catalog.jsonb_build_object(
  'locks', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(classid, objid, objsubid, mode)) FROM pg_catalog.pg_locks
            WHERE locktype OPERATOR(pg_catalog.=) 'advisory' AND granted AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()),
  'prepared', (SELECT pg_catalog.jsonb_agg(name) FROM pg_catalog.pg_prepared_statements)) AS session_state`;

// Unlocks each lock as often as the session holds it (a count pg_locks does not show): until it no longer shows.
// A lock with objsubid 1 was taken with one bigint key, split into classid (high half) and objid; with 2, with two
// int4 keys. ExclusiveLock is pg_advisory_lock's mode, ShareLock pg_advisory_lock_shared's.
const RELEASE_LOCKS = `WITH RECURSIVE held(classid, objid, objsubid, mode) AS (
    SELECT (l OPERATOR(pg_catalog.->>) 0)::pg_catalog.int8, (l OPERATOR(pg_catalog.->>) 1)::pg_catalog.int8, (l OPERATOR(pg_catalog.->>) 2)::pg_catalog.int2,
           l OPERATOR(pg_catalog.->>) 3 FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) AS l
  UNION ALL
    SELECT * FROM held WHERE CASE WHEN EXISTS (
        SELECT FROM pg_catalog.pg_locks p WHERE p.locktype OPERATOR(pg_catalog.=) 'advisory' AND p.granted AND p.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
          AND p.classid::pg_catalog.int8 OPERATOR(pg_catalog.=) held.classid AND p.objid::pg_catalog.int8 OPERATOR(pg_catalog.=) held.objid
          AND p.objsubid OPERATOR(pg_catalog.=) held.objsubid AND p.mode OPERATOR(pg_catalog.=) held.mode)
      THEN CASE
        WHEN objsubid OPERATOR(pg_catalog.=) 1 AND mode OPERATOR(pg_catalog.=) 'ShareLock' THEN pg_catalog.pg_advisory_unlock_shared((classid OPERATOR(pg_catalog.<<) 32) OPERATOR(pg_catalog.|) objid)
        WHEN objsubid OPERATOR(pg_catalog.=) 1 THEN pg_catalog.pg_advisory_unlock((classid OPERATOR(pg_catalog.<<) 32) OPERATOR(pg_catalog.|) objid)
        WHEN mode OPERATOR(pg_catalog.=) 'ShareLock' THEN pg_catalog.pg_advisory_unlock_shared(classid::bit(32)::pg_catalog.int4, objid::bit(32)::pg_catalog.int4)
        ELSE pg_catalog.pg_advisory_unlock(classid::bit(32)::pg_catalog.int4, objid::bit(32)::pg_catalog.int4) END
      ELSE false END)
  SELECT pg_catalog.count(*) FROM held`;

export interface SessionState {
  /** Each lock as JSON text of [classid, objid, objsubid, mode]. */
  locks: Set<string>;
  prepared: Set<string>;
}

export function sessionState(row: Array<string | null> | undefined): SessionState {
  const state = JSON.parse(row?.at(-1) ?? '{}') as { locks?: unknown[] | null; prepared?: string[] | null };
  return { locks: new Set((state.locks ?? []).map((lock) => JSON.stringify(lock))), prepared: new Set(state.prepared ?? []) };
}

/** Undoes what the sandboxed statements left in the session; the error to fail the call with, if they changed it. */
export async function undoSessionEffects(context: CallContext, before: SessionState, after: SessionState): Promise<PgError | undefined> {
  const locksLeft = [...after.locks].filter((lock) => !before.locks.has(lock));
  const preparedLeft = [...after.prepared].filter((name) => !before.prepared.has(name));
  const locksTaken = [...before.locks].filter((lock) => !after.locks.has(lock));
  const preparedTaken = [...before.prepared].filter((name) => !after.prepared.has(name));
  const releases = [
    ...(locksLeft.length > 0 ? [context.query(RELEASE_LOCKS, [`[${locksLeft.join(',')}]`])] : []),
    ...preparedLeft.map((name) => context.query(`DEALLOCATE "${name.replace(/"/g, '""')}"`)),
  ];
  for (const release of releases) release.catch(() => undefined);
  for (const release of releases) await release;
  const left = [...(locksLeft.length > 0 ? ['advisory lock'] : []), ...(preparedLeft.length > 0 ? ['prepared statement'] : [])];
  if (left.length > 0) {
    return new PgError('38001', `the statement left a session-level ${left.join(' and a session-level ')} behind, which is not allowed here`, {
      detail: `Left behind (now undone): ${[...locksLeft.map(describeLock), ...preparedLeft.map((name) => `prepared statement ${name}`)].join(', ')}.`,
      hint: 'Something it ran (a function, a domain CHECK, a cast, a row-level security policy) has effects no rollback undoes.',
    });
  }
  if (locksTaken.length > 0 || preparedTaken.length > 0) {
    return new PgError('38001', "the statement released the session's own advisory locks or prepared statements, which is not allowed here", {
      detail: `Gone: ${[...locksTaken.map(describeLock), ...preparedTaken.map((name) => `prepared statement ${name}`)].join(', ')}.`,
      hint: 'Something it ran (a function, a domain CHECK, a cast, a row-level security policy) has effects no rollback undoes.',
    });
  }
  return undefined;
}

function describeLock(lock: string): string {
  const [classid, objid, objsubid, mode] = JSON.parse(lock) as [number, number, number, string];
  const key = objsubid === 1 ? String(BigInt.asIntN(64, (BigInt(classid) << 32n) | BigInt(objid))) : `${classid | 0}, ${objid | 0}`;
  return `advisory lock (${key}) in ${mode}`;
}
