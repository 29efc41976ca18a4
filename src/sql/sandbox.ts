// Runs statements a function must not let persist (generated SQL, explain_query's EXPLAIN ANALYZE) in the caller's
// session, transaction and role, so they never have more rights than the caller, inside a savepoint that is always
// rolled back: whatever they change, settings included, is undone, and the caller's transaction goes on as it was.
// Optionally read-only (transaction_read_only, which a subtransaction cannot turn off again), always under a
// statement timeout no longer than the caller's own, with standard_conforming_strings on and client_encoding UTF8:
// the SQL was checked as UTF-8 text by a parser that reads '…' that way, and the server must not find a call where
// the checker saw a string (in SJIS, a backslash can be the second byte of a character).
// What the rollback does not undo (session-level locks, prepared statements) is compared before and after and
// undone, failing the call (session-effects.ts).
//
// A savepoint needs a transaction block. Every call runs in one: the engine opens a block around any statement it
// takes over when the client is not in one (src/intercept/execution.ts), and commits it where the implicit
// transaction would have ended; a client's own block is used as it is.
//
// The statements go out as one pipeline, sent before any answer is awaited, so no other call of the same client
// statement (calls run concurrently) can put a query of its own inside the savepoint. When one fails, the server
// skips the rest of the pipeline, rollback included: the batch is then ended (Sync) and the savepoint rolled back
// and compared in a second pipeline, so a failing statement leaves nothing behind either, and the error fails the
// client's statement; the caller's transaction is then aborted, as an error inside a function aborts it in
// PostgreSQL.

import type { CallContext, QueryTable } from '../../functions/declaration.js';
import { SESSION_STATE, sessionState, undoSessionEffects, type SessionState } from './session-effects.js';

const SAVEPOINT = 'pg_llm_sandbox';

export interface SandboxLimits {
  readOnly: boolean;
  /** The statement timeout, unless the caller's own is shorter. */
  timeoutMs: number;
}

export interface SandboxStatement {
  sql: string;
  parameters?: Array<string | null>;
  /** Its rows are a collect pass's calls (CallContext.collectedCalls). */
  collectedCalls?: true;
}

/** The statements' results, in order; they have all been rolled back. */
export async function runRolledBack(context: CallContext, limits: SandboxLimits, statements: SandboxStatement[]): Promise<QueryTable[]> {
  // Operators and functions named with their schema: in the caller's search_path, another role's
  // public.=(numeric, integer) would be a better match than pg_catalog's, and run here.
  const settings = [
    `pg_catalog.set_config('statement_timeout', (SELECT CASE WHEN own OPERATOR(pg_catalog.=) 0 OR own OPERATOR(pg_catalog.>) $1 THEN $1 ELSE own END
       FROM (SELECT extract(epoch FROM pg_catalog.current_setting('statement_timeout')::pg_catalog.interval) OPERATOR(pg_catalog.*) 1000 AS own) AS caller)::pg_catalog.int8::pg_catalog.text, true)`,
    `pg_catalog.set_config('standard_conforming_strings', 'on', true)`,
    `pg_catalog.set_config('client_encoding', 'UTF8', true)`,
    ...(limits.readOnly ? [`pg_catalog.set_config('transaction_read_only', 'on', true)`] : []),
  ];
  const savepoint = context.query(`SAVEPOINT ${SAVEPOINT}`);
  const entered = context.queryTable(`SELECT ${settings.join(', ')}, ${SESSION_STATE}`, [String(Math.max(1, Math.round(limits.timeoutMs)))]);
  const work = statements.map((statement) => (statement.collectedCalls ? context.collectedCalls(statement.sql, statement.parameters) : context.queryTable(statement.sql, statement.parameters)));
  const left = leave(context);
  // Awaited in order below, so the first failure is the one reported; the skipped ones after it must not go unhandled.
  for (const pending of [savepoint, entered, ...work, left]) pending.catch(() => undefined);
  await savepoint;
  let before: SessionState | undefined;
  const results: QueryTable[] = [];
  try {
    before = sessionState((await entered).rows[0]);
    for (const result of work) results.push(await result);
    const after = await left;
    const changed = await undoSessionEffects(context, before, after);
    if (changed) throw changed;
    return results;
  } catch (error) {
    throw (await undoAfterFailure(context, left, before)) ?? error;
  }
}

/**
 * When the pipeline failed before its rollback ran (the server skipped it), ends the batch and rolls back; the
 * error for what the statements left in the session, if anything. A failure here leaves the first error to report.
 */
async function undoAfterFailure(context: CallContext, left: Promise<SessionState>, before: SessionState | undefined): Promise<unknown> {
  if (await left.then(() => true, () => false)) return undefined;
  try {
    // Sent together, so no other call's statement comes between the Sync and the rollback.
    const synced = context.sync();
    const after = leave(context);
    after.catch(() => undefined);
    await synced;
    return before && (await undoSessionEffects(context, before, await after));
  } catch {
    return undefined;
  }
}

/** Rolls the savepoint back and releases it; the session's state after the rollback. */
async function leave(context: CallContext): Promise<SessionState> {
  const steps = [context.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`), context.queryTable(`SELECT ${SESSION_STATE}`), context.query(`RELEASE SAVEPOINT ${SAVEPOINT}`)];
  for (const step of steps) step.catch(() => undefined);
  await steps[0];
  const state = sessionState(((await steps[1]) as QueryTable).rows[0]);
  await steps[2];
  return state;
}
