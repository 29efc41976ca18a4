// The calls a collect pass (passes.ts) recorded in the session's temp table, as the proxy reads them back: the
// engine's passes, and an estimate's (src/cost/statement-estimate.ts).

import { copiedInTurns } from '../event-loop-turns.js';
import { EVENT_LOOP_JSON } from '../json-structure.js';
import { valueInThread } from '../providers/answers/pool.js';
import { argumentsBeyondLimits, parsedArgumentJson, type HeldArguments } from './argument-limits.js';
import { ArgumentCollector, type ArgumentColumns } from './argument-rows.js';
import type { Call } from './calls.js';
import { STATEMENT_REQUESTS, type Result, type UpstreamRequests } from './upstream-requests.js';

/**
 * The calls a collect pass recorded under the execution id $1, with how many times rows made each: a column the
 * catalog's tables have had since pg_llm_estimate (read through to_jsonb, so a catalog older than that still serves).
 */
export const COLLECTED_CALLS = `SELECT c.call_key, c.function_name, c.arguments::pg_catalog.text AS arguments,
  pg_catalog.to_jsonb(c) OPERATOR(pg_catalog.->>) 'occurrences' AS occurrences
  FROM pg_temp.pg_llm_collected_calls c WHERE c.execution OPERATOR(pg_catalog.=) $1::pg_catalog.int8`;

/** Arguments past this many bytes are parsed in a thread (collectedCallRow). */
const INLINE_ARGUMENT_BYTES = 256 * 1024;

/** The column of COLLECTED_CALLS that holds a call's arguments: the call's function comes before it. */
const ARGUMENTS_COLUMN = 2;
const FUNCTION_COLUMN = 1;

/** Which call's arguments a column of COLLECTED_CALLS holds (argument-rows.ts). */
const collectedCallArguments: ArgumentColumns = (column, before) => (column === ARGUMENTS_COLUMN ? before[FUNCTION_COLUMN]!.toString('utf8') : undefined);

/** Sends COLLECTED_CALLS (`sql`, an estimate's wrapped in its own statements) and reads its rows, holding them in `held`. */
export function readCollectedCalls(requests: UpstreamRequests, held: HeldArguments, sql: string, parameters: Array<string | null> = []): Promise<Result> {
  const rows = new ArgumentCollector(STATEMENT_REQUESTS, held, collectedCallArguments);
  requests.statementTo(rows, sql, parameters);
  return rows.done;
}

/** A row of COLLECTED_CALLS. */
export function collectedCall(row: Record<string, string | null>): Call & { occurrences: number } {
  return { function: row.function_name!, arguments: parsedArgumentJson(row.arguments!, row.function_name!) as unknown[], occurrences: Number(row.occurrences ?? 1) };
}

/**
 * A row of COLLECTED_CALLS as it came (its key first), its arguments parsed in a thread when they are big: JSON.parse
 * of a call's 24 MB of arguments held up the event loop, every session's, for a third of a second (review L3).
 * `asker` is whose place in the threads' queue the parse takes (answers/pool.ts).
 */
export async function collectedCallRow(row: Array<Buffer | null>, asker: string): Promise<{ key: string; call: Call & { occurrences: number } }> {
  const [key, name, json, occurrences] = row.map((value) => value ?? undefined) as [Buffer, Buffer, Buffer, Buffer | undefined];
  const call = name.toString('utf8');
  let values: unknown;
  if (json.length <= INLINE_ARGUMENT_BYTES) values = parsedArgumentJson(json.toString('utf8'), call);
  else {
    // Copied out, to be moved to the thread: the row may be a view of bytes that hold other rows too.
    const parsed = await valueInThread(await copiedInTurns(json), EVENT_LOOP_JSON, asker);
    if ('exceeded' in parsed) throw argumentsBeyondLimits(call, parsed.exceeded);
    values = parsed.parsed;
  }
  return { key: key.toString('utf8'), call: { function: call, arguments: values as unknown[], occurrences: Number(occurrences?.toString('utf8') ?? 1) } };
}
