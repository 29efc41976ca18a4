// Runs a checked query (statement.ts) for the text-to-SQL and report functions: read-only, with the caller's rights,
// rolled back (sandbox.ts), at most `maxRows` rows (read through a cursor, so the query itself is not rewritten and
// stops once enough rows are read), with its EXPLAIN plan captured in the same pipeline.

import type { CallContext } from '../../functions/declaration.js';
import { resultJson, type ResultJson } from './result-json.js';
import { runRolledBack } from './sandbox.js';

const CURSOR = 'pg_llm_generated_result';

export interface ExecutionLimits {
  maxRows: number;
  timeoutMs: number;
}

export interface Execution extends ResultJson {
  row_count: number;
  /** More rows than maxRows: only the first maxRows are here. */
  truncated: boolean;
  /** EXPLAIN's lines, as psql shows them. */
  plan: string[];
  execution_ms: number;
}

export async function runQuery(context: CallContext, sql: string, limits: ExecutionLimits): Promise<Execution> {
  const started = performance.now();
  const [plan, , fetched] = await runRolledBack(context, { readOnly: true, timeoutMs: limits.timeoutMs }, [
    { sql: `EXPLAIN ${sql}` },
    { sql: `DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${sql}` },
    { sql: `FETCH FORWARD ${limits.maxRows + 1} FROM ${CURSOR}` },
  ]);
  const executionMs = Math.round(performance.now() - started);
  const truncated = fetched!.rows.length > limits.maxRows;
  const result = await resultJson(context, { columns: fetched!.columns, rows: fetched!.rows.slice(0, limits.maxRows) });
  return { ...result, row_count: result.rows.length, truncated, plan: plan!.rows.map((row) => row[0]!), execution_ms: executionMs };
}
