// The rows in which the upstream hands the proxy its calls' arguments, read under the statement's limits
// (argument-limits.ts). A row too small to pass one is taken whole, as any result's; a bigger one is read value by
// value as it comes (proxy/data-row-reader.ts), so that a value over a cap is refused at its length, before its
// bytes are in. The result then fails with 54000, the rest of it let go unread: the requests after it are answered
// as ever, so the session stays in step, and the caller raises the error through the upstream (error-substitute.ts),
// which fails the transaction as PostgreSQL would.

import { DataRowReader } from '../../proxy/data-row-reader.js';
import { LEFT_UNREAD, type BodyReader } from '../../proxy/framer.js';
import type { PgError } from '../../proxy/pg-error.js';
import { BackendMessage } from '../../proxy/protocol.js';
import { callArgumentsTooLarge, type HeldArguments } from './argument-limits.js';
import { Collector } from './upstream-requests.js';

/** The call whose arguments a row's column holds, told the values of the row before it; undefined for other columns. */
export type ArgumentColumns = (column: number, before: ReadonlyArray<Buffer | null>) => string | undefined;

/** Counted before a DataRow's values: its length field and its column count. */
const ROW_HEADER_BYTES = 6;
const VALUE_HEADER_BYTES = 4;
/** The largest row taken whole, as one frame: about what one read of the upstream brings (proxy/slab-reads.ts). */
const WHOLE_ROW_BYTES = 64 * 1024;

export class ArgumentCollector extends Collector {
  /**
   * `notices`: where the notices raised while the arguments are computed go (the client's, when its statement computes
   * them once, as PostgreSQL would show them); without it they are dropped.
   */
  constructor(
    remaining: number,
    private readonly held: HeldArguments,
    private readonly columns: ArgumentColumns,
    private readonly notices?: (frame: Buffer) => void,
  ) {
    super(remaining);
  }

  override dataRowReader(length: number): BodyReader | undefined {
    if (this.result.refused) return LEFT_UNREAD;
    // No value of a row within a call's cap can pass it. A bigger row than a read is read value by value all the same:
    // each value is then its own buffer, copied as it comes, and kept (a column passed on) or let go (a call's
    // arguments, once parsed) without a copy of the whole row on the event loop at its end.
    if (length <= WHOLE_ROW_BYTES && length <= this.held.limits.call && this.held.refusal(length) === undefined) return undefined;
    let read = ROW_HEADER_BYTES;
    const check = (column: number, valueLength: number, before: ReadonlyArray<Buffer | null>): boolean => {
      const call = this.columns(column, before);
      if (call !== undefined && valueLength > this.held.limits.call) return this.refuse(callArgumentsTooLarge(call, this.held.limits));
      read += VALUE_HEADER_BYTES + Math.max(0, valueLength);
      const refusal = this.held.refusal(read);
      return refusal === undefined || this.refuse(refusal);
    };
    return new DataRowReader(check, (values) => {
      if (values === undefined) return;
      this.held.take(length);
      this.result.rows.push(values);
    });
  }

  override message(type: number, frame: Buffer): void {
    if (type === BackendMessage.DataRow) this.held.take(frame.length - 1);
    // A whole frame, of at most a few hundred kB (proxy/backend-read.ts's CutReportReader).
    else if (type === BackendMessage.NoticeResponse) this.notices?.(frame);
    super.message(type, frame);
  }

  private refuse(error: PgError): false {
    this.result.refused = error;
    return false;
  }
}
