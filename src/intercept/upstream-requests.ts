// Requests the proxy sends in the client's own upstream session, for itself: each answer goes to a sink that
// collects it (or relays part of it to the client) instead of to the client. Statements run as extended-protocol
// messages on names of the proxy's own, so the client's unnamed statement and portal are never touched.

import { readCommandTag, readDataRow, readErrorField, readErrorFields, readParameterDescription, readRowDescription, readTransactionStatus, type FieldDescription } from '../../proxy/backend-read.js';
import { relayedAsItComes } from '../../proxy/backend-write.js';
import { bind, close, describe, execute, flush, parse, rebind, sync, type TextParameter } from '../../proxy/frontend-write.js';
import { keptBytes, LEFT_UNREAD, type BodyReader } from '../../proxy/framer.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError } from '../../proxy/pg-error.js';
import { BackendMessage, type TransactionStatus } from '../../proxy/protocol.js';
import type { ReplySink } from '../../proxy/replies-owed.js';
import { internalName } from './internal-names.js';

const INTERNAL_NAME = internalName('internal');
/** How many requests one statement() is: Close, Parse, Close, Bind, Describe, Execute. */
export const STATEMENT_REQUESTS = 6;
/** A Bind's tail with no parameters and text results; its first four bytes are the parameter section. */
export const NO_PARAMETERS = Buffer.from([0, 0, 0, 0, 0, 0]);
const NONE: ReadonlySet<string> = new Set();
/**
 * The most of a result's rows (their DataRow bodies) a Collector keeps: what a call's arguments may take
 * (--max-argument-bytes' default). The proxy's own reads of the catalog are parsed on the event loop every session
 * shares, and any role may write rows of its own of any size into the catalog's tables; a bigger result is refused.
 */
export const MAX_KEPT_ROW_BYTES = 32 * 1024 * 1024;
/**
 * What each kept row counts besides its body: holding it (an array, a Buffer a column) and what the caller builds of
 * it (an object a row, a JSON member a result) cost far more than its bytes when the row is small: 300,000 rows of
 * a few ids took half a gigabyte and seconds of the event loop. So many small rows are refused as one big one is.
 */
export const KEPT_ROW_OVERHEAD = 1024;
/**
 * And each of its values: a string, its place in the row, and what the caller builds of it. A text-to-SQL result of
 * 3,500 rows of 1,600 columns of `1` was within the bound in bytes, and its 5.6 million values held every session
 * for seconds, most of it collecting their garbage.
 */
export const KEPT_VALUE_OVERHEAD = 64;

export interface Result {
  fields: FieldDescription[] | undefined;
  parameterTypes: number[] | undefined;
  rows: Array<Array<Buffer | null>>;
  tag: string | undefined;
  /**
   * The SQLSTATEs its collector watches for of the NoticeResponses raised while the request ran; no other notice is
   * kept (the client's code may raise millions, each of up to a gigabyte).
   */
  noticed: Set<string>;
  error: Map<string, string> | undefined;
  /** The proxy's own refusal of the result, whose rows are then not all there (argument-rows.ts). */
  refused: PgError | undefined;
  /** The server ignored (part of) the request after an earlier error. */
  skipped: boolean;
  status: TransactionStatus | undefined;
}

/**
 * Collects the answers to a group of requests, and resolves once all of them are answered; without `keepRows`, their
 * rows are let go unread. Rows past MAX_KEPT_ROW_BYTES (each counted with KEPT_ROW_OVERHEAD) refuse the result (54000): those kept are let go, the rest
 * left unread, and the requests after it are answered as ever, so the session stays in step.
 */
export class Collector implements ReplySink {
  readonly result: Result = { fields: undefined, parameterTypes: undefined, rows: [], tag: undefined, noticed: new Set(), error: undefined, refused: undefined, skipped: false, status: undefined };
  readonly done: Promise<Result>;
  private resolve!: (result: Result) => void;
  private kept = 0;

  /** `watched`: the SQLSTATEs of the notices to tell of, in result.noticed. */
  constructor(
    private remaining: number,
    private readonly keepRows = true,
    private readonly watched: ReadonlySet<string> = NONE,
  ) {
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  dataRowReader(length: number): BodyReader | undefined {
    if (!this.keepRows || this.result.refused) return LEFT_UNREAD;
    this.kept += length + KEPT_ROW_OVERHEAD + (this.result.fields?.length ?? 0) * KEPT_VALUE_OVERHEAD;
    if (this.kept <= MAX_KEPT_ROW_BYTES) return undefined;
    this.result.rows = [];
    this.result.refused = new PgError('54000', `a result the proxy read for itself is larger than it keeps (${MAX_KEPT_ROW_BYTES} bytes of rows, ${KEPT_ROW_OVERHEAD} bytes counted for each and ${KEPT_VALUE_OVERHEAD} for each value)`, {
      hint: 'A row of the catalog (a message, a document, a config) or of a statement run for a call is too big, or there are too many: make them smaller or fewer, or read them with a SELECT of your own, which the proxy passes on as they come.',
    });
    return LEFT_UNREAD;
  }

  message(type: number, frame: Buffer): void {
    const { result } = this;
    switch (type) {
      case BackendMessage.RowDescription:
        result.fields = readRowDescription(frame);
        return;
      case BackendMessage.ParameterDescription:
        result.parameterTypes = readParameterDescription(frame);
        return;
      case BackendMessage.DataRow:
        result.rows.push(readDataRow(keptBytes(frame)));
        return;
      case BackendMessage.CommandComplete:
        result.tag = readCommandTag(frame);
        return;
      case BackendMessage.NoticeResponse: {
        const code = readErrorField(frame, 'C');
        if (this.watched.has(code)) result.noticed.add(code);
        return;
      }
      case BackendMessage.ErrorResponse:
        result.error = readErrorFields(frame);
        return;
      case BackendMessage.ReadyForQuery:
        result.status = readTransactionStatus(frame);
        return;
    }
  }

  complete(skipped: boolean): void {
    this.result.skipped ||= skipped;
    if (--this.remaining === 0) this.resolve(this.result);
  }
}

/**
 * Relays the answers to the client except the message types in `drop`; resolves with whether an error was
 * relayed. Used where a result of the proxy's statements is the client's (a final pass, a COMMIT's error).
 */
export class ClientRelay implements ReplySink {
  errored = false;
  readonly done: Promise<boolean>;
  private resolve!: (errored: boolean) => void;

  constructor(
    private readonly io: SessionIo,
    private readonly drop: ReadonlySet<number>,
    private remaining: number,
  ) {
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  message(type: number, frame: Buffer): void {
    if (type === BackendMessage.ErrorResponse) this.errored = true;
    if (!this.drop.has(type)) this.io.writeToClient(keptBytes(frame));
  }

  dataRowReader(length: number): BodyReader {
    return this.relayed(BackendMessage.DataRow, length);
  }

  copyDataReader(length: number): BodyReader {
    return this.relayed(BackendMessage.CopyData, length);
  }

  /** Nothing else is written to the client while a row comes: the engine awaits this answer. */
  private relayed(type: number, length: number): BodyReader {
    return this.drop.has(type) ? LEFT_UNREAD : relayedAsItComes(type, length, (bytes) => this.io.writeToClient(bytes));
  }

  complete(): void {
    if (--this.remaining === 0) this.resolve(this.errored);
  }
}

export class UpstreamRequests {
  constructor(private readonly io: SessionIo) {}

  /**
   * Runs one statement with text parameters; the caller ends the batch with sync() or flush(). `watched`: the
   * SQLSTATEs of the notices to tell of.
   */
  statement(sql: string, parameters: TextParameter[] = [], watched?: ReadonlySet<string>): Promise<Result> {
    const collector = new Collector(STATEMENT_REQUESTS, true, watched);
    this.statementTo(collector, sql, parameters);
    return collector.done;
  }

  /** Sends the messages of one statement, answered to `sink` (its RowDescription names the result's columns). */
  statementTo(sink: ReplySink, sql: string, parameters: TextParameter[] = []): void {
    this.send(close('S', INTERNAL_NAME), sink);
    this.send(parse(INTERNAL_NAME, sql), sink);
    this.send(close('P', INTERNAL_NAME), sink);
    this.send(bind(INTERNAL_NAME, INTERNAL_NAME, parameters), sink);
    this.send(describe('P', INTERNAL_NAME), sink);
    this.send(execute(INTERNAL_NAME), sink);
  }

  /** Binds a (client's) prepared statement to a portal of the proxy's with the parameters of a client Bind. */
  bindTo(sink: ReplySink, portal: string, statement: string, bindRest: Buffer): void {
    this.send(close('P', portal), sink);
    this.send(rebind(portal, statement, bindRest), sink);
  }

  /** Ends a batch: errors before it stop being skipped; resolves with the transaction status. */
  async sync(): Promise<TransactionStatus> {
    const collector = new Collector(1);
    this.send(sync(), collector);
    const result = await collector.done;
    return result.status ?? 'I';
  }

  send(frame: Buffer | readonly Buffer[], sink: ReplySink): void {
    this.io.sendUpstream(frame, sink);
  }

  /** Asks the server to send what it has answered so far, without ending the batch. */
  flush(): void {
    this.io.sendUpstream(flush());
  }
}

/** The rows of a text-format result as records keyed by column name (SQL NULL as null). */
export function records(result: Result): Array<Record<string, string | null>> {
  return [...eachRecord(result)];
}

/**
 * The rows as records, one at a time, for a caller that turns the event loop between them: decoded all at once, the
 * 300,000 calls a statement collected held every session for over a second (review K3).
 */
export function* eachRecord(result: Result): Generator<Record<string, string | null>> {
  const names = (result.fields ?? []).map((field) => field.name);
  for (const row of result.rows) yield Object.fromEntries(names.map((name, i) => [name, row[i]?.toString('utf8') ?? null]));
}
