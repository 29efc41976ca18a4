// How much of its calls' arguments one statement may hand the proxy. The upstream evaluates the arguments and sends
// them back in rows (a collect pass's calls: passes.ts; a projection's rows: projection.ts), a value of up to 1 GB
// each, which the proxy would read whole, then decode and parse on the event loop every session shares. It reads
// them under two caps instead (argument-rows.ts), and refuses the statement with 54000 once a row's lengths say it
// would pass one, before the bytes are in.
//
// A call's arguments may take as much as the largest request a provider's standard API takes (Anthropic's Messages
// API: 32 MB); a statement holds a few such calls at once, and more than its llm_summarize groups together may take
// (STATEMENT_GROUPS_BYTES, checked by the upstream). A Bind of a prepared statement calling LLM functions may carry no
// more than a statement holds: its parameters are what the calls' arguments are made of, and the proxy keeps them
// with its portal (tracked-portals.ts). Within those bytes, the shape of a call's arguments is bounded too (nesting,
// arrays and objects, values: src/json-structure.ts), since they are parsed on the event loop.

import { PgError, SqlState } from '../../proxy/pg-error.js';
import { EVENT_LOOP_JSON, parseWithinLimits } from '../json-structure.js';

export interface ArgumentLimits {
  /** Bytes of one call's arguments, as the JSON array the upstream hands over. */
  call: number;
  /**
   * Bytes of the rows of arguments one statement holds at once (with the other columns of a projection's rows): all
   * the calls a collect pass found, or the rows a projection has fetched and not yet sent.
   */
  statement: number;
}

export const DEFAULT_ARGUMENT_LIMITS: ArgumentLimits = { call: 32 * 1024 ** 2, statement: 128 * 1024 ** 2 };

/** The rows of arguments one statement holds now, in bytes (a DataRow's length field), against its limits. */
export class HeldArguments {
  private bytes = 0;
  /** The biggest row taken so far. */
  private largest: number | undefined;

  constructor(readonly limits: ArgumentLimits) {}

  /** Whether `length` more bytes fit beside those held. */
  fits(length: number): boolean {
    return this.bytes + length <= this.limits.statement;
  }

  take(length: number): void {
    this.bytes += length;
    this.largest = Math.max(this.largest ?? 0, length);
  }

  release(length: number): void {
    this.bytes -= length;
  }

  /**
   * How many rows to ask for next, at most `most`: as many as fit beside those held, each taken to be as big as the
   * biggest so far (before any, as big as a call's arguments may be). None when not one fits, one at least when
   * none is held: a row that passes the room left is refused as it comes.
   */
  rowsThatFit(most: number): number {
    const fit = Math.floor((this.limits.statement - this.bytes) / (this.largest ?? this.limits.call));
    return Math.min(most, this.bytes === 0 ? Math.max(1, fit) : fit);
  }
}

export function callArgumentsTooLarge(call: string, limits: ArgumentLimits): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `${call}: the arguments of one call are larger than the proxy takes (${limits.call} bytes)`, {
    hint: "Pass less to one call (left(body, 100000)), or raise the proxy's --max-argument-bytes.",
  });
}

/**
 * JSON a call to `call` was given, parsed: its arguments, as the JSON array the upstream hands over, or a text argument
 * that holds JSON (which the count of the arguments took for one string); 54000 past EVENT_LOOP_JSON.
 */
export function parsedArgumentJson(json: string, call: string): unknown {
  return parseWithinLimits(json, EVENT_LOOP_JSON, (exceeded) => {
    const { depth, containers, values } = EVENT_LOOP_JSON;
    return new PgError(SqlState.ProgramLimitExceeded, `${call}: the arguments of one call have ${exceeded}, more than the proxy parses`, {
      hint: `Pass a call no more than ${values} values, ${containers} arrays and objects, nested up to ${depth} deep: parsing more would hold up every session of the proxy.`,
    });
  });
}

export function statementArgumentsTooLarge(limits: ArgumentLimits): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `the arguments of one statement's calls are larger than the proxy holds at once (${limits.statement} bytes)`, {
    hint: "Make fewer calls in one statement (a WHERE, a LIMIT), or pass less to each, or raise the proxy's --max-statement-argument-bytes.",
  });
}

export function bindParametersTooLarge(limit: number): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `pg_llm proxy: the parameters of a Bind of a statement calling LLM functions are larger than the proxy holds (${limit} bytes)`, {
    hint: "Pass less to one statement, or raise the proxy's --max-statement-argument-bytes.",
  });
}
