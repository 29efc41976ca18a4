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
//
// The rows a statement holds are counted in its login role's account too (role-bytes.ts), under one bound for all
// the role's sessions: a statement's calls may wait long for a model's slot, arguments held, and a role may open as
// many sessions as the server lets it.

import { PgError, SqlState } from '../../proxy/pg-error.js';
import { EVENT_LOOP_JSON, jsonLimitsInWords, parseWithinLimits } from '../json-structure.js';
import type { SessionBytes } from './role-bytes.js';

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

/** What the statements of one login role's sessions may hold at once, unless set: four statements at their limit. */
export function roleArgumentBytes(limits: ArgumentLimits): number {
  return 4 * limits.statement;
}

/**
 * The rows of arguments one statement holds now, in bytes (a DataRow's length field), against its limits and in its
 * role's account (`role`), until released, or all at once when the statement ends (end).
 */
export class HeldArguments {
  private bytes = 0;
  /** The biggest row taken so far. */
  private largest: number | undefined;

  constructor(
    readonly limits: ArgumentLimits,
    private readonly role: SessionBytes,
  ) {}

  /** The login role whose statement holds them. */
  get login(): string {
    return this.role.role;
  }

  /** Why `length` more bytes do not fit beside those held (the statement's, or its role's), if they do not. */
  refusal(length: number): PgError | undefined {
    if (this.bytes + length > this.limits.statement) return statementArgumentsTooLarge(this.limits);
    if (!this.role.fits(length)) return roleArgumentsTooLarge(this.role.limit);
    return undefined;
  }

  take(length: number): void {
    this.bytes += length;
    this.role.add(length);
    this.largest = Math.max(this.largest ?? 0, length);
  }

  release(length: number): void {
    this.bytes -= length;
    this.role.add(-length);
  }

  /** The statement is over, however it ended: its role has the room of every row it still held back. */
  end(): void {
    this.release(this.bytes);
  }

  /**
   * How many rows to ask for next, at most `most`: as many as fit beside those held, each taken to be as big as the
   * biggest so far (before any, as big as a call's arguments may be). None when not one fits, one at least when
   * none is held: a row that passes the room left is refused as it comes.
   */
  rowsThatFit(most: number): number {
    const room = Math.min(this.limits.statement - this.bytes, this.role.room());
    const fit = Math.max(0, Math.floor(room / (this.largest ?? this.limits.call)));
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
  return parseWithinLimits(json, EVENT_LOOP_JSON, (exceeded) => argumentsBeyondLimits(call, exceeded));
}

/** The error for a call whose arguments have `exceeded` (a limit of EVENT_LOOP_JSON, in words). */
export function argumentsBeyondLimits(call: string, exceeded: string): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `${call}: the arguments of one call have ${exceeded}, more than the proxy parses`, {
    hint: `Pass a call no more than ${jsonLimitsInWords(EVENT_LOOP_JSON)}: parsing more would hold up every session of the proxy.`,
  });
}

export function statementArgumentsTooLarge(limits: ArgumentLimits): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `the arguments of one statement's calls are larger than the proxy holds at once (${limits.statement} bytes)`, {
    hint: "Make fewer calls in one statement (a WHERE, a LIMIT), or pass less to each, or raise the proxy's --max-statement-argument-bytes.",
  });
}

function roleArgumentsTooLarge(limit: number): PgError {
  return new PgError(
    SqlState.ProgramLimitExceeded,
    `pg_llm proxy: the arguments of the calls of this login role's statements would take more than ${limit / 1024 / 1024} MiB, the bound for all of a role's sessions together`,
    { hint: "Make fewer calls in one statement, or pass less to each, or run fewer such statements at once in this role's sessions: the role's others hold arguments too while their calls wait for a model." },
  );
}

export function bindParametersTooLarge(limit: number): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `pg_llm proxy: the parameters of a Bind of a statement calling LLM functions are larger than the proxy holds (${limit} bytes)`, {
    hint: "Pass less to one statement, or raise the proxy's --max-statement-argument-bytes.",
  });
}
