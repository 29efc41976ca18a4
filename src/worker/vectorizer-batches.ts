// A vectorizer's embeddings through OpenAI's batch API, at half the price, for a vectorizer whose processing config
// says "batch_api": true (a proxy extension: ai.processing_default(…) || '{"batch_api": true}'). A lane claims a batch
// of the queue as ever, and submits its chunks' texts as one provider batch (its requests cut as the embeddings
// requests are, vectorizer-embed.ts) instead of asking for them; the rows leave the queue and are tracked in the
// catalog with the batch (vectorizers.ts). Every --worker-batch-poll the worker asks the provider about them, as it
// does for llm.call's batches (worker.ts); once a batch has ended its rows are read again and each written as the
// normal path writes it, from the batch's embeddings: a row whose text changed meanwhile is left to the newer queue
// row its trigger added, and a row whose request failed goes back to the queue with a retry counted, as after a failed
// batch of the normal path. A batch that failed or expired as a whole falls back to the normal path: its rows'
// embeddings are asked for at once, and if that fails too they go back to the queue with a retry counted.

import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';
import { sqlstateOf } from '../../proxy/pg-error.js';
import { BoundedCache } from '../bounded-cache.js';
import { batchTag, embeddingBatchApi, type BatchApi, type BatchState } from '../providers/batch-apis.js';
import type { DefaultProviders } from '../providers/default-provider.js';
import { dayRefused } from '../cost/budgets.js';
import { dayReached } from '../cost/daily-spend.js';
import { askerParts } from '../providers/asker.js';
import { MAX_BUILT } from '../providers/index.js';
import { meterBatch } from '../providers/metrics.js';
import { pgaiProvider } from '../providers/pgai/index.js';
import { embedChunks, embeddingSettings, requestBatches, type KeyedChunk } from './vectorizer-embed.js';
import { RowRefused, rowChunks, type Chunk } from './vectorizer-text.js';
import { finishBatch, logFields, servedVectorizers, submittedBatches, type Batch, type Finished, type StoredChunk, type SubmittedBatch, type Vectorizer } from './vectorizers.js';

/**
 * The signal of the batch API's requests, which nothing aborts: the embedding config's timeout bounds each, and a
 * batch created must be recorded, or it would be paid for and never read.
 */
const UNTIL_ANSWERED = new AbortController().signal;

/**
 * Whether the vectorizer's embeddings go through the provider's batch API: never for documents (ai.loading_uri), which
 * ai.create_vectorizer refuses, as a batch's rows are read again once it ends.
 */
export function batchMode(vectorizer: Vectorizer): boolean {
  return vectorizer.config.processing?.batch_api === true && vectorizer.config.loading.implementation !== 'uri';
}

/** What a chunk's embedding is known by in a batch: the digest of the text embedded. */
const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The most a batch's row holds of keys and of digests (the catalog's caps, incremental/0023_vectorizer_batch_tags.sql):
 * the rows of a larger batch are embedded at once.
 */
const MAX_TRACKED_KEYS = 8 * 1024 * 1024;
const MAX_TRACKED_REQUESTS = 64 * 1024 * 1024;

export interface VectorizerBatchesOptions {
  pool: pg.Pool;
  defaults: DefaultProviders;
  retryDelayMs: number;
  log: Logger;
  /** Stops the embeddings requests of a fallback at shutdown. */
  signal: AbortSignal;
}

export class VectorizerBatches {
  /**
   * The batch API of each embedding config, made once: its clients keep their connections. As many as the
   * providers' cache keeps providers, as the owners of tables may make vectorizers of ever new configs.
   */
  private readonly apis = new BoundedCache<string, Promise<BatchApi<string[], number[][]>>>(MAX_BUILT);
  private polling = false;

  constructor(private readonly options: VectorizerBatchesOptions) {}

  /**
   * Submits the texts of a claimed batch's chunks as one provider batch; resolves to what the catalog tracks of it, or
   * to the chunks embedded at once when that would be more than the catalog holds.
   */
  async submit(vectorizer: Vectorizer, batch: Batch, chunks: KeyedChunk[]): Promise<SubmittedBatch | StoredChunk[]> {
    // Its cost is known only once it has ended: an owner whose day is spent already submits none (the rows wait for
    // the next day, as after a refused request).
    const payer = askerParts(vectorizer.asker);
    const reached = payer && dayReached(payer);
    if (reached) throw dayRefused(reached);
    const texts = chunks.map((chunk) => chunk.formatted);
    const settings = await embeddingSettings(vectorizer, this.options.defaults);
    const parts = requestBatches(texts, pgaiProvider(settings).embeddingBatchSize).map(({ start, end }) => texts.slice(start, end));
    const requests = parts.map((part) => part.map(digest));
    const keys = batch.keys.map((key, i) => ({ key, retries: batch.retries[i] ?? 0 }));
    if (Buffer.byteLength(JSON.stringify(keys)) > MAX_TRACKED_KEYS || Buffer.byteLength(JSON.stringify(requests)) > MAX_TRACKED_REQUESTS) {
      return embedChunks(vectorizer, chunks, this.options.defaults, this.options.signal);
    }
    // The catalog's row of batches is written by the vectorizer's owner (the worker writes in the owner's name), who
    // could name a batch submitted for another role's texts with the proxy's key, and have its embeddings written in
    // their store: a batch carries a random tag, which nobody who does not see its row knows, and is read only when
    // its row names that tag.
    const tag = batchTag();
    const batchId = await (await this.api(vectorizer)).submit(
      parts.map((request, i) => ({ id: String(i), request })),
      UNTIL_ANSWERED,
      tag,
    );
    return { batchId, tag, keys, requests };
  }

  /** Looks at the batches of the vectorizers served, and finishes those that have ended. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const vectorizer of await servedVectorizers(this.options.pool)) {
        for (const { batchId, tag } of await submittedBatches(this.options.pool, vectorizer)) {
          try {
            await this.look(vectorizer, batchId, tag);
          } catch (error) {
            this.options.log.warn({ ...logFields(vectorizer), batch: batchId, err: (error as Error).message }, 'could not finish a batch of vectorizer rows; asking again at the next poll');
          }
        }
      }
    } finally {
      this.polling = false;
    }
  }

  private async look(vectorizer: Vectorizer, batchId: string, tag: string): Promise<void> {
    const api = await this.api(vectorizer);
    const state = await api.state(batchId, UNTIL_ANSWERED, tag);
    if (state.kind === 'running') return;
    const { pool, retryDelayMs, log } = this.options;
    if (state.kind === 'failed') log.info({ ...logFields(vectorizer), batch: batchId, reason: state.reason }, 'a batch of vectorizer rows failed; their embeddings are asked for at once');
    try {
      await finishBatch(pool, vectorizer, batchId, retryDelayMs, (submitted, batch) => this.finish(vectorizer, state, submitted, batch));
    } catch (error) {
      // The fallback failed too: the rows wait for a retry in the queue, as after a failed batch of the normal path.
      const message = error instanceof Error ? error.message : String(error);
      log.warn({ ...logFields(vectorizer), batch: batchId, sqlstate: sqlstateOf(error) }, 'vectorizer rows of a batch not embedded; they are retried later, their error in ai.vectorizer_errors');
      await finishBatch(pool, vectorizer, batchId, retryDelayMs, async (_, { keys }) => ({ written: [], chunks: [], retry: keys, error: message }));
    }
  }

  /** What becomes of each row of the ended batch: see the head of this file. */
  private async finish(vectorizer: Vectorizer, state: Exclude<BatchState<number[][]>, { kind: 'running' }>, submitted: SubmittedBatch, batch: Batch): Promise<Finished> {
    const vectors = new Map<string, number[]>();
    const failedTexts = new Set<string>();
    let error: string | undefined;
    if (state.kind === 'ended') {
      // Paid by the owner, whose day its embeddings requests count in.
      const payer = askerParts(vectorizer.asker);
      const usages = [...state.outcomes.values()].flatMap((outcome) => (outcome.ok ? [outcome.usage] : []));
      if (payer) meterBatch('embed', 'openai', vectorizer.config.embedding.model, {}, payer, usages);
      submitted.requests.forEach((digests, i) => {
        const outcome = state.outcomes.get(String(i));
        if (outcome?.ok && outcome.value.length === digests.length) return digests.forEach((text, j) => vectors.set(text, outcome.value[j]!));
        error = !outcome ? 'the batch ended without a result for its request' : outcome.ok ? `the batch answered ${outcome.value.length} embeddings for ${digests.length} texts` : outcome.error;
        for (const text of digests) failedTexts.add(text);
      });
    }
    // A row and a key are matched by their key columns' values, in the key's order (a key object's is jsonb's).
    const keyColumns = vectorizer.sourcePk.map((column) => column.attname);
    const keyOf = (row: Record<string, unknown>) => JSON.stringify(keyColumns.map((column) => row[column]));
    const present = new Map(batch.rows.map((row) => [keyOf(row), row]));
    const finished: Finished = { written: [], chunks: [], retry: [], ...(error ? { error } : {}) };
    const unasked: KeyedChunk[] = [];
    for (const key of batch.keys) {
      const row = present.get(keyOf(key));
      let chunks: Chunk[] = [];
      try {
        chunks = row ? await rowChunks(vectorizer.config, row, vectorizer.asker, this.options.signal) : [];
      } catch (refusal) {
        // Refused when the batch was submitted (too large), and in the failed queue: its chunks go, as on the normal path.
        if (!(refusal instanceof RowRefused)) throw refusal;
      }
      const texts = chunks.map((chunk) => digest(chunk.formatted));
      if (state.kind === 'failed') {
        finished.written.push(key);
        unasked.push(...chunks.map((chunk) => ({ key, ...chunk })));
      } else if (texts.every((text) => vectors.has(text))) {
        finished.written.push(key);
        finished.chunks.push(...chunks.map(({ seq, chunk }, i) => ({ key, seq, chunk, embedding: vectors.get(texts[i]!)! })));
      } else if (texts.some((text) => failedTexts.has(text))) {
        finished.retry.push(key);
      }
      // Otherwise the row's text changed since the batch was submitted: its trigger queued it again.
    }
    if (unasked.length > 0) finished.chunks.push(...(await embedChunks(vectorizer, unasked, this.options.defaults, this.options.signal)));
    return finished;
  }

  private async api(vectorizer: Vectorizer): Promise<BatchApi<string[], number[][]>> {
    const key = JSON.stringify(vectorizer.config.embedding);
    let api = this.apis.get(key);
    if (!api) {
      api = embeddingSettings(vectorizer, this.options.defaults).then(embeddingBatchApi);
      // A config that cannot be served now (no key yet) is looked at afresh next time.
      api.catch(() => this.apis.delete(key));
      this.apis.set(key, api);
    }
    return api;
  }
}
