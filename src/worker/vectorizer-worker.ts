// The worker of one database's vectorizers (pgai's vectorizer worker, in the proxy): woken by the NOTIFY of a
// vectorizer's trigger and by the llm.call worker's poll, it drains the queue of each vectorizer it serves in lanes,
// each a batch after another until the queue has none for it. A vectorizer gets one lane, and, once a lane claims a
// full batch, up to its processing_default concurrency (pgai's worker runs that many at once too), each lane with
// its own claimed rows (vectorizers.ts). All lanes together are held to the worker's `lanes`, so that no config takes
// every connection of the pool, and every vectorizer gets a lane before any gets a second; a lane whose vectorizer
// has others gives its place to a vectorizer waiting for one. Each batch's chunks are embedded in as few requests as
// the provider's limits allow (vectorizer-embed.ts), counted against the owner's share of the proxy's model calls and
// its daily budget, as the owner's sessions' are; a failed batch is retried later, with backoff. A batch the owner's
// day leaves no room for waits for the next UTC day, without a retry counted, and so does the owner's other work
// (budget-pause.ts). A vectorizer in batch mode has its chunks submitted to the provider's batch API instead, and
// written once the batch has ended (vectorizer-batches.ts).

import type pg from 'pg';
import type { Logger } from 'pino';
import { sqlstateOf, type PgError } from '../../proxy/pg-error.js';
import { overBudget } from '../cost/budgets.js';
import { nextUtcDay } from '../cost/daily-spend.js';
import type { DefaultProviders } from '../providers/default-provider.js';
import type { BudgetPause } from './budget-pause.js';
import { recordVectorizerBatch } from './metrics.js';
import { LOCKED_OUT_DELAY_MS, lockedOut } from './row-session.js';
import { batchMode, VectorizerBatches } from './vectorizer-batches.js';
import { embedChunks } from './vectorizer-embed.js';
import { loadDocuments } from './vectorizer-documents.js';
import { rowTooLarge } from './vectorizer-reads.js';
import { RowRefused, rowChunks, tooLong, type Chunk } from './vectorizer-text.js';
import { batchSize, concurrency, deferred, failed, indexWhenDue, logFields, pendingRows, processBatch, refused, servedVectorizers, type Batch, type StoredChunk, type SubmittedBatch, type Vectorizer } from './vectorizers.js';

export interface VectorizerRunnerOptions {
  pool: pg.Pool;
  /** Names the database on /metrics and in the logs. */
  database: string;
  defaults: DefaultProviders;
  /** Batches in flight at once, of all the vectorizers together: each holds a connection of the pool while it runs. */
  lanes: number;
  retryDelayMs: number;
  /** Shared with the llm.call jobs of the same owner. */
  budget: BudgetPause;
  log: Logger;
}

/** A row the worker does not embed, whatever the retry, and the step that refused it (failure_step in the failed queue). */
interface RefusedRow {
  key: Record<string, unknown>;
  error: RowRefused;
  step: 'loading' | 'chunking';
}

export class VectorizerRunner {
  /** The vectorizers to run lanes for: those served at the last wake, until a lane finds no batch for them. */
  private readonly wanted = new Map<number, Vectorizer>();
  /** Lanes running, by vectorizer. */
  private readonly running = new Map<number, number>();
  /** Vectorizers that claimed a full batch: they get up to their concurrency in lanes, the others one. */
  private readonly busy = new Set<number>();
  /** Vectorizers woken while their lanes ran: the first lane to find the queue empty does not end their turn. */
  private readonly wokenAgain = new Set<number>();
  /** Vectorizers wanted and left without a lane, all being taken. */
  private waiting = 0;
  private readonly stopping = new AbortController();
  private readonly lanesRunning = new Set<Promise<void>>();
  /** A wake being served, and whether another came meanwhile. */
  private waking: Promise<void> | undefined;
  private wakeAgain = false;
  /** The last problem, logged once rather than at every wake. */
  private lastProblem: string | undefined;

  /** The batches of the vectorizers in batch mode. */
  private readonly providerBatches: VectorizerBatches;

  constructor(private readonly options: VectorizerRunnerOptions) {
    const { pool, defaults, retryDelayMs, log } = options;
    this.providerBatches = new VectorizerBatches({ pool, defaults, retryDelayMs, log, signal: this.stopping.signal });
  }

  /** Finishes the provider batches of the vectorizers served that have ended (--worker-batch-poll). */
  pollBatches(): Promise<void> {
    return this.providerBatches.poll();
  }

  /**
   * Looks for vectorizers with work and gives lanes to those without one. Wakes that come while one looks are one
   * more look once it is done: any role may NOTIFY the channel, and 200,000 notifications of one statement of its
   * queued as many looks on the pool, ahead of every claim and write-back of the worker's, for minutes (review35).
   */
  wake(): Promise<void> {
    if (this.waking) {
      this.wakeAgain = true;
      return this.waking;
    }
    const waking = (async () => {
      try {
        do {
          this.wakeAgain = false;
          await this.look();
        } while (this.wakeAgain);
      } finally {
        this.waking = undefined;
      }
    })();
    this.waking = waking;
    return waking;
  }

  private async look(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    let served: Vectorizer[];
    try {
      served = await servedVectorizers(this.options.pool);
    } catch (error) {
      return this.problem(error);
    }
    this.wanted.clear();
    for (const vectorizer of served) {
      this.wanted.set(vectorizer.id, vectorizer);
      if (this.running.has(vectorizer.id)) this.wokenAgain.add(vectorizer.id);
    }
    this.fill();
  }

  /**
   * The rows waiting in the queue of each vectorizer served whose queue is still its owner's, for the admin dashboard;
   * undefined when they cannot be counted.
   */
  async pending(): Promise<Array<{ name: string; pending: number }> | undefined> {
    try {
      const vectorizers = await servedVectorizers(this.options.pool);
      const counted = await Promise.all(vectorizers.map(async (vectorizer) => ({ name: vectorizer.name, pending: await pendingRows(this.options.pool, vectorizer) })));
      return counted.filter((queue): queue is { name: string; pending: number } => queue.pending !== undefined);
    } catch (error) {
      this.problem(error);
      return undefined;
    }
  }

  /** Lets running batches finish (their transactions commit or roll back), then returns. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('the proxy is shutting down'));
    await Promise.allSettled([...this.lanesRunning]);
  }

  /** Starts lanes while there is room, each to the wanted vectorizer with the fewest of those below what they may have. */
  private fill(): void {
    const lanes = (vectorizer: Vectorizer): number => this.running.get(vectorizer.id) ?? 0;
    const allowed = (vectorizer: Vectorizer): number => (this.busy.has(vectorizer.id) ? concurrency(vectorizer) : 1);
    let inUse = [...this.running.values()].reduce((sum, count) => sum + count, 0);
    while (!this.stopping.signal.aborted && inUse < this.options.lanes) {
      const below = [...this.wanted.values()].filter((vectorizer) => lanes(vectorizer) < allowed(vectorizer));
      if (below.length === 0) break;
      this.lane(below.reduce((fewest, vectorizer) => (lanes(vectorizer) < lanes(fewest) ? vectorizer : fewest)));
      inUse++;
    }
    this.waiting = [...this.wanted.values()].filter((vectorizer) => lanes(vectorizer) === 0).length;
  }

  private lane(vectorizer: Vectorizer): void {
    const { id } = vectorizer;
    this.running.set(id, (this.running.get(id) ?? 0) + 1);
    const lane = this.batches(vectorizer).catch((error: unknown) => {
      this.problem(error);
      return 'turn over' as const;
    });
    const done = lane.then((ended) => {
      const left = this.running.get(id)! - 1;
      if (left > 0) this.running.set(id, left);
      else this.running.delete(id);
      this.lanesRunning.delete(done);
      if (ended === 'turn over') {
        this.busy.delete(id);
        if (!this.wokenAgain.delete(id)) this.wanted.delete(id);
      }
      this.fill();
    });
    this.lanesRunning.add(done);
  }

  /**
   * Batch after batch of the vectorizer's queue, until the vectorizer's turn is over (the queue has no batch for this
   * lane, or a batch failed), another vectorizer waits for the lane, or the worker stops.
   */
  private async batches(vectorizer: Vectorizer): Promise<'turn over' | 'given up' | 'stopped'> {
    while (!this.stopping.signal.aborted) {
      if (this.options.budget.paused) return 'turn over';
      let claimed: Batch['keys'] = [];
      try {
        const outcome = await processBatch(this.options.pool, vectorizer, async (batch, client) => {
          claimed = batch.keys;
          if (batch.keys.length >= batchSize(vectorizer) && !this.busy.has(vectorizer.id)) {
            this.busy.add(vectorizer.id);
            this.fill();
          }
          const refusedRows: RefusedRow[] = [];
          const chunks = await this.embed(vectorizer, batch, refusedRows);
          for (const { key, error, step } of refusedRows) {
            this.options.log.warn({ ...logFields(vectorizer), step, sqlstate: error.sqlstate }, 'vectorizer row refused; moved to the failed queue, its reason in ai.vectorizer_errors');
            await refused(client, vectorizer, [key], error.message, step);
          }
          return chunks;
        });
        if (outcome === 'not ours') this.problem(new Error(`vectorizer ${vectorizer.name}: its tables are no longer all owned by the worker's role; left to their owner's worker`));
        if (outcome === 'empty' && (await indexWhenDue(this.options.pool, vectorizer))) this.options.log.info(logFields(vectorizer), 'vectorizer index built');
        if (typeof outcome !== 'object') return 'turn over';
        recordVectorizerBatch(this.options.database, 'done', outcome.processed);
        this.options.log.debug({ ...logFields(vectorizer), ...outcome }, 'vectorizer batch done');
        if (this.waiting > 0 && this.running.get(vectorizer.id)! > 1) return 'given up';
      } catch (error) {
        if (this.stopping.signal.aborted) return 'stopped';
        if (claimed.length === 0) {
          this.problem(error);
          return 'turn over';
        }
        if (overBudget(error)) {
          await this.deferred(vectorizer, claimed, error).catch((recordError: unknown) => this.problem(recordError));
          return 'turn over';
        }
        if (lockedOut(error)) {
          // Another session holds a lock the batch needed: no fault of its rows', so no retry of theirs is counted.
          recordVectorizerBatch(this.options.database, 'deferred', claimed.length);
          this.options.log.warn({ ...logFields(vectorizer), rows: claimed.length, sqlstate: sqlstateOf(error) }, "vectorizer batch put off: a lock it needed was not had within the worker's lock_timeout");
          const message = `a lock the batch needed was not had within the worker's lock_timeout; tried again later: ${error instanceof Error ? error.message : String(error)}`;
          await deferred(this.options.pool, vectorizer, claimed, message, new Date(Date.now() + LOCKED_OUT_DELAY_MS)).catch((recordError: unknown) => this.problem(recordError));
          return 'turn over';
        }
        recordVectorizerBatch(this.options.database, 'failed', claimed.length);
        const message = error instanceof Error ? error.message : String(error);
        this.options.log.warn({ ...logFields(vectorizer), rows: claimed.length, sqlstate: sqlstateOf(error) }, 'vectorizer batch failed; its rows are retried later, its error in ai.vectorizer_errors');
        await failed(this.options.pool, vectorizer, claimed, message, this.options.retryDelayMs).catch((recordError: unknown) => this.problem(recordError));
        return 'turn over';
      }
    }
    return 'stopped';
  }

  /**
   * The chunks of the batch's rows with their embeddings; a deleted row's key gets none, nor does a row refused (too
   * large to read or to cut, or its document not to be had), which is added to `refusedRows` (and its chunks removed
   * from the store with the others'). With ai.loading_uri a row's text is its document's. In batch mode the chunks are
   * submitted in a provider batch, which is what comes back.
   */
  private async embed(vectorizer: Vectorizer, batch: Batch, refusedRows: RefusedRow[]): Promise<StoredChunk[] | SubmittedBatch> {
    const keyColumns = vectorizer.sourcePk.map((column) => column.attname);
    const keyOf = (row: Record<string, unknown>) => Object.fromEntries(keyColumns.map((column) => [column, row[column]]));
    for (const key of batch.tooLong) refusedRows.push({ key, error: tooLong(vectorizer.config), step: 'chunking' });
    for (const key of batch.oversized) refusedRows.push({ key, error: rowTooLarge(vectorizer), step: 'loading' });
    let rows = batch.rows;
    if (vectorizer.config.loading.implementation === 'uri') {
      const documents = await loadDocuments(vectorizer.config, rows, this.stopping.signal, vectorizer.asker);
      rows = documents.loaded;
      for (const { row, error } of documents.refused) refusedRows.push({ key: keyOf(row), error, step: 'loading' });
    }
    const chunks: Array<Chunk & { key: Record<string, unknown> }> = [];
    for (const row of rows) {
      const key = keyOf(row);
      try {
        for (const chunk of await rowChunks(vectorizer.config, row, vectorizer.asker, this.stopping.signal)) chunks.push({ key, ...chunk });
      } catch (error) {
        if (!(error instanceof RowRefused)) throw error;
        refusedRows.push({ key, error, step: 'chunking' });
      }
    }
    if (chunks.length === 0) return [];
    if (batchMode(vectorizer)) return this.providerBatches.submit(vectorizer, batch, chunks);
    return embedChunks(vectorizer, chunks, this.options.defaults, this.stopping.signal);
  }

  /** The batch's embeddings were refused for the owner's daily budget: its rows wait for the next UTC day, and so does the rest. */
  private async deferred(vectorizer: Vectorizer, keys: Batch['keys'], refusal: PgError): Promise<void> {
    this.options.budget.pause(refusal);
    recordVectorizerBatch(this.options.database, 'deferred', keys.length);
    await deferred(this.options.pool, vectorizer, keys, refusal.message, nextUtcDay());
  }

  private problem(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.options.log.warn({ err: message }, 'vectorizer worker cannot process a queue; trying again');
  }
}
