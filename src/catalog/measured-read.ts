// A read of rows any role may write, of any size and number, into the catalog: the proxy parses what it reads on the
// event loop every session shares, so the server measures the rows first and sends their text only when all of them
// together are within MAX_READ_BYTES; past that the read fails with 54000, the text never sent, nor more than one row.

import type { CallContext } from '../../functions/declaration.js';
import { PgError } from '../../proxy/pg-error.js';

/** The most one read takes: what a call's arguments may take (--max-argument-bytes' default). */
export const MAX_READ_BYTES = 32 * 1024 * 1024;
/** What each row counts besides its measured columns: its other columns, and the work of reading a row. */
const ROW_BYTES = 1024;

export interface MeasuredRead {
  /** The rows: a query (it may end in ORDER BY and LIMIT) with every column named below. */
  rows: string;
  /** The columns sent, in their order. */
  columns: string[];
  /** Those of them measured (text): the others are small by their type (ids, numbers, timestamps), sent as they are. */
  measured: string[];
  /** The result's ORDER BY, over the rows' columns. */
  order?: string;
}

/** The rows, their measured columns' text included; a read past the bound fails with `tooBig` (54000). */
export async function measuredRead(
  context: CallContext,
  read: MeasuredRead,
  parameters: Array<string | null>,
  tooBig: { message: string; hint: string },
): Promise<Array<Record<string, string | null>>> {
  const within = `read_bytes OPERATOR(pg_catalog.<=) ${MAX_READ_BYTES}`;
  const size = read.measured.map((column) => `coalesce(pg_catalog.octet_length(${column}), 0)`).join(' OPERATOR(pg_catalog.+) ');
  const rows = await context.query(
    `SELECT ${read.columns.map((column) => (read.measured.includes(column) ? `CASE WHEN ${within} THEN ${column} END AS ${column}` : column)).join(', ')}, read_bytes
       FROM (SELECT *, pg_catalog.sum(${size} OPERATOR(pg_catalog.+) ${ROW_BYTES}) OVER () AS read_bytes, pg_catalog.row_number() OVER () AS read_row
               FROM (${read.rows}) AS found) AS measured
      -- Of rows too big, one tells so: many small ones would be sent, each empty, to be let go.
      WHERE ${within} OR read_row OPERATOR(pg_catalog.=) 1
      ${read.order ? `ORDER BY ${read.order}` : ''}`,
    parameters,
  );
  if (rows.length > 0 && Number(rows[0]!.read_bytes) > MAX_READ_BYTES) throw new PgError('54000', tooBig.message, { hint: tooBig.hint });
  return rows.map(({ read_bytes: _bytes, ...row }) => row);
}
