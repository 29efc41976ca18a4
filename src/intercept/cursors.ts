// Cursors over LLM calls (DECLARE … CURSOR FOR a query that calls them, then FETCH and MOVE), held by name for as
// long as the session may use them. Two kinds, as for statements (execution.ts):
//
//   fast    The calls are whole output columns: the upstream cursor runs the query with each call's arguments in
//           its place (projection-plan.ts), and each FETCH reads the next rows of arguments, computes their calls
//           concurrently and sends each row as soon as it is done (projection.ts). A row's calls are computed when
//           it is fetched, so the cursor only goes forward: going back would call the model again, for other
//           answers. WITH HOLD works as in PostgreSQL: the upstream cursor keeps the arguments past the commit.
//   passes  Any other: DECLARE computes every call in collect passes over the query, then declares the cursor as
//           the client wrote it; each FETCH and MOVE runs upstream in the final phase, reading the results. These
//           live in a temp table emptied at commit, so such a cursor cannot be held (analyze.ts refuses it).
//
// The upstream cursor has the client's name, so CLOSE, CLOSE ALL, DISCARD ALL, a rolled-back savepoint and the end
// of the transaction act on it there as in PostgreSQL. The proxy's list only says which names to look at: a cursor
// without hold is forgotten when its transaction ends; a fast one is used only once pg_cursors confirms that the
// name is still the cursor the proxy declared (its text starts with a mark of the proxy's), so one closed where the
// proxy could not see it, or another declared under its name, is never taken for it.

import { randomUUID } from 'node:crypto';
import type { FieldDescription } from '../../proxy/backend-read.js';
import { commandComplete, noParameters, rowDescription } from '../../proxy/backend-write.js';
import { bindParameters, close, describe, execute, parse } from '../../proxy/frontend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError, SqlState } from '../../proxy/pg-error.js';
import { check, type CallRunner, type Progress } from './calls.js';
import type { StatementPlan } from './analyze.js';
import type { CursorDeclaration, CursorMotion, ForwardMotion } from './cursor-plan.js';
import { EXTENDED_ONLY, type Target } from './passes.js';
import type { ProjectedCalls } from './projection-plan.js';
import { argumentFormats, BATCH_ROWS, sendProjectedRows, type ArgumentRows } from './projection.js';
import { ClientRelay, Collector, NO_PARAMETERS, records, type UpstreamRequests } from './upstream-requests.js';
import { BINARY_FORMAT, columnFormat } from './values.js';

/** Cursors over LLM calls one session may have open at once. */
export const MAX_CURSORS = 256;
/** The client's DECLARE (simple protocol), then the one declaring the upstream cursor of a fast one. */
export const DECLARE_STATEMENT = 'pg_llm_declare';
/** The cursor's query as the client wrote it: described for its columns, and run by the collect passes. */
export const CURSOR_QUERY = 'pg_llm_cursor_query';
const ROWS_STATEMENT = 'pg_llm_cursor_rows';

interface Lifetime {
  name: string;
  /** For a cursor without hold: the number the ReadyForQuery ending its transaction has, at the earliest. */
  endsAtReady?: number;
}

export type LlmCursor = Lifetime &
  (
    | { kind: 'fast'; mark: string; plan: ProjectedCalls; fields: FieldDescription[]; binary: boolean }
    | { kind: 'passes'; execution: number }
  );

export type FastCursor = LlmCursor & { kind: 'fast' };

type DeclarePlan = StatementPlan & { kind: 'declare' };

/** The columns of a cursor's query, and the parameter types of the client's DECLARE. */
interface DescribedQuery {
  fields: FieldDescription[];
  parameterTypes: number[];
}

export class Cursors {
  private readonly cursors = new Map<string, LlmCursor>();

  constructor(
    private readonly io: SessionIo,
    private readonly requests: UpstreamRequests,
  ) {}

  get size(): number {
    this.forgetEnded();
    return this.cursors.size;
  }

  /** The cursor the proxy knows by this name, not yet confirmed (see `confirmed`). */
  get(name: string): LlmCursor | undefined {
    this.forgetEnded();
    return this.cursors.get(name);
  }

  /** The cursor by this name, once the upstream confirms a fast one is still the proxy's; else forgets it. */
  async confirmed(name: string): Promise<LlmCursor | undefined> {
    // In a failed transaction PostgreSQL answers for itself.
    if (this.io.transactionStatus === 'E') return undefined;
    const cursor = this.get(name);
    if (cursor?.kind !== 'fast') return cursor;
    const found = this.requests.statement('SELECT 1 FROM pg_catalog.pg_cursors WHERE name = $1 AND pg_catalog.starts_with(statement, $2)', [name, cursor.mark]);
    this.requests.flush();
    if (check(await found).rows.length > 0) return cursor;
    this.cursors.delete(name);
    return undefined;
  }

  /** Makes room for one more cursor, forgetting those the upstream has closed; 54000 when all are open. */
  async makeRoom(): Promise<void> {
    this.forgetEnded();
    if (this.cursors.size < MAX_CURSORS) return;
    const open = this.requests.statement('SELECT name FROM pg_catalog.pg_cursors');
    this.requests.flush();
    const names = new Set(records(check(await open)).map((row) => row.name));
    for (const name of this.cursors.keys()) if (!names.has(name)) this.cursors.delete(name);
    if (this.cursors.size >= MAX_CURSORS) {
      throw new PgError(SqlState.ProgramLimitExceeded, `pg_llm proxy: more than ${MAX_CURSORS} cursors over LLM calls are open in this session`, {
        hint: 'Close cursors you no longer need (CLOSE name), or end the transaction that holds them.',
      });
    }
  }

  /**
   * Has the upstream parse the cursor's query (CURSOR_QUERY), with the parameter types of the client's DECLARE,
   * and resolves with its columns; undefined once PostgreSQL refused the DECLARE (its error has gone to the client).
   * A simple Query's DECLARE (a target without a client portal) is first parsed whole as the target's statement, so
   * that an error points where the client's text has it; a client's own Parse has done that already.
   */
  async describeQuery(plan: DeclarePlan, target: Target): Promise<DescribedQuery | undefined> {
    let parameterTypes: number[] = [];
    if (target.clientPortal) {
      const statement = new Collector(1);
      this.requests.send(describe('S', target.statement), statement);
      this.requests.flush();
      parameterTypes = check(await statement.done).parameterTypes ?? [];
    }
    const parsed = new ClientRelay(this.io, EXTENDED_ONLY, target.clientPortal ? 2 : 4);
    if (!target.clientPortal) {
      this.requests.send(close('S', target.statement), parsed);
      this.requests.send(parse(target.statement, plan.sql), parsed);
    }
    this.requests.send(close('S', CURSOR_QUERY), parsed);
    this.requests.send(parse(CURSOR_QUERY, plan.cursor.query, parameterTypes), parsed);
    const description = new Collector(1);
    this.requests.send(describe('S', CURSOR_QUERY), description);
    this.requests.flush();
    if (await parsed.done) return undefined;
    return { fields: check(await description.done).fields ?? [], parameterTypes };
  }

  /**
   * Declares a fast cursor's upstream cursor over the calls' arguments and answers the client's DECLARE; false
   * when PostgreSQL refused it (outside a transaction block without hold, a name in use…: its error is relayed).
   */
  async declareFast(cursor: CursorDeclaration, { fields, parameterTypes }: DescribedQuery, parameterSection: Buffer): Promise<boolean> {
    const { calls, columns, rewrittenSql } = cursor.projection!;
    const mark = `/* pg_llm cursor ${randomUUID()} */`;
    const declared = new ClientRelay(this.io, EXTENDED_ONLY, 5);
    for (const message of [
      close('S', DECLARE_STATEMENT),
      parse(DECLARE_STATEMENT, `${mark} ${cursor.head} ${rewrittenSql}`, parameterTypes),
      close('P', DECLARE_STATEMENT),
      bindParameters(DECLARE_STATEMENT, DECLARE_STATEMENT, parameterSection, []),
      execute(DECLARE_STATEMENT),
    ]) {
      this.requests.send(message, declared);
    }
    this.requests.flush();
    if (await declared.done) return false;
    this.remember({ kind: 'fast', name: cursor.name, mark, plan: { calls, columns }, fields, binary: cursor.binary }, cursor.holdable);
    return true;
  }

  rememberPasses(cursor: CursorDeclaration, execution: number): void {
    this.remember({ kind: 'passes', name: cursor.name, execution }, cursor.holdable);
  }

  /**
   * Answers a Describe of a statement or portal that reads a fast cursor (or of the cursor itself) with the columns
   * the proxy sends: the calls' results where the upstream has their arguments. False when the cursor is not one.
   */
  async describe(kind: 'S' | 'P', name: string, resultFormats: number[]): Promise<boolean> {
    const cursor = await this.confirmed(name);
    if (cursor?.kind !== 'fast') return false;
    if (kind === 'S') this.io.writeToClient(noParameters());
    this.io.writeToClient(this.rowDescription(cursor, resultFormats));
    return true;
  }

  /** The RowDescription of a fast cursor's rows in the given result formats. */
  rowDescription(cursor: FastCursor, resultFormats: number[]): Buffer {
    return rowDescription(cursor.fields.map((field, column) => ({ ...field, format: columnFormat(resultFormats, column) })));
  }

  /** The result formats of a simple Query's FETCH: binary for a BINARY cursor, as PostgreSQL has it. */
  simpleFormats(cursor: FastCursor): number[] {
    return cursor.binary ? [BINARY_FORMAT] : [];
  }

  /**
   * Sends the rows of a FETCH from a fast cursor, each as soon as its calls are done, at most `maxRows` (0: all
   * the FETCH asks for); resolves with how many were sent. Rejects with the first failed call's error.
   */
  async fetchRows(cursor: FastCursor, forward: ForwardMotion, resultFormats: number[], maxRows: number, calls: CallRunner, signal: AbortSignal, progress: Progress): Promise<number> {
    const quoted = `"${cursor.name.replace(/"/g, '""')}"`;
    if (forward.skip > 0) {
      const skipped = this.requests.statement(`MOVE FORWARD ${forward.skip} FROM ${quoted}`);
      this.requests.flush();
      check(await skipped);
    }
    let wanted = maxRows > 0 ? Math.min(maxRows, forward.count ?? maxRows) : forward.count;
    if (wanted === 0) return 0;
    const formats = argumentFormats(cursor.plan, resultFormats);
    const nextBatch = async (): Promise<ArgumentRows> => {
      const size = Math.min(BATCH_ROWS, wanted ?? BATCH_ROWS);
      const batch = new Collector(5);
      for (const message of [close('S', ROWS_STATEMENT), parse(ROWS_STATEMENT, `FETCH FORWARD ${size} FROM ${quoted}`), close('P', ROWS_STATEMENT), bindParameters(ROWS_STATEMENT, ROWS_STATEMENT, NO_PARAMETERS.subarray(0, 4), formats), execute(ROWS_STATEMENT)]) {
        this.requests.send(message, batch);
      }
      this.requests.flush();
      const { rows } = check(await batch.done);
      if (wanted !== null) wanted -= rows.length;
      return { rows, last: rows.length < size || wanted === 0 };
    };
    return sendProjectedRows(this.io, calls, signal, { plan: cursor.plan, fields: cursor.fields, resultFormats }, nextBatch, progress);
  }

  private remember(cursor: LlmCursor, holdable: boolean): void {
    // Every Query and Sync already sent is answered before the ReadyForQuery of the one that ends the transaction.
    cursor.endsAtReady = holdable ? undefined : this.io.readies.received + this.io.owed.pendingReadies + 1;
    this.cursors.set(cursor.name, cursor);
  }

  private forgetEnded(): void {
    const lastIdle = this.io.readies.lastIdle;
    for (const [name, cursor] of this.cursors) if (cursor.endsAtReady !== undefined && lastIdle >= cursor.endsAtReady) this.cursors.delete(name);
  }
}

/** Where a FETCH or MOVE of a fast cursor goes; refused (0A000) where it could read a row again. */
export function forwardOnly(cursor: FastCursor, motion: CursorMotion): ForwardMotion {
  if (motion.forward && (motion.move || motion.forward.count !== 0)) return motion.forward;
  throw new PgError(SqlState.FeatureNotSupported, `cursor "${cursor.name}" over LLM calls can only move forward`, {
    hint: 'Its calls are computed as its rows are fetched, and reading a row again would call the model again. Fetch forward only, or store the results in a table (CREATE TABLE … AS) and scroll a cursor over that.',
  });
}

/** The CommandComplete of a FETCH that sent `count` rows. */
export function fetchComplete(count: number): Buffer {
  return commandComplete(`FETCH ${count}`);
}
