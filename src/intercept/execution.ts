// Runs a statement that calls LLM functions, in the client's session, with PostgreSQL's own semantics:
//
//   collect  In a savepoint, with pg_llm.phase = 'collect', the statement runs as the client wrote it; each stub
//            records a call it has no result for in a temp table (read before the savepoint is rolled back, never
//            in a NOTICE, which the server would log with its arguments) and returns NULL.
//   compute  The proxy computes those calls (concurrently) and stores the results in the session's temp table, a
//            bounded batch at a time as they come (result-batches.ts).
//            Calls nested in calls, or reached only once other calls have answered, show up in the next collect
//            pass; passes repeat until one reports nothing new.
//   final    With pg_llm.phase = 'final' the statement runs once more, for real, and its rows go to the client;
//            every stub now returns its result (one that finds none means the statement is not deterministic, and
//            it fails rather than write wrong data).
//
// Savepoints need a transaction block: when the client is not in one, the proxy opens it and closes it where
// PostgreSQL would have ended the implicit transaction (the end of the Query, or the client's Sync). The passes
// themselves are in passes.ts; this is the order they run in, and what the client sees of them.

import { setMaxListeners } from 'node:events';
import { commandComplete, noticeResponse, portalSuspended, readyForQuery } from '../../proxy/backend-write.js';
import { bind, close, describe, execute, parse } from '../../proxy/frontend-write.js';
import type { SessionIo } from '../../proxy/interceptor.js';
import { PgError } from '../../proxy/pg-error.js';
import { BackendMessage, type TransactionStatus } from '../../proxy/protocol.js';
import type { ReplySink } from '../../proxy/replies-owed.js';
import { estimateNotice } from '../cost/estimate.js';
import type { StatementPlan } from './analyze.js';
import { canceled, check, pgErrorFrom, type Call, type CallRunner } from './calls.js';
import type { CursorMotion, ForwardMotion } from './cursor-plan.js';
import { Cursors, DECLARE_STATEMENT, CURSOR_QUERY, fetchComplete, forwardOnly, type FastCursor } from './cursors.js';
import { errorPositionsShifted } from './error-positions.js';
import { HeldAnswer } from './held-answer.js';
import { raiseThroughUpstream } from './error-substitute.js';
import { runExtension } from './extension.js';
import { NotInstalled } from './not-installed.js';
import type { HeldArguments } from './argument-limits.js';
import { afterStored, EXTENDED_ONLY, FINAL_PORTAL, Passes, queryTarget, type Collected, type Target } from './passes.js';
import { progressReporter } from './progress.js';
import type { ProjectionPlan } from './projection-plan.js';
import { runProjection, type ProjectionTarget } from './projection.js';
import { ReadyHeldBack } from './ready-held-back.js';
import { ResultBatches } from './result-batches.js';
import { streamSetRows } from './stream.js';
import { inClientBlockAfter } from './transaction-control.js';
import { ClientRelay, Collector, STATEMENT_REQUESTS, type Result, type UpstreamRequests } from './upstream-requests.js';
import { internalName } from './internal-names.js';

const ALREADY_IN_TRANSACTION = '25001';
const WATCHED = new Set([ALREADY_IN_TRANSACTION]);
const NO_ACTIVE_TRANSACTION = '25P01';
const CANCELED = '57014';
/** Calls nested (or depending on each other) deeper than this are refused rather than run pass after pass. */
const MAX_COLLECT_PASSES = 8;
const QUERY_STATEMENT = internalName('query');
const ERRORS_ONLY = new Set<number>(Object.values(BackendMessage).filter((type) => type !== BackendMessage.ErrorResponse));
const EXTENDED_ONLY_AND_NOTICES = new Set<number>([...EXTENDED_ONLY, BackendMessage.NoticeResponse]);

type CallPlan = StatementPlan & { kind: 'calls' };
type DeclarePlan = StatementPlan & { kind: 'declare' };
type FetchPlan = StatementPlan & { kind: 'fetch' };
type ClosePlan = StatementPlan & { kind: 'close' };
type TransactionPlan = StatementPlan & { kind: 'transaction' };

/**
 * A statement whose passes ran: its execution id, and whether the proxy answered it whole itself, the server's portal
 * never run (projection.ts, stream.ts): executed again, such a portal has no rows left.
 */
export interface Ran {
  execution: number;
  answeredWhole: boolean;
}

/** The client's portal an extended-protocol Execute runs. */
export interface ClientPortal {
  name: string;
  maxRows: number;
  resultFormats: number[];
}

export class Executor {
  /** A transaction block the proxy opened for the client, to close where the implicit transaction would end. */
  ownsBlock = false;
  readonly cursors: Cursors;
  private nextExecution = 1;
  private abort = statementAbort();
  /** The client cancelled the statement taken up now: the model calls it starts later stop at once too. */
  private cancelRequested = false;
  private computing = false;
  /** The proxy's BEGIN for a Query, until its answer tells whether the block was the client's already (beginBlock). */
  private beginning: Promise<void> | undefined;
  /** While a Query runs: whether its block is failed, which the last ReadyForQuery stops telling once a ROLLBACK ran. */
  private queryBlockFailed: boolean | undefined;
  private readonly passes: Passes;
  /** The answer of the statement that ran last, held until the rows its calls wrote are in (held-answer.ts). */
  private held: HeldAnswer | undefined;

  private readonly io: SessionIo;
  /** Where the statement of a Query running now starts in the Query, in characters (error-positions.ts). */
  private statementOffset = 0;

  constructor(
    io: SessionIo,
    private readonly requests: UpstreamRequests,
    private readonly calls: CallRunner,
  ) {
    this.io = errorPositionsShifted(io, () => this.statementOffset);
    this.passes = new Passes(this.io, requests);
    this.cursors = new Cursors(this.io, requests, () => this.queryBlockFailed ?? io.blockFailed);
  }

  /** Stops the model calls of the statement running now; true when there were some. */
  cancel(): boolean {
    this.abort.abort();
    return this.computing;
  }

  /** The client cancelled the statement running now, before it may have started its model calls. */
  cancelBeforeCalls(): void {
    this.cancelRequested = true;
  }

  /** A client's Query or Execute is taken up, `cancelled` already while it waited (cancel-targets.ts). */
  statementArrived(cancelled: boolean): void {
    this.cancelRequested = cancelled;
  }

  /** A statement starts: its model calls stop together when it is cancelled, and spend under its own caps. */
  private statementAbort(): AbortController {
    this.calls.beginStatement();
    const controller = statementAbort();
    if (this.cancelRequested) controller.abort();
    return controller;
  }

  /**
   * Runs a simple Query's statements (some of them intercepted) and answers it, ReadyForQuery included; false when
   * one failed. Outside a block of the client's, the proxy's block stands in for PostgreSQL's implicit one around
   * the statements of a Query of several (transaction-control.ts), and holds the savepoints of a statement's passes.
   */
  async runQuery(plans: StatementPlan[], offsets: number[], catalogInstalled: () => Promise<boolean>): Promise<boolean> {
    this.abort = this.statementAbort();
    // PostgreSQL's simple Query drops the unnamed statement and portal first (exec_simple_query); the proxy's own
    // statements run this one, so it drops the client's itself.
    const dropped = new Collector(2);
    this.requests.send(close('S', ''), dropped);
    this.requests.send(close('P', ''), dropped);
    let clientBlock = this.io.transactionStatus !== 'I';
    let ok = true;
    // A statement's passes need a block for their savepoints; a transaction statement acts on the block it finds.
    const needsBlock = (plan: StatementPlan) => (plans.length > 1 ? plan.kind !== 'transaction' : plan.kind === 'calls' || plan.kind === 'extension');
    // Taken over in a failed block only when its first statement leaves the failure (engine.ts).
    this.queryBlockFailed = this.io.blockFailed;
    for (const [index, plan] of plans.entries()) {
      this.calls.beginStatement();
      if (!clientBlock && needsBlock(plan)) this.beginBlock();
      this.statementOffset = offsets[index]!;
      ok = await this.runQueryStatement(plan, catalogInstalled, plans.length > 1);
      // The last statement's answer waits for the Query's end, which its calls' writes travel with.
      if (ok && index < plans.length - 1) ok = await this.settleHeld();
      if (!ok) break;
      this.queryBlockFailed = false;
      if (plan.kind === 'transaction') clientBlock = inClientBlockAfter(plan.control, clientBlock);
    }
    this.statementOffset = 0;
    this.queryBlockFailed = undefined;
    const { status, settled } = await this.end();
    this.io.writeToClient(readyForQuery(status));
    return ok && settled;
  }

  /**
   * Ends a Query, or an extended-protocol batch at its Sync. Sent together: the Sync that ends any skipping, the
   * COMMIT of the proxy's block and the Sync after it, and before them the writes of a held answer, which then goes
   * to the client (an error of the COMMIT after it); `settled` is false when one of those writes failed.
   */
  private async end(): Promise<{ status: TransactionStatus; settled: boolean }> {
    const { held } = this;
    this.held = undefined;
    const synced = this.requests.sync();
    const closing = (await this.ownsOpenBlock()) ? this.closeOwnBlock(true, held?.io) : undefined;
    const status = closing ? await this.requests.sync() : await synced;
    return { status, settled: held ? await held.settle() : true };
  }

  /** The held answer, once its writes are in (flushed now); false when one failed (its error sent). */
  private async settleHeld(): Promise<boolean> {
    const { held } = this;
    if (!held) return true;
    this.held = undefined;
    this.requests.flush();
    return held.settle();
  }

  /**
   * Runs an extended-protocol Execute of a portal bound to an intercepted statement. `synced`: the client's Sync
   * follows, and is answered here when the statement's answer is held (held-answer.ts), so that its writes travel
   * with the Sync; resolves with whether it was.
   */
  async runPortal(plan: CallPlan, target: Target, syncFollows: boolean): Promise<{ ran: Ran | undefined; synced: boolean }> {
    this.abort = this.statementAbort();
    // Not awaited first: the BEGIN travels with the statement's first requests, and is answered before them.
    const begun = this.beginIfIdle();
    begun.catch(() => undefined);
    let ran: Ran | undefined;
    try {
      ran = await this.runCalls(plan, target);
    } catch (error) {
      await this.fail(error);
    } finally {
      await begun;
    }
    if (!this.held) return { ran, synced: false };
    if (!syncFollows) return { ran: (await this.settleHeld()) ? ran : undefined, synced: false };
    const { status, settled } = await this.end();
    this.io.writeToClient(readyForQuery(status));
    return { ran: settled ? ran : undefined, synced: true };
  }

  /** An extended-protocol Execute of a statement the proxy runs itself (CREATE EXTENSION pg_llm…). */
  async runOwn(plan: StatementPlan & { kind: 'extension' }): Promise<void> {
    this.abort = this.statementAbort();
    await this.beginIfIdle();
    try {
      await runExtension(this.io, this.requests, plan, () => this.calls.masterKeys());
    } catch (error) {
      await this.fail(error);
    }
  }

  /** An extended-protocol Execute of a DECLARE of a cursor over LLM calls (cursors.ts). */
  async runDeclarePortal(plan: DeclarePlan, target: Target): Promise<void> {
    this.abort = this.statementAbort();
    try {
      await this.declare(plan, target);
    } catch (error) {
      await this.fail(error);
    }
  }

  /**
   * An extended-protocol Execute of a FETCH or MOVE: the proxy's when its cursor is one over LLM calls, else
   * PostgreSQL's. A FETCH from a fast cursor resolves with what it has left to read for the portal's next Execute
   * (`left`: what the previous one left, once the cursor was confirmed for it).
   */
  async runFetchPortal(frame: Buffer, motion: CursorMotion, portal: ClientPortal, left: ForwardMotion | undefined): Promise<ForwardMotion | undefined> {
    this.abort = this.statementAbort();
    try {
      const cursor = left ? this.cursors.get(motion.cursor) : await this.cursors.toRead(motion.cursor);
      if (!cursor) {
        this.io.sendUpstream(frame);
        return undefined;
      }
      if (cursor.kind === 'passes') {
        this.passes.resume(cursor.execution, portal.name, portal.maxRows);
        return undefined;
      }
      const forward = left ?? forwardOnly(cursor, motion);
      if (motion.move) {
        await this.relayStatement(this.cursors.moveSql(cursor, forward));
        return undefined;
      }
      const sent = await this.fetchRows(cursor, forward, portal.resultFormats, portal.maxRows);
      if (portal.maxRows > 0 && sent === portal.maxRows) {
        this.io.writeToClient(portalSuspended());
        return { skip: 0, count: forward.count === null ? null : forward.count - sent };
      }
      this.io.writeToClient(fetchComplete(sent));
      // Executed again, a finished FETCH sends no more rows.
      return { skip: 0, count: 0 };
    } catch (error) {
      await this.fail(error);
      return undefined;
    }
  }

  /** An extended-protocol Execute of a CLOSE, while the session has cursors over LLM calls. */
  async runClosePortal(frame: Buffer, plan: ClosePlan): Promise<void> {
    this.abort = this.statementAbort();
    try {
      await this.close(plan, () => {
        const relay = new ClientRelay(this.io, new Set(), 1);
        this.io.sendUpstream(frame, relay);
        this.requests.flush();
        return relay.done.then((errored) => !errored);
      });
    } catch (error) {
      await this.fail(error);
    }
  }

  /** Answers a simple Query with an error of the proxy's, as PostgreSQL answers a statement it refuses. */
  async refuseQuery(error: PgError): Promise<void> {
    await this.fail(error);
    this.io.writeToClient(readyForQuery(await this.requests.sync()));
  }

  /** Answers a client's message with an error of the proxy's, failing its transaction as PostgreSQL would. */
  async reject(error: PgError): Promise<void> {
    await this.fail(error);
  }

  /** An Execute of a portal the proxy answered whole: as PostgreSQL's SELECT portal run to its end, it has no rows left. */
  answerEndedPortal(): void {
    this.io.writeToClient(commandComplete('SELECT 0'));
  }

  /** Executes more rows of a portal whose final pass was suspended by a row limit. */
  resumePortal(execution: number, portal: string, maxRows: number): void {
    this.passes.resume(execution, portal, maxRows);
  }

  /** The client's Sync, when the proxy opened the block: ends it as PostgreSQL ends an implicit transaction. */
  async syncOwnBlock(): Promise<void> {
    this.io.writeToClient(readyForQuery((await this.end()).status));
  }

  /**
   * A client's Query or FunctionCall the server runs as it is, while the proxy's block stands in for the implicit
   * transaction of the extended-protocol messages before it: PostgreSQL runs it in that transaction and ends the
   * transaction with it, committed, or rolled back after its error; so the proxy's block ends after it, and the client
   * gets the ReadyForQuery of then. `relay` takes the rest of its answer. (A Query with a transaction statement in it
   * is runQuery's, which acts on the block as PostgreSQL on its implicit one.)
   */
  async relayEndingOwnBlock(frame: Buffer, relay: ReplySink): Promise<void> {
    const answer = new ReadyHeldBack(relay);
    this.io.sendUpstream(frame, answer);
    await this.endOwnBlockAfter(answer);
  }

  /**
   * Ends the proxy's block as a COMMIT (`commit`), or a ROLLBACK or an error, ends PostgreSQL's implicit one
   * (client-block-statements.ts); a COMMIT that fails is the client's error.
   */
  async endOwnBlock(commit: boolean): Promise<void> {
    await this.closeOwnBlock(commit);
  }

  /** A BEGIN of the client's that the server ran as it came made the proxy's block the client's (client-begin-watch.ts). */
  handOverBlock(): void {
    this.ownsBlock = false;
  }

  /** Ends the block the proxy opened once the message whose answer `answer` holds back has run in it. */
  async endOwnBlockAfter(answer: ReadyHeldBack): Promise<void> {
    const status = await answer.status;
    // Skipped after an earlier error, it leaves the block to the client's Sync.
    if (status === undefined) return;
    // A BEGIN of the client's in it made the block the client's (handOverBlock): it stays open then.
    if (status !== 'I' && this.ownsBlock) return this.syncOwnBlock();
    this.ownsBlock = false;
    this.io.writeToClient(readyForQuery(status));
  }

  /**
   * `catalogInstalled` is asked only of a statement that needs it, once the statements before it have run; `several`:
   * the Query has more statements than this one, which PostgreSQL runs in an implicit block.
   */
  private async runQueryStatement(plan: StatementPlan, catalogInstalled: () => Promise<boolean>, several: boolean): Promise<boolean> {
    try {
      this.stopIfCancelled();
      switch (plan.kind) {
        case 'plain':
          return await this.relayStatement(plan.sql);
        case 'transaction':
          return await this.runTransactionStatement(plan, several);
        case 'extension':
          await runExtension(this.io, this.requests, plan, () => this.calls.masterKeys());
          return true;
        case 'refused':
          throw refusal(plan);
        case 'declare':
          if (!(await catalogInstalled())) return await this.relayStatement(plan.sql, new NotInstalled(this.io, plan.extension, EXTENDED_ONLY));
          return await this.declare(plan, queryTarget(DECLARE_STATEMENT));
        case 'fetch':
          return await this.fetchQuery(plan);
        case 'close':
          return await this.close(plan, () => this.relayStatement(plan.sql));
        case 'calls': {
          const installed = await catalogInstalled();
          // Under a cap the calls are estimated first, which the passes do: a projection makes them as rows come,
          // but for a one-row statement's, which it has all before they run.
          if (plan.projection && installed && (plan.projection.oneRow || !(await this.calls.capped()))) {
            return await this.project(plan.projection, { ...queryTarget(QUERY_STATEMENT), describeSql: plan.sql });
          }
          // Without the catalog there are no passes to run: PostgreSQL runs it as it is (or says why it cannot).
          if (!installed) return await this.relayStatement(plan.sql, new NotInstalled(this.io, plan.extension, EXTENDED_ONLY));
          const parsed = new ClientRelay(this.io, EXTENDED_ONLY, 2);
          this.requests.send(close('S', QUERY_STATEMENT), parsed);
          this.requests.send(parse(QUERY_STATEMENT, plan.sql), parsed);
          this.requests.flush();
          if (await parsed.done) return false;
          return (await this.runCalls(plan, queryTarget(QUERY_STATEMENT))) !== undefined;
        }
      }
    } catch (error) {
      await this.fail(error);
      return false;
    }
  }

  /**
   * The fast path of calls that are whole output columns; false when PostgreSQL refused the statement. A one-row
   * statement's calls write without waiting, and its answer is held until the writes are in (held-answer.ts).
   */
  private async project(plan: ProjectionPlan, target: ProjectionTarget): Promise<boolean> {
    // What the statement reaches besides its calls is judged as the passes' is, before any of it runs: a call that
    // opens a held secret, or reads a key the session set, is then refused (calls.ts) where it reaches an untrusted
    // role's code (review X1: this path was not judged).
    if (this.calls.holdsSecrets) await this.calls.judgeReach(plan.rewrittenSql, this.abort.signal);
    if (!plan.oneRow) return this.whileComputing(() => runProjection(this.io, this.requests, this.calls, this.abort.signal, plan, target, progressReporter(this.io)));
    const held = new HeldAnswer(this.io, this.calls.deferWrites());
    try {
      const ok = await this.whileComputing(() => runProjection(held.io, this.requests, this.calls, this.abort.signal, plan, target, progressReporter(held.io)));
      if (ok) this.held = held;
      else held.release();
      return ok;
    } catch (error) {
      held.release();
      // A write that failed came before what failed after it (skipped by the server, or refused in the failed block),
      // as its call would have: its error is the statement's.
      this.requests.flush();
      const failure = await held.writes.failure();
      throw failure ? pgErrorFrom(failure) : error;
    }
  }

  /** DECLARE of a cursor over LLM calls (cursors.ts); false when it failed (the client has its error). */
  private async declare(plan: DeclarePlan, target: Target): Promise<boolean> {
    this.stopIfCancelled();
    const { cursor } = plan;
    await this.cursors.makeRoom();
    const described = await this.cursors.describeQuery(plan, target);
    if (!described) return false;
    await this.cursors.claimName(cursor.name);
    if (cursor.projection) return this.cursors.declareFast(cursor, described, target.parameterSection);
    const calls: CallPlan = { kind: 'calls', sql: cursor.query, callSites: plan.callSites, extension: plan.extension, stream: undefined, projection: undefined, explained: undefined };
    let execution: number | undefined;
    try {
      execution = (await this.runCalls(calls, { ...target, statement: CURSOR_QUERY, clientPortal: undefined }, target))?.execution;
    } catch (error) {
      // The passes' savepoint needs a transaction block, as a cursor without hold does.
      if (error instanceof PgError && error.sqlstate === NO_ACTIVE_TRANSACTION) throw new PgError(NO_ACTIVE_TRANSACTION, 'DECLARE CURSOR can only be used in transaction blocks');
      throw error;
    }
    if (execution === undefined) return false;
    this.cursors.rememberPasses(cursor, execution);
    return true;
  }

  /** A FETCH or MOVE of a simple Query: the proxy's for a fast cursor over LLM calls, else PostgreSQL's. */
  private async fetchQuery(plan: FetchPlan): Promise<boolean> {
    const cursor = await this.cursors.toRead(plan.motion.cursor);
    if (cursor?.kind === 'passes') this.passes.enterFinal(cursor.execution);
    if (cursor?.kind !== 'fast') return this.relayStatement(plan.sql);
    const forward = forwardOnly(cursor, plan.motion);
    if (plan.motion.move) return this.relayStatement(this.cursors.moveSql(cursor, forward));
    const formats = this.cursors.simpleFormats(cursor);
    this.io.writeToClient(this.cursors.rowDescription(cursor, formats));
    this.io.writeToClient(fetchComplete(await this.fetchRows(cursor, forward, formats, 0)));
    return true;
  }

  /**
   * A CLOSE: of a fast cursor, under the proxy's name upstream; of any other, as the client wrote it (`asWritten`,
   * resolving whether it succeeded). What it closed is forgotten.
   */
  private async close(plan: ClosePlan, asWritten: () => Promise<boolean>): Promise<boolean> {
    const translated = await this.cursors.closeSql(plan.cursor);
    const ok = translated ? await this.relayStatement(translated) : await asWritten();
    if (ok) this.cursors.forget(plan.cursor);
    return ok;
  }

  private async fetchRows(cursor: FastCursor, forward: ForwardMotion, resultFormats: number[], maxRows: number): Promise<number> {
    this.stopIfCancelled();
    return this.whileComputing(() => this.cursors.fetchRows(cursor, forward, resultFormats, maxRows, this.calls, this.abort.signal, progressReporter(this.io)));
  }

  /**
   * The passes; undefined when the final pass failed (the client has its error). The final pass runs `final`, by
   * default the statement the passes ran.
   */
  private async runCalls(plan: CallPlan, target: Target, final: Target = target): Promise<Ran | undefined> {
    const execution = this.nextExecution++;
    this.stopIfCancelled();
    if (plan.explained !== undefined) await this.noticeEstimate(plan.explained);
    if (plan.projection && target.clientPortal?.maxRows === 0 && (plan.projection.oneRow || !(await this.calls.capped()))) {
      const projected = await this.project(plan.projection, { clientStatement: target.statement, parameterTypes: target.parameterTypes, parameterSection: target.parameterSection, resultFormats: target.resultFormats });
      return projected ? { execution, answeredWhole: true } : undefined;
    }
    // Whether the statement may open the session's held secrets, judged once the session holds any, before the pass
    // that would first run code with them in view (held-secret-reach.ts); it counts only if a call found opens one.
    let judged = false;
    let untrusted: PgError | undefined;
    let held: HeldArguments | undefined;
    try {
      // The caps are known by the time the first pass has found the calls they are checked against.
      this.calls.askSessionState();
      const computed = new Set<string>();
      let stored: Promise<Result> | undefined;
      let placeholders = false;
      for (let pass = 1; ; pass++) {
        this.stopIfCancelled();
        // A pass's calls are held until the next pass finds them again, or the statement ends.
        held?.end();
        held = this.calls.heldArguments();
        if (!judged && this.calls.holdsSecrets) {
          untrusted = await this.calls.judgeReach(plan.sql, this.abort.signal);
          judged = true;
        }
        const { calls, collected, error, fields }: Collected = await afterStored(stored, this.passes.collect(held, target, execution, pass === 1, placeholders));
        for (const key of computed) calls.delete(key);
        this.stopIfCancelled();
        // The server's own cancel (a statement timeout) says why, in its words; a pass that failed so is not run again.
        if (error?.get('C') === CANCELED) throw pgErrorFrom(error);
        if (error && collected) {
          // The calls a failed pass found went with its savepoint. It may have failed on their NULLs (a NOT NULL
          // column): from now on they stand in with a value of their type, so the next pass gets through every row.
          // A pass that fails even so fails for a reason of its own, and that is the statement's error.
          if (placeholders) throw pgErrorFrom(error);
          placeholders = true;
          continue;
        }
        if (calls.size === 0) break;
        if (untrusted && [...calls.values()].some((call) => this.calls.opensHeldSecret(call))) throw untrusted;
        await this.calls.checkBudget(calls.values(), this.abort.signal);
        const [only] = calls.values();
        const { stream } = plan;
        if (stream && calls.size === 1 && (target.clientPortal?.maxRows ?? 0) === 0) {
          await this.whileComputing(() => streamSetRows(this.io, this.calls.stream(only!, this.abort.signal), stream, final, fields, this.abort.signal));
          return { execution, answeredWhole: true };
        }
        if (pass > MAX_COLLECT_PASSES) {
          throw new PgError('54001', `LLM function calls depend on each other more than ${MAX_COLLECT_PASSES} levels deep`, {
            hint: 'Split the statement, or materialize intermediate results in a table first.',
          });
        }
        // A NULL argument (or a NULL in an array argument) may only stand for a nested call with no result yet: such
        // calls wait until the calls without one are done, and run only if a later pass still meets them (the NULL
        // was real then).
        const ready = plan.callSites > 1 ? withoutNullArguments(calls) : calls;
        const now = ready.size > 0 ? ready : calls;
        const batches = new ResultBatches(this.passes, execution);
        await this.compute(now, batches);
        // Not awaited here: the last batch's answer comes in the same round trip as the next pass's.
        stored = batches.end();
        for (const key of now.keys()) computed.add(key);
        // With one call site no call can depend on another's result: what this pass found is all there is.
        if (plan.callSites === 1) break;
      }
      this.stopIfCancelled();
      const failed = await afterStored(stored, this.passes.finalPass(final, execution));
      return failed ? undefined : { execution, answeredWhole: false };
    } finally {
      held?.end();
    }
  }

  /**
   * EXPLAIN without ANALYZE: a NOTICE with the model calls the statement explained would make, or with why they were
   * not estimated (the EXPLAIN goes on: only a failure that leaves the transaction failed is its error).
   */
  private async noticeEstimate(sql: string): Promise<void> {
    let notice: PgError;
    try {
      notice = estimateNotice(await this.calls.estimate(sql, this.abort.signal));
    } catch (error) {
      if (!(error instanceof PgError) || error.sqlstate === CANCELED || (await this.requests.sync()) === 'E') throw error;
      notice = new PgError('00000', `pg_llm: the model calls of the statement were not estimated: ${error.message}`, error.hint === undefined ? {} : { hint: error.hint });
    }
    this.io.writeToClient(noticeResponse(notice));
  }

  private compute(calls: Map<string, Call>, batches: ResultBatches): Promise<void> {
    return this.whileComputing(async () => {
      try {
        await this.calls.compute(calls, this.abort.signal, (key, value) => batches.add(key, value), progressReporter(this.io));
      } catch (error) {
        // A store that failed makes the calls after it fail too, their requests skipped: its error is the statement's.
        await afterStored(batches.stored(), Promise.reject(error));
      }
    });
  }

  /**
   * Before requests that may wait in the server (for a lock, on a slow query): a cancel that came while the server had
   * nothing of the statement's to cancel (engine.ts) sends none.
   */
  private stopIfCancelled(): void {
    if (this.abort.signal.aborted) throw canceled();
  }

  /**
   * Runs work that calls models: a cancel meanwhile stops them in the proxy, and a request of the statement's the
   * server runs then (rows of arguments, a write) is cancelled there too (engine.ts).
   */
  private async whileComputing<Result>(work: () => Promise<Result>): Promise<Result> {
    this.computing = true;
    try {
      return await work();
    } finally {
      this.computing = false;
    }
  }

  /**
   * A statement run as it is, answered as a simple Query would be (or an Execute of a statement without rows);
   * `parsed` may take the Parse's answer.
   */
  private async relayStatement(sql: string, parsed?: NotInstalled, drop: ReadonlySet<number> = EXTENDED_ONLY): Promise<boolean> {
    const relay = new ClientRelay(this.io, drop, parsed ? 5 : 6);
    this.requests.send(close('S', QUERY_STATEMENT), relay);
    this.requests.send(parse(QUERY_STATEMENT, sql), parsed ?? relay);
    for (const message of [close('P', FINAL_PORTAL), bind(FINAL_PORTAL, QUERY_STATEMENT), describe('P', FINAL_PORTAL), execute(FINAL_PORTAL)]) {
      this.requests.send(message, relay);
    }
    this.requests.flush();
    return !(await relay.done) && !parsed?.errored;
  }

  /**
   * For a simple Query, whose statements' effect on the block it knows: opens a block unless one is open, without
   * waiting for the answer (the next request's answer comes after it anyway). The last ReadyForQuery may be older
   * than a BEGIN the client Executed since, without a Sync: the server's 25001 warning tells the block is the
   * client's then, which the proxy must leave open (`beginning` resolves once that is known).
   */
  private beginBlock(): void {
    if (this.ownsBlock) return;
    this.ownsBlock = true;
    this.beginning = this.requests.statement('BEGIN', [], WATCHED).then((result) => {
      if (result.noticed.has(ALREADY_IN_TRANSACTION)) this.ownsBlock = false;
    });
  }

  /** Whether the proxy opened the block the server is in, once its BEGIN (if one is owed) is answered. */
  private async ownsOpenBlock(): Promise<boolean> {
    const { beginning } = this;
    this.beginning = undefined;
    await beginning;
    return this.ownsBlock;
  }

  /**
   * A transaction statement of a Query, acting on the proxy's block as PostgreSQL's acts on its implicit one. A
   * PREPARE TRANSACTION prepares the implicit block of a Query of several statements; alone in its Query (after a
   * pipeline's Executes) it finds no block to prepare, and PostgreSQL commits what ran, with a warning.
   */
  private async runTransactionStatement(plan: TransactionPlan, several: boolean): Promise<boolean> {
    if (!(await this.ownsOpenBlock())) return this.relayStatement(plan.sql);
    const control = plan.control === 'prepare' && !several ? 'commit' : plan.control;
    switch (control) {
      case 'begin':
      case 'prepare': {
        // The block goes on as the client's. Upstream it was one already, which BEGIN would warn of (25001).
        const ok = await this.relayStatement(plan.sql, undefined, EXTENDED_ONLY_AND_NOTICES);
        // A BEGIN that failed (BEGIN ISOLATION LEVEL after a query) made no block of the client's: PostgreSQL
        // drops the implicit block with its error, and so does the proxy its own.
        if (ok) this.ownsBlock = false;
        return ok;
      }
      case 'outsideBlocks':
        return this.relayStatement(plan.sql);
      default:
        // PostgreSQL ends its block with the statement (or its error): then the statement finds no block, here too.
        if (await this.closeOwnBlock(control === 'commit')) return false;
        return this.relayStatement(plan.sql);
    }
  }

  /**
   * For an extended-protocol Execute: opens a block when the client is in none. The last ReadyForQuery may be
   * older than a BEGIN earlier in the client's batch, which PostgreSQL then reports with a 25001 warning.
   */
  private async beginIfIdle(): Promise<void> {
    if (this.ownsBlock || this.io.transactionStatus !== 'I') return;
    const pending = this.requests.statement('BEGIN', [], WATCHED);
    this.requests.flush();
    const result = check(await pending);
    this.ownsBlock = !result.noticed.has(ALREADY_IN_TRANSACTION);
  }

  /**
   * Ends the proxy's block: COMMIT (a ROLLBACK after an error), or ROLLBACK; true when the COMMIT failed (its error
   * relayed to `io`).
   */
  private async closeOwnBlock(commit = true, io: SessionIo = this.io): Promise<boolean> {
    this.ownsBlock = false;
    const relay = new ClientRelay(io, ERRORS_ONLY, STATEMENT_REQUESTS);
    this.requests.statementTo(relay, commit ? 'COMMIT' : 'ROLLBACK');
    this.requests.flush();
    return relay.done;
  }

  private fail(error: unknown): Promise<void> {
    return raiseThroughUpstream(this.io, this.requests, error);
  }
}

export function refusal(plan: StatementPlan & { kind: 'refused' }): PgError {
  return new PgError('0A000', `LLM functions cannot be called through ${plan.reason}`, { hint: plan.hint });
}

/** The calls none of whose arguments is NULL, nor an array with a NULL in it (as an aggregate collects a group's values). */
function withoutNullArguments(calls: Map<string, Call>): Map<string, Call> {
  return new Map([...calls].filter(([, call]) => !call.arguments.some((argument) => argument === null || (Array.isArray(argument) && argument.includes(null)))));
}

/** One per statement; every concurrent call of the statement listens to it, so it has no listener limit. */
function statementAbort(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

