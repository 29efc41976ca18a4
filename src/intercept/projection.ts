// Runs a statement whose calls are whole output columns (see projection-plan.ts): PostgreSQL returns each row with
// the calls' arguments, a batch at a time from a portal (or, for a FETCH, from a cursor: cursors.ts); the proxy
// computes the calls concurrently and sends each row as soon as it and every row before it are complete. Memory
// stays flat: no more rows are fetched while enough are waiting for their calls, and a row's answers are let go once
// it is sent (calls-in-flight.ts).

import { createHash, type Hash } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import type { FieldDescription } from '../../proxy/backend-read.js';
import { commandComplete, dataRowLength, dataRowPieces, rowDescription } from '../../proxy/backend-write.js';
import { readSectionParameter } from '../../proxy/frontend-read.js';
import { bindParameterPieces, close, describe, execute, parse } from '../../proxy/frontend-write.js';
import { keptBytes } from '../../proxy/framer.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { BackendMessage } from '../../proxy/protocol.js';
import { EventLoopTurns } from '../event-loop-turns.js';
import type { ProjectedCalls, ProjectionPlan } from './projection-plan.js';
import { findFunction } from '../../functions/registry.js';
import { reportedType, VECTOR } from '../../functions/vector-type.js';
import type { HeldArguments } from './argument-limits.js';
import { parsedArgumentBytes } from './argument-bytes.js';
import { ArgumentCollector, type ArgumentColumns } from './argument-rows.js';
import { asPgError, check, eitherSignal, firstCause, type Call, type CallRunner, type Progress } from './calls.js';
import { CallsInFlight } from './calls-in-flight.js';
import { ClientRelay, Collector, type Result, type UpstreamRequests } from './upstream-requests.js';
import { columnFormat, TEXT_FORMAT, encodeValue } from './values.js';
import { internalName } from './internal-names.js';

const STATEMENT = internalName('projection');
const PORTAL = STATEMENT;
/** Rows of arguments asked for at a time, at most. */
export const BATCH_ROWS = 256;
/** Rows waiting for their calls, per call allowed at once, before the next batch is fetched. */
const ROWS_AHEAD_PER_CALL = 4;
/** Bytes of a call's arguments hashed between turns of the event loop: some milliseconds' worth. */
const HASHED_A_TURN = 1024 * 1024;

export interface ProjectionTarget {
  /** The client's prepared statement (extended protocol), whose parameter types the rewritten one takes. */
  clientStatement?: string;
  /**
   * The parameter types the client's Parse gave (0: PostgreSQL infers it). The rewritten statement infers the others
   * as the client's did, each argument standing cast to its declared type, so they need not be asked first.
   */
  parameterTypes?: number[];
  /** The client's Bind from its parameter format codes up to its result formats. */
  parameterSection: Buffer;
  resultFormats: number[];
  /** The original statement, parsed here to describe it to a simple Query's client. */
  describeSql?: string;
}

/** What a projection's rows are: the plan, the statement's own columns, and the client's result formats. */
export interface ProjectedShape {
  plan: ProjectedCalls;
  /** PostgreSQL's word on each call's result type. */
  fields: FieldDescription[];
  resultFormats: number[];
}

/** A batch of rows with the calls' arguments; `last` once no more rows follow. */
export interface ArgumentRows {
  rows: Array<Array<Buffer | null>>;
  last: boolean;
}

interface PendingRow {
  values: Array<Buffer | null>;
  /** Its length as a DataRow, held against the statement's limits until it is sent. */
  bytes: number;
  /** The keys of the row's calls, let go of once it is sent. */
  keys: string[];
  results: Array<Promise<unknown>>;
}

/**
 * Runs the statement; resolves false when PostgreSQL refused it (its error has gone to the client). Describing the
 * statement, preparing the rewritten one, the session's settings and the first batch of rows travel in one round
 * trip: a refusal makes the server skip what follows it, and the client sees only PostgreSQL's error. A one-row
 * statement (projection-plan.ts) has its settings asked, and the rows of the models its calls name read ahead
 * (reads-ahead.ts), in that round trip too; with its one row whole before its calls, a cap checks them then, as
 * the passes would have.
 */
export async function runProjection(
  io: SessionIo,
  requests: UpstreamRequests,
  calls: CallRunner,
  signal: AbortSignal,
  plan: ProjectionPlan,
  target: ProjectionTarget,
  progress: Progress,
): Promise<boolean> {
  if (plan.oneRow) calls.askSessionState();
  const described = describeStatement(io, requests, target);
  let { parameterTypes } = target;
  if (target.describeSql !== undefined) parameterTypes = [];
  else if (parameterTypes === undefined || takesVector(plan)) {
    // A vector argument is cast to text (projection-plan.ts): only PostgreSQL can say what its parameter was.
    requests.flush();
    parameterTypes = (await described)!.parameterTypes ?? [];
  }
  const prepared = new Collector(4);
  for (const message of [close('S', STATEMENT), parse(STATEMENT, plan.rewrittenSql, parameterTypes), close('P', PORTAL), bindParameterPieces(PORTAL, STATEMENT, target.parameterSection, argumentFormats(plan, target.resultFormats))]) {
    requests.send(message, prepared);
  }
  const shape: ProjectedShape = { plan, fields: [], resultFormats: target.resultFormats };
  let refused = false;
  let first = true;
  const describeRows = (): void => {
    if (target.describeSql !== undefined) io.writeToClient(rowDescription(shape.fields));
  };
  const nextBatch = async (rows: number, held: HeldArguments): Promise<ArgumentRows> => {
    const fetched = fetch(io, requests, plan.oneRow ? 0 : rows, held, projectedArguments(plan));
    if (first && plan.oneRow) readModelsAhead(calls, plan, target.parameterSection);
    requests.flush();
    if (first) {
      first = false;
      const statement = await described;
      if (statement === undefined) {
        refused = true;
        return { rows: [], last: true };
      }
      shape.fields = statement.fields ?? [];
      // Under a cap, nothing of the rows goes to the client before the calls are checked, as with the passes.
      const capped = plan.oneRow && (await calls.capped());
      if (!capped) describeRows();
      check(await prepared.done);
      if (capped) {
        await calls.checkBudget(await callsIn(plan, check(await fetched).rows), signal);
        describeRows();
      }
    }
    const batch = check(await fetched);
    return { rows: batch.rows, last: batch.tag !== undefined };
  };
  const sent = await sendProjectedRows(io, calls, signal, shape, nextBatch, progress);
  if (refused) return false;
  io.writeToClient(commandComplete(`SELECT ${sent}`));
  return true;
}

/**
 * Asks PostgreSQL to describe the statement, without flushing: a simple Query's is parsed first, its error (if it
 * refuses it) relayed to the client as PostgreSQL's own, and then the answer is undefined.
 */
function describeStatement(io: SessionIo, requests: UpstreamRequests, target: ProjectionTarget): Promise<Result | undefined> {
  const description = new Collector(1);
  if (target.describeSql === undefined) {
    requests.send(describe('S', target.clientStatement!), description);
    return description.done.then(check);
  }
  const parsed = new ClientRelay(io, new Set([BackendMessage.ParseComplete, BackendMessage.CloseComplete]), 2);
  requests.send(close('S', STATEMENT), parsed);
  requests.send(parse(STATEMENT, target.describeSql), parsed);
  requests.send(describe('S', STATEMENT), description);
  return parsed.done.then(async (errored) => (errored ? undefined : check(await description.done)));
}

/** Whether a call of the plan takes a vector argument. */
function takesVector(plan: ProjectedCalls): boolean {
  return plan.calls.some((call) => findFunction(call.function)!.arguments.some((argument) => argument.type === VECTOR));
}

/** The formats to ask the upstream for: text for the calls' arguments (JSON), the client's for the other columns. */
export function argumentFormats(plan: ProjectedCalls, resultFormats: number[]): number[] {
  const callColumns = new Set(plan.calls.map((call) => call.column));
  return Array.from({ length: plan.columns }, (_, column) => (callColumns.has(column) ? TEXT_FORMAT : columnFormat(resultFormats, column)));
}

/**
 * Computes the calls of the rows `nextBatch` gives, concurrently, and sends each row as soon as it and every row
 * before it are complete; resolves with the number of rows sent, or rejects with the first failure once every call
 * has stopped. Asks for the next batch only while few enough rows are waiting for their calls, and for as many rows
 * as fit beside them in the statement's limits on arguments (argument-limits.ts), which `nextBatch` reads them under.
 */
export async function sendProjectedRows(
  io: SessionIo,
  calls: CallRunner,
  signal: AbortSignal,
  shape: ProjectedShape,
  nextBatch: (rows: number, held: HeldArguments) => Promise<ArgumentRows>,
  progress: Progress,
): Promise<number> {
  const { plan, resultFormats } = shape;
  const callColumns = new Map(plan.calls.map((call) => [call.column, call.function]));
  const stop = new AbortController();
  const run = calls.statement(eitherSignal(signal, stop.signal));
  let finished = false;
  let done = 0;
  let failure: unknown;
  const inFlight = new CallsInFlight(async (request) => {
    try {
      const value = await run(request);
      // The total is not known while rows are still coming.
      if ((await run.settings()).progress) progress(++done, finished ? inFlight.asked : Number.POSITIVE_INFINITY);
      return value;
    } catch (error) {
      failure = firstCause(failure, error);
      stop.abort();
      throw error;
    }
  }, run.concurrency);
  const waiting: PendingRow[] = [];
  const held = calls.heldArguments();
  // Each row's arguments are parsed (projectedCall): a batch of rows near their limits is seconds of parsing.
  const turns = new EventLoopTurns();
  let sent = 0;

  try {
    while (!finished || waiting.length > 0) {
      if (failure !== undefined) break;
      // With no row waiting none is held, and one row fits.
      const rows = !finished && waiting.length < run.concurrency * ROWS_AHEAD_PER_CALL ? held.rowsThatFit(BATCH_ROWS) : 0;
      if (rows > 0) {
        const batch = await nextBatch(rows, held);
        finished = batch.last;
        for (const values of batch.rows) {
          await turns.step();
          const pending: PendingRow = { values, bytes: dataRowLength(values), keys: [], results: [] };
          for (const [column, name] of callColumns) {
            const { key, call } = await projectedCall(values, column, name);
            pending.keys.push(key);
            pending.results.push(inFlight.result(key, call));
          }
          keepOtherColumns(values, callColumns);
          waiting.push(pending);
        }
        continue;
      }
      const row = waiting.shift()!;
      const values = [...row.values];
      const computed = await Promise.all(row.results);
      [...callColumns].forEach(([column, name], i) => {
        const { result } = findFunction(name)!;
        const type = result.kind === 'scalar' ? reportedType(result.type, shape.fields[column]?.typeOid) : 'jsonb';
        values[column] = encodeValue(type, computed[i], columnFormat(resultFormats, column));
      });
      for (const piece of dataRowPieces(values)) io.writeToClient(piece);
      for (const key of row.keys) inFlight.release(key);
      held.release(row.bytes);
      sent++;
    }
  } catch (error) {
    failure = firstCause(failure, error);
    stop.abort();
  }
  await inFlight.settled();
  // The rows not sent (a failure, a cancel) give their room back to the role.
  held.end();
  if (failure !== undefined) throw asPgError(failure, signal);
  return sent;
}

/**
 * Lets go of the calls' columns of a row, whose calls hold their arguments now and whose places get the answers:
 * the row's other values are copied out of the row's one buffer when it was read whole (argument-rows.ts), which
 * their slices would otherwise keep whole, arguments included, until the row is sent. A big row's values are each
 * a buffer of their own, kept as they are.
 */
function keepOtherColumns(values: Array<Buffer | null>, callColumns: ReadonlyMap<number, string>): void {
  values.forEach((value, column) => {
    if (callColumns.has(column)) values[column] = null;
    else if (value) values[column] = keptBytes(value);
  });
}

/** Which call's arguments a column of a projection's rows holds. */
export function projectedArguments(plan: ProjectedCalls): ArgumentColumns {
  const calls = new Map(plan.calls.map((call) => [call.column, call.function]));
  return (column) => calls.get(column);
}

/** The next batch of the portal's rows (0: all), read under `held`, unflushed: its tag is set once the last one is in. */
function fetch(io: SessionIo, requests: UpstreamRequests, maxRows: number, held: HeldArguments, columns: ArgumentColumns): Promise<Result> {
  const batch = new ArgumentCollector(1, held, columns, (notice) => io.writeToClient(notice));
  requests.send(execute(PORTAL, maxRows), batch);
  return batch.done;
}

/**
 * The call of function `name` whose arguments a row holds in `column` (as JSON), and the key it goes by: a digest of
 * them, since the rows in flight hold their calls' arguments already.
 */
async function projectedCall(values: Array<Buffer | null>, column: number, name: string): Promise<{ key: string; call: Call }> {
  const argumentsJson = values[column]!;
  const key = await digestWithTurns(createHash('sha256').update(name).update('\0'), argumentsJson);
  return { key, call: { function: name, arguments: parsedArgumentBytes(argumentsJson, name) as unknown[] } };
}

/** The digest of what `hash` has and then `bytes`, hashed a slice a turn of the event loop: 30 MB took 60 ms at once. */
async function digestWithTurns(hash: Hash, bytes: Buffer): Promise<string> {
  for (let at = 0; at < bytes.length; at += HASHED_A_TURN) {
    if (at > 0) await setImmediate();
    hash.update(bytes.subarray(at, at + HASHED_A_TURN));
  }
  return hash.digest('base64');
}

/** The calls of the rows, each once with how many times they make it, as a collect pass reports them. */
async function callsIn(plan: ProjectedCalls, rows: Array<Array<Buffer | null>>): Promise<Call[]> {
  const calls = new Map<string, Call & { occurrences: number }>();
  for (const values of rows) {
    for (const { column, function: name } of plan.calls) {
      const { key, call } = await projectedCall(values, column, name);
      const counted = calls.get(key);
      if (counted) counted.occurrences++;
      else calls.set(key, { ...call, occurrences: 1 });
    }
  }
  return [...calls.values()];
}

/**
 * Reads ahead the rows of the models a one-row statement's calls name with constants or text parameters; not for a
 * call a NULL parameter keeps from running.
 */
function readModelsAhead(calls: CallRunner, plan: ProjectedCalls, parameterSection: Buffer): void {
  for (const { model } of plan.calls) {
    if (!model || model.parameters.some((index) => readSectionParameter(parameterSection, index)?.value === null)) continue;
    const name = 'constant' in model ? model.constant : textParameter(readSectionParameter(parameterSection, model.parameter));
    if (name !== undefined) calls.readModelAhead(name);
  }
}

/** A parameter's text, unless it is sent in binary or holds a byte no text may hold. */
function textParameter(parameter: { format: number; value: Buffer | null } | undefined): string | undefined {
  if (parameter?.format !== 0 || !parameter.value || parameter.value.includes(0)) return undefined;
  return parameter.value.toString('utf8');
}
