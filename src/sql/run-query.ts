// Runs a checked query (statement.ts) for the text-to-SQL and report functions: read-only, with the caller's rights,
// rolled back (sandbox.ts), at most `maxRows` rows (read through a cursor, so the query stops once enough rows are
// read), with its EXPLAIN plan captured in the same pipeline.
//
// At most `maxResultBytes` of rows: the server counts the bytes of each row's text form (what it sends, give or take
// the quoting of a record) as the rows go out and fails the query with 54000 before the row that would pass the cap
// is sent. Counted by the proxy instead, a single row (up to 1 GB) would already be in its memory when counted.

import { randomBytes } from 'node:crypto';
import type { CallContext } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';
import { resultJson, type ResultJson } from './result-json.js';
import { runRolledBack } from './sandbox.js';
import { internalName } from '../intercept/internal-names.js';
import { EVENT_LOOP_JSON } from '../json-structure.js';

const CURSOR = internalName('generated_result');
/**
 * The most values (rows × columns) of a result the proxy turns into JSON, as many as it parses of JSON on the event
 * loop: each row becomes an object, and a result of 3,500 rows of 1,600 columns (within max_result_bytes) held every
 * session for seconds, most of them collecting the garbage of its 5.6 million values.
 */
export const MAX_RESULT_VALUES = EVENT_LOOP_JSON.values;

export interface ExecutionLimits {
  maxRows: number;
  timeoutMs: number;
  maxResultBytes: number;
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
  const tooBig = `the result is larger than max_result_bytes (${limits.maxResultBytes} bytes)`;
  const [plan, , fetched] = await runRolledBack(context, { readOnly: true, timeoutMs: limits.timeoutMs }, [
    { sql: `EXPLAIN ${sql}` },
    { sql: `DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${sizeCapped(sql, limits.maxResultBytes, tooBig)}` },
    { sql: `FETCH FORWARD ${limits.maxRows + 1} FROM ${CURSOR}` },
  ]).catch((error: unknown) => {
    if (!(error instanceof PgError && error.message === tooBig)) throw error;
    throw new PgError('54000', tooBig, { hint: 'Select fewer or narrower rows, or raise options.max_result_bytes (at most 64 MiB).' });
  });
  const executionMs = Math.round(performance.now() - started);
  const truncated = fetched!.rows.length > limits.maxRows;
  const values = Math.min(fetched!.rows.length, limits.maxRows) * fetched!.columns.length;
  if (values > MAX_RESULT_VALUES) {
    throw new PgError('54000', `the result holds ${values} values (rows × columns), more than the ${MAX_RESULT_VALUES} the proxy turns into JSON`, {
      hint: 'Select fewer rows or columns, or lower options.max_rows.',
    });
  }
  const result = await resultJson(context, { columns: fetched!.columns, rows: fetched!.rows.slice(0, limits.maxRows) });
  return { ...result, row_count: result.rows.length, truncated, plan: plan!.rows.map((row) => row[0]!), execution_ms: executionMs };
}

/** The query's rows, failing once their text passes `maxBytes` (sandbox.ts has standard_conforming_strings on). */
function sizeCapped(sql: string, maxBytes: number, message: string): string {
  // The row's alias is one the SQL cannot know: a column of its result by the same name would be taken for the row.
  const row = `pg_llm_row_${randomBytes(8).toString('hex')}`;
  return `SELECT (sized.${row}).* FROM (SELECT ${row}, pg_catalog.sum(pg_catalog.octet_length(${row}::pg_catalog.text)) OVER (ROWS UNBOUNDED PRECEDING) AS sent FROM (${sql}
) AS ${row}) AS sized
    WHERE CASE WHEN sized.sent OPERATOR(pg_catalog.>) ${maxBytes} THEN _pg_llm_catalog.raise_error('54000', '${message}') IS NULL ELSE true END`;
}
