// Runs statements a function must not let persist (generated SQL, explain_query's EXPLAIN ANALYZE) in the caller's
// session, transaction and role, so they never have more rights than the caller, inside a savepoint that is always
// rolled back: whatever they change, settings included, is undone, and the caller's transaction goes on as it was.
// Optionally read-only (transaction_read_only, which a subtransaction cannot turn off again), always under a
// statement timeout no longer than the caller's own.
//
// A savepoint needs a transaction block. Every call runs in one: the engine opens a block around any statement it
// takes over when the client is not in one (src/intercept/execution.ts), and commits it where the implicit
// transaction would have ended; a client's own block is used as it is.
//
// The statements go out as one pipeline, sent before any answer is awaited, so no other call of the same client
// statement (calls run concurrently) can put a query of its own inside the savepoint. When one fails, the server
// skips the rest of the pipeline, rollback included, and the error fails the client's statement; the caller's
// transaction is then aborted, as an error inside a function aborts it in PostgreSQL, and the savepoint goes with
// it when the client rolls back.

import type { CallContext, QueryTable } from '../../functions/declaration.js';

const SAVEPOINT = 'pg_llm_sandbox';

export interface SandboxLimits {
  readOnly: boolean;
  /** The statement timeout, unless the caller's own is shorter. */
  timeoutMs: number;
}

export interface SandboxStatement {
  sql: string;
  parameters?: Array<string | null>;
}

/** The statements' results, in order; they have all been rolled back. */
export async function runRolledBack(context: CallContext, limits: SandboxLimits, statements: SandboxStatement[]): Promise<QueryTable[]> {
  const settings = [
    `set_config('statement_timeout', (SELECT CASE WHEN own = 0 OR own > $1 THEN $1 ELSE own END
       FROM (SELECT extract(epoch FROM current_setting('statement_timeout')::interval) * 1000 AS own) AS caller)::bigint::text, true)`,
    ...(limits.readOnly ? [`set_config('transaction_read_only', 'on', true)`] : []),
  ];
  const steps = [
    context.query(`SAVEPOINT ${SAVEPOINT}`),
    context.query(`SELECT ${settings.join(', ')}`, [String(Math.max(1, Math.round(limits.timeoutMs)))]),
  ];
  const work = statements.map((statement) => context.queryTable(statement.sql, statement.parameters));
  const cleanup = [context.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`), context.query(`RELEASE SAVEPOINT ${SAVEPOINT}`)];
  // Awaited in order below, so the first failure is the one reported; the skipped ones after it must not go unhandled.
  for (const pending of [...steps, ...work, ...cleanup]) pending.catch(() => undefined);
  for (const step of steps) await step;
  const results: QueryTable[] = [];
  for (const result of work) results.push(await result);
  for (const step of cleanup) await step;
  return results;
}
