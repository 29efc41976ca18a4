// The fast path of a statement that only passes one set-returning call's rows through (SELECT columns FROM f(…)):
// rows go to the client as the function produces them, encoded here in the formats the client asked for, and no
// faster than the client takes them: while its socket is full the next row is not asked for, so the model's answer
// waits in the sockets on the way (TCP back-pressure reaches the provider) rather than in the proxy's memory. Rows
// that come without a wait, to a socket that keeps taking them, leave the event loop a turn now and then.

import type { FieldDescription } from '../../proxy/backend-read.js';
import { commandComplete, dataRow, rowDescription } from '../../proxy/backend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import type { ResultRow } from '../../functions/declaration.js';
import { findFunction } from '../../functions/registry.js';
import { EventLoopTurns } from '../event-loop-turns.js';
import { reportedType } from '../../functions/vector-type.js';
import type { StreamShape } from './analyze.js';
import { columnFormat, encodeValue } from './values.js';

/**
 * Sends the rows, then the CommandComplete; a simple Query's client first gets the RowDescription. `signal` is the
 * statement's cancel, which ends a wait for the client at once (the rows then end with the cancel's error).
 */
export async function streamSetRows(
  io: SessionIo,
  rows: AsyncIterable<ResultRow>,
  shape: StreamShape,
  target: { clientPortal?: unknown; resultFormats: number[] },
  fields: FieldDescription[] | undefined,
  signal: AbortSignal,
): Promise<void> {
  const { result } = findFunction(shape.function)!;
  if (result.kind !== 'table') throw new Error(`${shape.function} is not set-returning`);
  const columns = shape.columns.map((index) => result.columns[index]!);
  if (!target.clientPortal) io.writeToClient(rowDescription(fields ?? []));
  let count = 0;
  const turns = new EventLoopTurns();
  for await (const row of rows) {
    const taken = io.writeToClient(dataRow(columns.map((column, k) => encodeValue(reportedType(column.type, fields?.[k]?.typeOid), row[column.name], columnFormat(target.resultFormats, k)))));
    count++;
    if (!taken) await drainedOrCancelled(io, signal);
    else await turns.step();
  }
  io.writeToClient(commandComplete(`SELECT ${count}`));
}

async function drainedOrCancelled(io: SessionIo, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort!: () => void;
  const cancelled = new Promise<void>((resolve) => signal.addEventListener('abort', (onAbort = () => resolve()), { once: true }));
  try {
    await Promise.race([io.clientDrained(), cancelled]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
