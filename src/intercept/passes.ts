// The passes of the general path (see execution.ts): a collect pass in a savepoint that reports the calls it meets,
// the storing of their results in the session's temp table, and the final pass whose answer is the client's. Each
// sets pg_llm.phase (and the execution id the stubs look their results up by) for its own transaction-local scope.

import type { FieldDescription } from '../../proxy/backend-read.js';
import { describe, execute } from '../../proxy/frontend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { BackendMessage } from '../../proxy/protocol.js';
import { EventLoopTurns } from '../event-loop-turns.js';
import { loginAsker } from '../providers/asker.js';
import type { HeldArguments } from './argument-limits.js';
import { check, type Call } from './calls.js';
import { ClientRelay, Collector, NO_PARAMETERS, STATEMENT_REQUESTS, type Result, type UpstreamRequests } from './upstream-requests.js';
import { collectedCallRow, COLLECTED_CALLS, readCollectedCalls } from './collected-calls.js';
import { internalName } from './internal-names.js';
import type { JsonBytes } from './json-in-turns.js';

/** The NOTICE a collect pass raises (once, without values) when it found calls with no result yet. */
const CALLS_COLLECTED = 'LM001';
const WATCHED = new Set([CALLS_COLLECTED]);
const OPEN_OBJECT = Buffer.from('{');
const MEMBER_SEPARATOR = Buffer.from(',');
const CLOSE_OBJECT = Buffer.from('}');
const PASS_PORTAL = internalName('pass');
export const FINAL_PORTAL = internalName('final');
/** What a simple Query's client does not expect to see of the extended messages the proxy runs for it. */
export const EXTENDED_ONLY = new Set<number>([BackendMessage.ParseComplete, BackendMessage.BindComplete, BackendMessage.CloseComplete, BackendMessage.NoData]);

/**
 * What a collect pass found: the calls with no result yet, the pass's own error, its result's columns. A pass that
 * failed tells only that it had found calls (`collected`): their rows went with its savepoint.
 */
export interface Collected {
  calls: Map<string, Call>;
  collected: boolean;
  error: Map<string, string> | undefined;
  fields: FieldDescription[] | undefined;
}

/** The statement to run: a prepared statement upstream, and the parameters and result formats to bind it with. */
export interface Target {
  statement: string;
  /** The parameter types the client's Parse gave its statement (0: PostgreSQL infers it); absent for the proxy's. */
  parameterTypes?: number[];
  bindRest: Buffer;
  /** The Bind's parameter format codes and values: bindRest up to its result format codes. */
  parameterSection: Buffer;
  /** The result format codes of the Bind (none: all text). */
  resultFormats: number[];
  /** The client's portal, for an extended-protocol Execute; absent for a simple Query. */
  clientPortal?: { name: string; maxRows: number };
}

/** A statement of a simple Query, prepared upstream by the proxy: no parameters, text results. */
export function queryTarget(statement: string): Target {
  return { statement, bindRest: NO_PARAMETERS, parameterSection: NO_PARAMETERS.subarray(0, 4), resultFormats: [] };
}

/**
 * Clears what code the session ran before a statement wrote into its tables for the statement's execution id (which
 * counts up: easily guessed), planting calls there for the proxy to make with the session's keys, or their results;
 * and any aggregate's values (a group's are deleted as it ends, within its statement: those left were planted).
 */
const CLEARED_EXECUTION = `WITH calls AS (DELETE FROM pg_temp.pg_llm_collected_calls WHERE execution OPERATOR(pg_catalog.=) $1::pg_catalog.int8),
       inputs AS (DELETE FROM pg_temp.pg_llm_aggregate_inputs)
  DELETE FROM pg_temp.pg_llm_call_results WHERE execution OPERATOR(pg_catalog.=) $1::pg_catalog.int8`;

export class Passes {
  constructor(
    private readonly io: SessionIo,
    private readonly requests: UpstreamRequests,
  ) {}

  /**
   * A collect pass; the first one of a statement also makes sure the session has its results table. The calls it
   * finds are held in `held` until the caller ends it.
   */
  async collect(
    held: HeldArguments,
    target: Target,
    execution: number,
    first: boolean,
    placeholders: boolean,
  ): Promise<Collected> {
    const setup = new Collector((first ? 4 : 2) * STATEMENT_REQUESTS);
    if (first) {
      this.requests.statementTo(setup, 'SELECT _pg_llm_catalog.prepare_session()');
      // Rows code the session ran before wrote for this execution: the pass reads only calls of its own.
      this.requests.statementTo(setup, CLEARED_EXECUTION, [String(execution)]);
    }
    this.requests.statementTo(setup, 'SAVEPOINT pg_llm_pass');
    this.requests.statementTo(setup, phaseSql('collect', placeholders), [String(execution)]);
    // The pass's own rows, with NULL in the calls' places, tell nothing.
    const pass = new Collector(4, false, WATCHED);
    this.requests.bindTo(pass, PASS_PORTAL, target.statement, target.bindRest);
    this.requests.send(describe('P', PASS_PORTAL), pass);
    this.requests.send(execute(PASS_PORTAL), pass);
    // Read before the savepoint is rolled back; skipped by the server when the pass failed.
    const found = readCollectedCalls(this.requests, held, COLLECTED_CALLS, [String(execution)]);
    void this.requests.sync();
    const cleanup = new Collector(2 * STATEMENT_REQUESTS);
    this.requests.statementTo(cleanup, 'ROLLBACK TO SAVEPOINT pg_llm_pass');
    this.requests.statementTo(cleanup, 'RELEASE SAVEPOINT pg_llm_pass');
    void this.requests.sync();
    check(await setup.done);
    const result = await pass.done;
    const rows = await found;
    check(await cleanup.done);
    const calls = new Map<string, Call>();
    if (!result.error) {
      const turns = new EventLoopTurns();
      for (const row of check(rows).rows) {
        // Each call's arguments are parsed: a statement's many calls near their limits are seconds of parsing.
        await turns.step();
        // All of a login role's sessions wait for a thread in its share, with its model calls' big requests and answers.
        const { key, call } = await collectedCallRow(row, loginAsker(held.login));
        calls.set(key, call);
      }
    }
    const collected = calls.size > 0 || result.noticed.has(CALLS_COLLECTED);
    return { calls, collected, error: result.error, fields: result.fields };
  }

  /**
   * Sends a batch of results (one at least), `"call key":value` members of a JSON object (UTF-8, in pieces the Bind
   * carries as they are), to the session's results table.
   */
  store(execution: number, entries: JsonBytes[]): Promise<Result> {
    const object = entries.flatMap(({ pieces }, i) => [i === 0 ? OPEN_OBJECT : MEMBER_SEPARATOR, ...pieces]);
    const stored = this.requests.statement(
      `INSERT INTO pg_temp.pg_llm_call_results (execution, call_key, value)
       SELECT $1::bigint, entry.key, entry.value FROM pg_catalog.jsonb_each($2::pg_catalog.jsonb) AS entry ON CONFLICT DO NOTHING`,
      [String(execution), [...object, CLOSE_OBJECT]],
    );
    this.requests.flush();
    return stored;
  }

  /** Runs the statement for real; its answer is the client's. Resolves true when it failed. */
  async finalPass(target: Target, execution: number): Promise<boolean> {
    const setup = this.requests.statement(phaseSql('final'), [String(execution)]);
    if (target.clientPortal) {
      const relay = new ClientRelay(this.io, new Set(), 1);
      this.requests.send(execute(target.clientPortal.name, target.clientPortal.maxRows), relay);
      this.requests.flush();
      check(await setup);
      return relay.done;
    }
    const relay = new ClientRelay(this.io, EXTENDED_ONLY, 4);
    this.requests.bindTo(relay, FINAL_PORTAL, target.statement, target.bindRest);
    this.requests.send(describe('P', FINAL_PORTAL), relay);
    this.requests.send(execute(FINAL_PORTAL), relay);
    this.requests.flush();
    check(await setup);
    return relay.done;
  }

  /** Executes more rows of a portal whose final pass was suspended by a row limit (or of a FETCH from a cursor). */
  resume(execution: number, portal: string, maxRows: number): void {
    this.enterFinal(execution);
    this.io.sendUpstream(execute(portal, maxRows));
  }

  /** Sets the final phase for what comes next in the transaction: the stubs return the execution's results. */
  enterFinal(execution: number): void {
    this.requests.statementTo(new Collector(STATEMENT_REQUESTS), phaseSql('final'), [String(execution)]);
  }
}

/** What `next` resolves to, once the results stored before it are in; a failed store is the error to report. */
export async function afterStored<T>(stored: Promise<Result> | undefined, next: Promise<T>): Promise<T> {
  try {
    const value = await next;
    if (stored) check(await stored);
    return value;
  } catch (error) {
    if (stored) check(await stored);
    throw error;
  }
}

/**
 * Sets the phase the stubs act in, for the transaction's rest (or the savepoint's); $1 is the execution id. A collect
 * phase also says what a call with no result yet stands for: NULL, or with `placeholders` a value of its type.
 */
export function phaseSql(phase: 'collect' | 'final', placeholders = false): string {
  const collecting =
    phase === 'collect'
      ? `pg_catalog.set_config('client_min_messages', 'notice', true), pg_catalog.set_config('pg_llm.placeholders', '${placeholders ? 'typed' : 'null'}', true), `
      : '';
  return `SELECT ${collecting}pg_catalog.set_config('pg_llm.phase', '${phase}', true), pg_catalog.set_config('pg_llm.execution', $1, true)`;
}
