// The estimate of a statement given as text (pg_llm_estimate; EXPLAIN without ANALYZE through the proxy), without
// calling a model: the statement is held to the rules for SQL the proxy runs for a caller (src/sql/statement.ts),
// the stubs of its calls allowed; then it runs as a collect pass runs it (src/intercept/passes.ts: each stub records
// its call and how many times rows make it), inside EXPLAIN ANALYZE, which evaluates every row and sends none back,
// in a savepoint that is always rolled back, read-only for a query, under a statement timeout (src/sql/sandbox.ts).
// The calls it recorded are read before the rollback, and priced (estimate.ts). The secrets its calls write out reach
// the server only as references, as in the client's own statements (src/intercept/literal-secrets.ts).

import type { CallContext } from '../../functions/declaration.js';
import { PgError, SqlState } from '../../proxy/pg-error.js';
import { mapWithTurns } from '../event-loop-turns.js';
import { COLLECTED_CALLS, collectedCall } from '../intercept/collected-calls.js';
import { phaseSql } from '../intercept/passes.js';
import { runRolledBack } from '../sql/sandbox.js';
import { checkSql, type CheckedSql } from '../sql/statement.js';
import { estimateCalls, type CollectedCall, type ModelEstimate } from './estimate.js';

/** How long the statement may run (or less, when the session's statement_timeout is shorter). */
const STATEMENT_TIMEOUT_MS = 30_000;
/** The execution id the stubs record the estimate's calls under: the engine numbers its own from 1. */
const ESTIMATE_EXECUTION = '0';
const CANCELED = '57014';

export async function estimateStatement(context: CallContext, sql: string, source: string): Promise<ModelEstimate[]> {
  // Everything the server gets of the statement holds references to the secrets its calls write out.
  const checked = await checkSql(context, await context.literalSecrets.held(sql), {
    dml: 'allow',
    ddl: 'refuse',
    systemTables: true,
    runs: true,
    proxyCalls: true,
    source,
    rulesHint: 'An estimate is of one SELECT, INSERT, UPDATE, DELETE or MERGE statement.',
  });
  if (checked.parameters) {
    throw new PgError('42P02', `${source} refers to parameters ($1…), whose values an estimate does not have`, { hint: 'Estimate the statement with values in their place.' });
  }
  return estimateCalls(context, await collectCalls(context, checked));
}

async function collectCalls(context: CallContext, checked: CheckedSql): Promise<CollectedCall[]> {
  // The session's tables of calls and results, as the engine's first collect pass makes them: outside the savepoint.
  await context.query('SELECT _pg_llm_catalog.prepare_session()');
  const collect = (placeholders: boolean) =>
    runRolledBack(context, { readOnly: checked.kind === 'query', timeoutMs: STATEMENT_TIMEOUT_MS }, [
      { sql: phaseSql('collect', placeholders), parameters: [ESTIMATE_EXECUTION] },
      { sql: `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${checked.sql}` },
      { sql: COLLECTED_CALLS, parameters: [ESTIMATE_EXECUTION], collectedCalls: true },
    ]);
  let results;
  try {
    results = await collect(false);
  } catch (error) {
    // It may have failed on the NULL a call stands for (a NOT NULL column): again, as the passes go on, with a value
    // of each call's type in its place. A failure then is the statement's own, as is a limit passed (its arguments').
    if (!(error instanceof PgError) || error.sqlstate === CANCELED || error.sqlstate === SqlState.ProgramLimitExceeded) throw error;
    results = await collect(true);
  }
  const { columns, rows } = results[2]!;
  return mapWithTurns(rows, (row) => collectedCall(Object.fromEntries(columns.map((column, i) => [column.name, row[i]!]))));
}
