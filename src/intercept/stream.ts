// The fast path of a statement that only passes one set-returning call's rows through (SELECT columns FROM f(…)):
// rows go to the client as the function produces them, encoded here in the formats the client asked for.

import type { FieldDescription } from '../../proxy/backend-read.js';
import { commandComplete, dataRow, rowDescription } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import type { ResultRow } from '../../functions/declaration.js';
import { findFunction } from '../../functions/registry.js';
import { reportedType } from '../../functions/vector-type.js';
import type { StreamShape } from './analyze.js';
import { columnFormat, encodeValue } from './values.js';

/** Sends the rows, then the CommandComplete; a simple Query's client first gets the RowDescription. */
export async function streamSetRows(
  io: SessionIo,
  rows: AsyncIterable<ResultRow>,
  shape: StreamShape,
  target: { clientPortal?: unknown; resultFormats: number[] },
  fields: FieldDescription[] | undefined,
): Promise<void> {
  const { result } = findFunction(shape.function)!;
  if (result.kind !== 'table') throw new Error(`${shape.function} is not set-returning`);
  const columns = shape.columns.map((index) => result.columns[index]!);
  if (!target.clientPortal) io.writeToClient(rowDescription(fields ?? []));
  let count = 0;
  for await (const row of rows) {
    io.writeToClient(dataRow(columns.map((column, k) => encodeValue(reportedType(column.type, fields?.[k]?.typeOid), row[column.name], columnFormat(target.resultFormats, k)))));
    count++;
  }
  io.writeToClient(commandComplete(`SELECT ${count}`));
}
