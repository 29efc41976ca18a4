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
// A fast cursor's upstream cursor has a name of the proxy's, never the client's: its rows are arguments, and a read
// the proxy does not see (a FETCH prepared before the cursor was declared, a PL/pgSQL function given the cursor, an
// Execute of its portal) must fail, not take them for answers. There is no cursor by the client's name upstream, so
// such a read fails with PostgreSQL's 34000. The proxy puts its name in the FETCH, MOVE and CLOSE it sees; CLOSE
// ALL, DISCARD ALL, a rolled-back savepoint and the end of the transaction close the cursor upstream as any other.
// A passes cursor has the client's name upstream: what it reads are the calls' results.
//
// The proxy's list only says which names to look at: a cursor without hold is forgotten when its transaction ends,
// and a fast one is used only once pg_cursors shows its upstream cursor still open, so one closed where the proxy
// could not see it is never taken for a cursor of the client's declared under its name since.

import { randomUUID } from 'node:crypto';
import type { FieldDescription } from '../../proxy/backend-read.js';
import { commandComplete, noParameters, rowDescription } from '../../proxy/backend-write.js';
import { bindParameters, close, describe, execute, parse } from '../../proxy/frontend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError, SqlState } from '../../proxy/pg-error.js';
import type { HeldArguments } from './argument-limits.js';
import { ArgumentCollector } from './argument-rows.js';
import { check, type CallRunner, type Progress } from './calls.js';
import type { StatementPlan } from './analyze.js';
import type { CursorDeclaration, CursorMotion, ForwardMotion } from './cursor-plan.js';
import { EXTENDED_ONLY, type Target } from './passes.js';
import type { ProjectedCalls } from './projection-plan.js';
import { argumentFormats, projectedArguments, sendProjectedRows, type ArgumentRows } from './projection.js';
import { ClientRelay, Collector, NO_PARAMETERS, records, type UpstreamRequests } from './upstream-requests.js';
import { BINARY_FORMAT, columnFormat } from './values.js';
import { internalName } from './internal-names.js';

/** Cursors over LLM calls one session may have open at once. */
export const MAX_CURSORS = 256;
/** The client's DECLARE (simple protocol), then the one declaring the upstream cursor of a fast one. */
export const DECLARE_STATEMENT = internalName('declare');
/** The cursor's query as the client wrote it: described for its columns, and run by the collect passes. */
export const CURSOR_QUERY = internalName('cursor_query');
const ROWS_STATEMENT = internalName('cursor_rows');

interface Lifetime {
  name: string;
  /** For a cursor without hold: the number the ReadyForQuery ending its transaction has, at the earliest. */
  endsAtReady?: number;
}

export type LlmCursor = Lifetime &
  (
    | { kind: 'fast'; upstream: string; plan: ProjectedCalls; fields: FieldDescription[]; binary: boolean; query: string }
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
    /** Whether the block the session is in has failed now. */
    private readonly blockFailed: () => boolean,
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

  /** The cursor by this name, once the upstream shows a fast one's cursor still open; else forgets it. */
  async confirmed(name: string): Promise<LlmCursor | undefined> {
    return (await this.lookUp(name)).cursor;
  }

  /**
   * The cursor a FETCH or MOVE reads, as `confirmed`. PostgreSQL refuses a DECLARE under the name of an open cursor,
   * but the proxy sees no DECLARE without LLM calls: if one took a fast cursor's name, it says so now (42P03).
   */
  async toRead(name: string): Promise<LlmCursor | undefined> {
    const { cursor, shadowed } = await this.lookUp(name);
    if (!shadowed) return cursor;
    throw new PgError(SqlState.DuplicateCursor, `cursor "${name}" is declared twice`, {
      detail: `Another cursor was declared under the name of the open cursor "${name}" over LLM calls, a DECLARE PostgreSQL refuses.`,
      hint: `CLOSE ${name} closes the cursor over LLM calls.`,
    });
  }

  /** Refuses a DECLARE of a name a cursor has (42P03, as PostgreSQL): the client's own, or a fast one's. */
  async claimName(name: string): Promise<void> {
    const known = this.get(name);
    if ((await this.openOf(name, known?.kind === 'fast' ? known.upstream : name)).size > 0) {
      throw new PgError(SqlState.DuplicateCursor, `cursor "${name}" already exists`);
    }
    this.cursors.delete(name);
  }

  /** The CLOSE to run upstream for a client's CLOSE of this name: the proxy's name for a fast cursor, else none. */
  async closeSql(name: string | undefined): Promise<string | undefined> {
    const cursor = name === undefined ? undefined : await this.confirmed(name);
    return cursor?.kind === 'fast' ? `CLOSE ${cursor.upstream}` : undefined;
  }

  /** After a CLOSE of this name (undefined: CLOSE ALL) succeeded. */
  forget(name: string | undefined): void {
    if (name === undefined) this.cursors.clear();
    else this.cursors.delete(name);
  }

  /** Makes room for one more cursor, forgetting those the upstream has closed; 54000 when all are open. */
  async makeRoom(): Promise<void> {
    this.forgetEnded();
    if (this.cursors.size < MAX_CURSORS) return;
    const open = this.requests.statement('SELECT name FROM pg_catalog.pg_cursors');
    this.requests.flush();
    const names = new Set(records(check(await open)).map((row) => row.name));
    for (const [name, cursor] of this.cursors) if (!names.has(upstreamName(cursor))) this.cursors.delete(name);
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
    // Read only forward, in the formats the proxy binds its FETCH with.
    const upstream = `pg_llm_arguments_${randomUUID().replaceAll('-', '')}`;
    const declaration = `DECLARE ${upstream} NO SCROLL CURSOR ${cursor.holdable ? 'WITH HOLD ' : ''}FOR ${rewrittenSql}`;
    const declared = new ClientRelay(this.io, EXTENDED_ONLY, 5);
    for (const message of [
      close('S', DECLARE_STATEMENT),
      parse(DECLARE_STATEMENT, declaration, parameterTypes),
      close('P', DECLARE_STATEMENT),
      bindParameters(DECLARE_STATEMENT, DECLARE_STATEMENT, parameterSection, []),
      execute(DECLARE_STATEMENT),
    ]) {
      this.requests.send(message, declared);
    }
    this.requests.flush();
    if (await declared.done) return false;
    this.remember({ kind: 'fast', name: cursor.name, upstream, plan: { calls, columns }, fields, binary: cursor.binary, query: rewrittenSql }, cursor.holdable);
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
    // The rows' code runs as they are fetched: what the cursor's query reaches is judged at each FETCH, as a
    // statement's is before its calls open a secret the session holds (review X1).
    if (calls.holdsSecrets) await calls.judgeReach(cursor.query, signal);
    if (forward.skip > 0) {
      const skipped = this.requests.statement(`MOVE FORWARD ${forward.skip} FROM ${cursor.upstream}`);
      this.requests.flush();
      check(await skipped);
    }
    let wanted = maxRows > 0 ? Math.min(maxRows, forward.count ?? maxRows) : forward.count;
    if (wanted === 0) return 0;
    const formats = argumentFormats(cursor.plan, resultFormats);
    const columns = projectedArguments(cursor.plan);
    const nextBatch = async (most: number, held: HeldArguments): Promise<ArgumentRows> => {
      const size = Math.min(most, wanted ?? most);
      const batch = new ArgumentCollector(5, held, columns, (notice) => this.io.writeToClient(notice));
      for (const message of [close('S', ROWS_STATEMENT), parse(ROWS_STATEMENT, `FETCH FORWARD ${size} FROM ${cursor.upstream}`), close('P', ROWS_STATEMENT), bindParameters(ROWS_STATEMENT, ROWS_STATEMENT, NO_PARAMETERS.subarray(0, 4), formats), execute(ROWS_STATEMENT)]) {
        this.requests.send(message, batch);
      }
      this.requests.flush();
      const { rows } = check(await batch.done);
      if (wanted !== null) wanted -= rows.length;
      return { rows, last: rows.length < size || wanted === 0 };
    };
    return sendProjectedRows(this.io, calls, signal, { plan: cursor.plan, fields: cursor.fields, resultFormats }, nextBatch, progress);
  }

  /** The MOVE to run upstream for a client's MOVE of a fast cursor: its count is the client's. */
  moveSql(cursor: FastCursor, forward: ForwardMotion): string {
    // A skip comes only from RELATIVE n, which moves over n - 1 rows, then onto one.
    return `MOVE ${forward.skip > 0 ? `RELATIVE ${forward.skip + 1}` : `FORWARD ${forward.count ?? 'ALL'}`} IN ${cursor.upstream}`;
  }

  /** The cursor by this name, with whether an upstream cursor has its name while a fast one is open (`toRead`). */
  private async lookUp(name: string): Promise<{ cursor: LlmCursor | undefined; shadowed: boolean }> {
    // In a failed transaction PostgreSQL answers for itself.
    if (this.blockFailed()) return { cursor: undefined, shadowed: false };
    const cursor = this.get(name);
    if (cursor?.kind !== 'fast') return { cursor, shadowed: false };
    const open = await this.openOf(cursor.upstream, name);
    if (open.has(cursor.upstream)) return { cursor, shadowed: open.has(name) };
    this.cursors.delete(name);
    return { cursor: undefined, shadowed: false };
  }

  /** Which of two names upstream cursors have. */
  private async openOf(first: string, second: string): Promise<Set<string | null>> {
    const found = this.requests.statement('SELECT name FROM pg_catalog.pg_cursors WHERE name OPERATOR(pg_catalog.=) ANY (ARRAY[$1, $2])', [first, second]);
    this.requests.flush();
    return new Set(records(check(await found)).map((row) => row.name));
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

function upstreamName(cursor: LlmCursor): string {
  return cursor.kind === 'fast' ? cursor.upstream : cursor.name;
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
