// The worker of one database's vectorizers (pgai's vectorizer worker, in the proxy): woken by the NOTIFY of a
// vectorizer's trigger and by the llm.call worker's poll, it drains the queue of each vectorizer it serves, batch
// after batch, several vectorizers at once up to the worker's concurrency. Each batch's chunks are embedded in as few
// requests as the provider's limits allow (vectorizer-embed.ts); a failed batch is retried later, with backoff.

import type pg from 'pg';
import type { Logger } from 'pino';
import type { DefaultProviders } from '../providers/default-provider.js';
import { recordVectorizerBatch } from './metrics.js';
import { embedAll, embeddingProvider } from './vectorizer-embed.js';
import { RowRefused, rowChunks, tooLong } from './vectorizer-text.js';
import { failed, indexWhenDue, pendingRows, processBatch, refused, servedVectorizers, type Batch, type StoredChunk, type Vectorizer } from './vectorizers.js';

export interface VectorizerRunnerOptions {
  pool: pg.Pool;
  /** Names the database on /metrics and in the logs. */
  database: string;
  defaults: DefaultProviders;
  concurrency: number;
  retryDelayMs: number;
  log: Logger;
}

export class VectorizerRunner {
  /** Vectorizers being drained, and those woken meanwhile, which drain again once done. */
  private readonly draining = new Set<number>();
  private readonly wokenAgain = new Set<number>();
  private readonly stopping = new AbortController();
  private readonly drains = new Set<Promise<void>>();
  /** The last problem, logged once rather than at every wake. */
  private lastProblem: string | undefined;

  constructor(private readonly options: VectorizerRunnerOptions) {}

  /** Looks for vectorizers with work and drains those not being drained yet. */
  async wake(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    let vectorizers: Vectorizer[];
    try {
      vectorizers = await servedVectorizers(this.options.pool);
    } catch (error) {
      return this.problem(error);
    }
    for (const vectorizer of vectorizers) {
      if (this.draining.has(vectorizer.id)) this.wokenAgain.add(vectorizer.id);
      else if (this.draining.size < this.options.concurrency) this.drain(vectorizer);
    }
  }

  /** The rows waiting in the queue of each vectorizer served, for the admin dashboard; undefined when they cannot be counted. */
  async pending(): Promise<Array<{ name: string; pending: number }> | undefined> {
    try {
      const vectorizers = await servedVectorizers(this.options.pool);
      return await Promise.all(vectorizers.map(async (vectorizer) => ({ name: vectorizer.name, pending: await pendingRows(this.options.pool, vectorizer) })));
    } catch (error) {
      this.problem(error);
      return undefined;
    }
  }

  /** Lets running batches finish (their transactions commit or roll back), then returns. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('the proxy is shutting down'));
    await Promise.allSettled([...this.drains]);
  }

  private drain(vectorizer: Vectorizer): void {
    this.draining.add(vectorizer.id);
    const drained = this.batches(vectorizer).finally(() => {
      this.draining.delete(vectorizer.id);
      this.drains.delete(drained);
      if (this.wokenAgain.delete(vectorizer.id)) void this.wake();
    });
    this.drains.add(drained);
  }

  private async batches(vectorizer: Vectorizer): Promise<void> {
    const asker = `vectorizer ${vectorizer.id}@${this.options.database}`;
    while (!this.stopping.signal.aborted) {
      let claimed: Batch['keys'] = [];
      const tooLarge: Array<{ key: Record<string, unknown>; error: RowRefused }> = [];
      try {
        const outcome = await processBatch(this.options.pool, vectorizer, async (batch) => {
          claimed = batch.keys;
          tooLarge.length = 0;
          return this.embed(vectorizer, batch, asker, tooLarge);
        });
        for (const { key, error } of tooLarge) {
          this.options.log.warn({ vectorizer: vectorizer.name, key, err: error.message }, 'vectorizer row refused; moved to the failed queue');
          await refused(this.options.pool, vectorizer, [key], error.message);
        }
        if (outcome === 'not ours') this.problem(new Error(`vectorizer ${vectorizer.name}: its tables are no longer all owned by the worker's role; left to their owner's worker`));
        if (outcome === 'empty' && (await indexWhenDue(this.options.pool, vectorizer))) this.options.log.info({ vectorizer: vectorizer.name }, 'vectorizer index built');
        if (typeof outcome !== 'object') return;
        recordVectorizerBatch(this.options.database, 'done', outcome.processed);
        this.options.log.debug({ vectorizer: vectorizer.name, ...outcome }, 'vectorizer batch done');
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        if (claimed.length === 0) return this.problem(error);
        recordVectorizerBatch(this.options.database, 'failed', claimed.length);
        const message = error instanceof Error ? error.message : String(error);
        this.options.log.warn({ vectorizer: vectorizer.name, rows: claimed.length, err: message }, 'vectorizer batch failed; its rows are retried later');
        await failed(this.options.pool, vectorizer, claimed, message, this.options.retryDelayMs).catch((recordError: unknown) => this.problem(recordError));
        return;
      }
    }
  }

  /**
   * The chunks of the batch's rows with their embeddings; a deleted row's key gets none, nor does a row too large,
   * which is added to `tooLarge` (and its chunks removed from the store with the others').
   */
  private async embed(vectorizer: Vectorizer, batch: Batch, asker: string, tooLarge: Array<{ key: Record<string, unknown>; error: RowRefused }>): Promise<StoredChunk[]> {
    const keyColumns = vectorizer.sourcePk.map((column) => column.attname);
    for (const key of batch.tooLong) tooLarge.push({ key, error: tooLong(vectorizer.config) });
    const chunks = batch.rows.flatMap((row) => {
      const key = Object.fromEntries(keyColumns.map((column) => [column, row[column]]));
      try {
        return rowChunks(vectorizer.config, row).map((chunk) => ({ key, ...chunk }));
      } catch (error) {
        if (!(error instanceof RowRefused)) throw error;
        tooLarge.push({ key, error });
        return [];
      }
    });
    if (chunks.length === 0) return [];
    const provider = await embeddingProvider(vectorizer.config.embedding, this.options.defaults);
    const { vectors } = await embedAll(
      provider,
      chunks.map((chunk) => chunk.formatted),
      this.stopping.signal,
      asker,
    );
    return chunks.map(({ key, seq, chunk }, i) => ({ key, seq, chunk, embedding: vectors[i]! }));
  }

  private problem(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.options.log.warn({ err: message }, 'vectorizer worker cannot process a queue; trying again');
  }
}
