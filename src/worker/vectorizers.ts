// The worker's side of pgai's vectorizers, in SQL: the vectorizers it serves (those of the tables its login role
// owns, as for llm.call), and one batch of a vectorizer's queue in one transaction: claim up to batch_size queue rows
// as pgai's worker does (FOR UPDATE SKIP LOCKED, and an advisory lock per key, so that batches running at once, in
// one proxy or several, never take the same row: a key queued twice is one batch's), take their keys off the queue,
// read their rows, and, once their chunks are embedded, replace the rows' chunks in the store. A row changed while
// its batch runs is queued again by the trigger, and the next batch to claim it (once this one has committed and
// let go of the key) embeds its newest text. If the batch fails, the transaction leaves the queue as it was;
// failed() then delays the keys' retry, moves those out of retries to the failed queue, and records the error in
// ai.vectorizer_errors (deferred(), for a batch its owner's daily budget refused, delays them to the next UTC day
// without counting a retry).

import pg from 'pg';
import { inRowTransaction, ownedBySession, times } from './row-session.js';
import { MAX_CONCURRENCY } from '../../functions/pgai/vectorizer-create.js';
import { ASKER_SQL } from '../intercept/session-settings.js';
import { keyRows, names, type Names } from './vectorizer-names.js';
import { claimKeys, keyTooLarge, readRows } from './vectorizer-reads.js';
import type { VectorizerConfig } from './vectorizer-text.js';

export interface Vectorizer {
  id: number;
  name: string;
  sourceSchema: string;
  sourceTable: string;
  sourcePk: Array<{ attname: string; pknum: number }>;
  queueSchema: string;
  queueTable: string;
  queueFailedTable: string;
  config: VectorizerConfig;
  /**
   * Whom its embedding requests are made for: its owner in its database, as that role's sessions' requests are
   * (src/providers/asker.ts), so that they count against the same share of the proxy's limits.
   */
  asker: string;
}

/**
 * What the worker's log says of a vectorizer: which one, and its table. A log line never holds a value of its rows (a
 * key, a chunk, an error's message, which may quote one): those stay in the tables its owner reads.
 */
export function logFields(vectorizer: Vectorizer): { vectorizer: string; vectorizer_id: number; table: string } {
  return { vectorizer: vectorizer.name, vectorizer_id: vectorizer.id, table: `${vectorizer.sourceSchema}.${vectorizer.sourceTable}` };
}

const CATALOG = '_pg_llm_catalog.pg_llm_vectorizers';
/** pgai's default rows a batch (processing_default's batch_size). */
const DEFAULT_BATCH_SIZE = 50;

/** Queue rows a batch claims at most: processing_default's batch_size, 50 unless it says otherwise. */
export function batchSize(vectorizer: Vectorizer): number {
  return wholeNumber(vectorizer.config.processing?.batch_size, DEFAULT_BATCH_SIZE, 2048);
}

/**
 * Batches of the vectorizer in flight at once: processing_default's concurrency, 1 (pgai's default) unless it says
 * otherwise, and never more than MAX_CONCURRENCY, whatever a hand-written config row holds.
 */
export function concurrency(vectorizer: Vectorizer): number {
  return wholeNumber(vectorizer.config.processing?.concurrency, 1, MAX_CONCURRENCY);
}

/** `value` when it is a whole number from 1 to `max`, `max` when it is a larger one, `fallback` otherwise. */
function wholeNumber(value: unknown, fallback: number, max: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? Math.min(value, max) : fallback;
}

/** The enabled vectorizers of the tables the session's login role owns; none before ai is installed. */
export async function servedVectorizers(pool: pg.Pool): Promise<Vectorizer[]> {
  const { rows: present } = await pool.query(`SELECT pg_catalog.to_regclass($1) IS NOT NULL AS present`, [CATALOG]);
  if (!(present[0] as { present: boolean }).present) return [];
  const { rows } = await pool.query(
    `SELECT v.id, v.name, v.source_schema, v.source_table, v.source_pk, v.queue_schema, v.queue_table, v.queue_failed_table, v.config, ${ASKER_SQL} AS asker
       FROM ${CATALOG} v
      WHERE NOT v.disabled AND v.owner OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) session_user)
        AND current_user OPERATOR(pg_catalog.=) session_user
      ORDER BY v.id`,
  );
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    sourceSchema: row.source_schema,
    sourceTable: row.source_table,
    sourcePk: row.source_pk,
    queueSchema: row.queue_schema,
    queueTable: row.queue_table,
    queueFailedTable: row.queue_failed_table,
    config: row.config,
    asker: row.asker,
  }));
}

/** Rows counted in a vectorizer's queue at most, as pgai's vectorizer_queue_pending: a long queue is not read whole. */
export const PENDING_COUNT_CAP = 10_000;

/**
 * The rows waiting in the vectorizer's queue, up to PENDING_COUNT_CAP + 1 (more than the cap); undefined when the
 * relation of the queue's name is not the owner's (the owner renamed or dropped the queue, and another role took the
 * name), which is not read: its policies and a view's functions would run in the owner's session.
 */
export async function pendingRows(pool: pg.Pool, vectorizer: Vectorizer): Promise<number | undefined> {
  const { queue } = names(vectorizer);
  return inRowTransaction(pool, async (client) => {
    await client.query(`LOCK TABLE ${queue} IN ACCESS SHARE MODE`);
    if (!(await allOwned(client, [queue]))) return undefined;
    const { rows } = await client.query(`SELECT pg_catalog.count(*)::pg_catalog.int4 AS n FROM (SELECT FROM ${queue} LIMIT ${PENDING_COUNT_CAP + 1}) AS q`);
    return (rows[0] as { n: number }).n;
  });
}

export interface Batch {
  /** The keys claimed, as to_jsonb gives them. */
  keys: Array<Record<string, unknown>>;
  /** The retries each key had so far, in the order of `keys`. */
  retries: number[];
  /**
   * The rows still in the source (a deleted row's key has none), as objects of the columns the worker reads (their
   * key's, the loaded one, and those the formatting template names), but those refused.
   */
  rows: Array<Record<string, unknown>>;
  /** The keys of the rows whose loaded text is longer than MAX_INPUT characters, which are not read. */
  tooLong: Array<Record<string, unknown>>;
  /** The keys of the rows whose columns read are bigger than MAX_READ_BYTES (vectorizer-reads.ts), which are not read. */
  oversized: Array<Record<string, unknown>>;
}

export type BatchOutcome = 'empty' | 'not ours' | { processed: number; chunks: number };

/** A store row to write: the source row's key, and one chunk with its embedding. */
export interface StoredChunk {
  key: Record<string, unknown>;
  seq: number;
  chunk: string;
  embedding: number[];
}

/**
 * A batch of the provider's batch API that took a batch's rows (vectorizer-batches.ts), tracked in the catalog
 * (incremental/0022_vectorizer_batches.sql) until it has ended: its id, the tag it carries (0023), the keys it took
 * with their retries, and the digests of each of its requests' texts.
 */
export interface SubmittedBatch {
  batchId: string;
  tag: string;
  keys: Array<{ key: Record<string, unknown>; retries: number }>;
  requests: string[][];
}

const BATCHES = '_pg_llm_catalog.pg_llm_vectorizer_batches';

/** The batches of a vectorizer looked at in one poll: the oldest, however many rows its owner wrote. */
const BATCHES_A_POLL = 100;

/**
 * Claims a batch and runs `embed` on it inside the transaction that holds it; the chunks it returns replace those of
 * the batch's rows in the store, or, when it submitted the rows' texts in a provider's batch, the batch is recorded
 * and the store left as it is. The rows `embed` refuses are recorded failed in the same transaction (refused, with
 * the client it is given), so a row leaves the queue only with its chunks, its batch or its failure. The tables are
 * locked against a change of owner before anything of theirs is read.
 */
export async function processBatch(pool: pg.Pool, vectorizer: Vectorizer, embed: (batch: Batch, client: pg.ClientBase) => Promise<StoredChunk[] | SubmittedBatch>): Promise<BatchOutcome> {
  const n = names(vectorizer);
  return inRowTransaction(pool, async (client) => {
    if (!(await lockOwned(client, n))) return 'not ours';
    const claim = await claimKeys(client, n, vectorizer.id, batchSize(vectorizer));
    if (claim.unread > 0) await recordError(client, vectorizer, keyTooLarge().message, 'loading', claim.unread);
    if (claim.keys.length === 0) return claim.unread > 0 ? { processed: 0, chunks: 0 } : 'empty';
    const { taken, left, ...read } = await readRows(client, n, vectorizer, claim.keys, true);
    // Keys left for a later batch keep their queue rows, which this one lets go of when it ends.
    const keys = without(claim.keys, left);
    const retries = new Map<string, number>();
    for (const row of taken) {
      const key = JSON.stringify(row.key);
      retries.set(key, Math.max(retries.get(key) ?? 0, row.retries));
    }
    const embedded = await embed({ keys, retries: keys.map((key) => retries.get(JSON.stringify(key)) ?? 0), ...read }, client);
    if (!Array.isArray(embedded)) {
      await client.query(`INSERT INTO ${BATCHES} (id, batch_id, tag, keys, requests) VALUES ($1, $2, $3, $4, $5)`, [
        vectorizer.id,
        embedded.batchId,
        embedded.tag,
        JSON.stringify(embedded.keys),
        JSON.stringify(embedded.requests),
      ]);
      return { processed: keys.length, chunks: 0 };
    }
    await writeChunks(client, n, keys, embedded);
    return { processed: keys.length, chunks: embedded.length };
  });
}

/** `keys` but those in `others`, each as to_jsonb gives it. */
function without(keys: Batch['keys'], others: Batch['keys']): Batch['keys'] {
  const out = new Set(others.map((key) => JSON.stringify(key)));
  return keys.filter((key) => !out.has(JSON.stringify(key)));
}

/** The oldest batches of the vectorizer's rows waiting for the provider, and their tags ('' for a row without). */
export async function submittedBatches(pool: pg.Pool, vectorizer: Vectorizer): Promise<Array<Pick<SubmittedBatch, 'batchId' | 'tag'>>> {
  const { rows } = await pool.query(`SELECT batch_id, tag FROM ${BATCHES} WHERE id OPERATOR(pg_catalog.=) $1 ORDER BY submitted, batch_id LIMIT $2`, [vectorizer.id, BATCHES_A_POLL]);
  return rows.map((row) => ({ batchId: row.batch_id, tag: row.tag ?? '' }));
}

/** What is done with the rows of an ended batch: chunks written for some keys, the others queued again for a retry. */
export interface Finished {
  /** The keys whose chunks are replaced by `chunks` (none, for a row deleted or now without text). */
  written: Array<Record<string, unknown>>;
  chunks: StoredChunk[];
  /** The keys whose requests failed, queued again to be retried as after a failed batch (failed()). */
  retry: Array<Record<string, unknown>>;
  error?: string;
}

/**
 * Finishes the ended batch of the vectorizer's rows in one transaction: takes it off the catalog (false when another
 * worker did), holds its keys' advisory locks as a claim does, reads the rows as they are now and hands them to
 * `finish`, then writes the chunks it returns and queues again the keys it retries, and those whose rows did not fit
 * in the read with the others'.
 */
export async function finishBatch(
  pool: pg.Pool,
  vectorizer: Vectorizer,
  batchId: string,
  retryDelayMs: number,
  finish: (submitted: SubmittedBatch, batch: Batch) => Promise<Finished>,
): Promise<boolean> {
  const n = names(vectorizer);
  return inRowTransaction(pool, async (client) => {
    if (!(await lockOwned(client, n))) return false;
    const { rows: taken } = await client.query(
      `UPDATE ${BATCHES} SET deleted = true WHERE id OPERATOR(pg_catalog.=) $1 AND batch_id OPERATOR(pg_catalog.=) $2 RETURNING tag, keys, requests`,
      [vectorizer.id, batchId],
    );
    if (taken.length === 0) return false;
    const submitted = trackedBatch(batchId, taken[0]);
    const keys = submitted.keys.map(({ key }) => key);
    // In the keys' order, so that two batches finishing at once wait for each other rather than deadlock.
    await client.query(`SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext(${n.keyText('k')})) FROM ${keyRows(n, '$2')} ORDER BY ${n.keyList}`, [vectorizer.id, JSON.stringify(keys)]);
    const { rows, tooLong, oversized, left } = await readRows(client, n, vectorizer, keys);
    const retries = new Map(submitted.keys.map(({ key, retries }) => [JSON.stringify(key), retries]));
    const retriesOf = (key: Record<string, unknown>) => retries.get(JSON.stringify(key)) ?? 0;
    const kept = without(keys, left);
    const finished = await finish(submitted, { keys: kept, retries: kept.map(retriesOf), rows, tooLong, oversized });
    await writeChunks(client, n, finished.written, finished.chunks);
    // Rows that did not fit in one read with the others' go back to the queue, their retries as they were.
    const queued = [...finished.retry, ...left].map((key) => ({ ...key, loading_retries: retriesOf(key) }));
    if (queued.length > 0) {
      await client.query(`INSERT INTO ${n.queue} (${n.keyList}, loading_retries) SELECT ${n.keyList}, loading_retries FROM pg_catalog.jsonb_populate_recordset(NULL::${n.queue}, $1::pg_catalog.jsonb)`, [
        JSON.stringify(queued),
      ]);
    }
    if (finished.retry.length > 0) await delayRetries(client, vectorizer, finished.retry, finished.error ?? 'the batch request failed', retryDelayMs);
    return true;
  });
}

/**
 * A batch's row as the worker wrote it; a row of another shape (its owner may write rows) takes no keys, and is only
 * taken off the catalog.
 */
function trackedBatch(batchId: string, row: { tag: string | null; keys: unknown; requests: unknown }): SubmittedBatch {
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  const keysOk =
    Array.isArray(row.keys) && row.keys.every((taken) => isObject(taken) && isObject(taken.key) && Number.isInteger(taken.retries) && (taken.retries as number) >= 0);
  const requestsOk = Array.isArray(row.requests) && row.requests.every((texts) => Array.isArray(texts) && texts.every((text) => typeof text === 'string'));
  if (!keysOk || !requestsOk) return { batchId, tag: row.tag ?? '', keys: [], requests: [] };
  return { batchId, tag: row.tag ?? '', keys: row.keys as SubmittedBatch['keys'], requests: row.requests as string[][] };
}

/**
 * Locks the vectorizer's tables against a change of owner; false when they are no longer all the session's. They are
 * found by name, and the owner may rename or drop one, and another role take its name: no statement reads or writes
 * them before this.
 */
async function lockOwned(client: pg.ClientBase, n: Names): Promise<boolean> {
  await client.query(`LOCK TABLE ${n.source} IN ${n.store ? 'ACCESS SHARE' : 'ROW EXCLUSIVE'} MODE`);
  await client.query(`LOCK TABLE ${[n.queue, n.failedQueue, n.store].filter(Boolean).join(', ')} IN ROW EXCLUSIVE MODE`);
  return allOwned(client, [n.source, n.queue, n.failedQueue, ...(n.store ? [n.store] : [])]);
}

/** Whether the relations of these (quoted) names, locked already, are all owned by the session's login role. */
async function allOwned(client: pg.ClientBase, relations: string[]): Promise<boolean> {
  const { rows: owned } = await client.query(`SELECT ${relations.map((_, i) => ownedBySession(`$${i + 1}`)).join(' AND ')} AS ours`, relations);
  return (owned[0] as { ours: boolean }).ours;
}

/** The keys' chunks replaced by `chunks`, in the store or the embedding column. */
async function writeChunks(client: pg.ClientBase, n: Names, keys: Batch['keys'], chunks: StoredChunk[]): Promise<void> {
  if (keys.length === 0) return;
  if (n.store) await store(client, n, n.store, keyRows(n), keys, chunks);
  else await intoColumn(client, n, n.column!, keyRows(n), keys, chunks);
}

/** The chunks of the batch's rows replace theirs in the store. */
async function store(client: pg.ClientBase, n: Names, store: string, keyRows: string, keys: Batch['keys'], chunks: StoredChunk[]): Promise<void> {
  await client.query(`DELETE FROM ${store} t USING ${keyRows} WHERE ${n.matches('t', 'k')}`, [JSON.stringify(keys)]);
  if (chunks.length === 0) return;
  const literal = await vectorLiteral(client, store, 'embedding');
  const items = chunks.map(({ key, seq, chunk, embedding }) => ({ ...key, chunk_seq: seq, chunk, embedding: literal(embedding) }));
  await client.query(
    `INSERT INTO ${store} (${n.keyList}, chunk_seq, chunk, embedding) SELECT ${n.keyList}, chunk_seq, chunk, embedding FROM pg_catalog.jsonb_populate_recordset(NULL::${store}, $1::pg_catalog.jsonb)`,
    [JSON.stringify(items)],
  );
}

/**
 * ai.destination_column: each of the batch's rows gets its one chunk's embedding in its embedding column, NULL when it
 * has none (no text). The vectorizers' triggers leave such a change unqueued.
 */
async function intoColumn(client: pg.ClientBase, n: Names, column: string, keyRows: string, keys: Batch['keys'], chunks: StoredChunk[]): Promise<void> {
  const literal = await vectorLiteral(client, n.source, column);
  const items = chunks.map(({ key, embedding }) => ({ ...key, [column]: literal(embedding) }));
  const quoted = pg.escapeIdentifier(column);
  await client.query(
    `UPDATE ${n.source} s SET ${quoted} = i.embedding
       FROM (SELECT k.*, e.${quoted} AS embedding FROM ${keyRows}
               LEFT JOIN pg_catalog.jsonb_populate_recordset(NULL::${n.source}, $2::pg_catalog.jsonb) e ON ${n.matches('e', 'k')}) i
      WHERE ${n.matches('s', 'i')}`,
    [JSON.stringify(keys), JSON.stringify(items)],
  );
}

/** How an embedding is written as the column's type takes it: pgvector's vector, or real[]. */
async function vectorLiteral(client: pg.ClientBase, relation: string, column: string): Promise<(embedding: number[]) => string> {
  const { rows: typed } = await client.query(
    `SELECT pg_catalog.format_type(a.atttypid, NULL) AS type FROM pg_catalog.pg_attribute a
      WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND a.attname OPERATOR(pg_catalog.=) $2`,
    [relation, column],
  );
  const asArray = (typed[0] as { type: string } | undefined)?.type.endsWith('[]') ?? true;
  return (embedding) => (asArray ? `{${embedding.join(',')}}` : `[${embedding.join(',')}]`);
}

/**
 * pgai's vector index of the embeddings (indexing_hnsw, indexing_diskann), built once the queue is empty and the
 * embeddings number the config's min_rows (catalog-migrations/idempotent/007_vectorizer_index.sql). True when built.
 */
export async function indexWhenDue(pool: pg.Pool, vectorizer: Vectorizer): Promise<boolean> {
  const method = vectorizer.config.indexing?.implementation;
  if (method !== 'hnsw' && method !== 'diskann') return false;
  return inRowTransaction(pool, async (client) => (await client.query(`SELECT _pg_llm_catalog.vectorizer_index($1) AS built`, [vectorizer.id])).rows[0].built === true);
}

/**
 * After a failed batch: each key waits `delayMs` doubled by its retries before it is claimed again; a key out of
 * retries (the loading config's, 6 by default) moves to the failed queue. The error is recorded for the owner. Nothing
 * is done once the vectorizer's tables are no longer all the owner's (lockOwned).
 */
export async function failed(pool: pg.Pool, vectorizer: Vectorizer, keys: Array<Record<string, unknown>>, message: string, delayMs: number): Promise<void> {
  await inRowTransaction(pool, async (client) => {
    if (await lockOwned(client, names(vectorizer))) await delayRetries(client, vectorizer, keys, message, delayMs);
  });
}

/** failed(), in the caller's transaction. */
async function delayRetries(client: pg.ClientBase, vectorizer: Vectorizer, keys: Array<Record<string, unknown>>, message: string, delayMs: number): Promise<void> {
  const n = names(vectorizer);
  const retries = vectorizer.config.loading.retries ?? 6;
  await client.query(
    `UPDATE ${n.queue} q SET loading_retries = q.loading_retries OPERATOR(pg_catalog.+) 1,
            loading_retry_after = pg_catalog.now() OPERATOR(pg_catalog.+)
              ${times(`LEAST($2::pg_catalog.float8 OPERATOR(pg_catalog.*) pg_catalog.power(2::pg_catalog.float8, q.loading_retries::pg_catalog.float8), 300000)`, 'millisecond')}
       FROM ${keyRows(n)} WHERE ${n.matches('q', 'k')}`,
    [JSON.stringify(keys), delayMs],
  );
  await client.query(
    `WITH out_of_retries AS (DELETE FROM ${n.queue} q WHERE q.loading_retries OPERATOR(pg_catalog.>) $1 RETURNING ${n.keyList})
     INSERT INTO ${n.failedQueue} (${n.keyList}, failure_step) SELECT DISTINCT ${n.keyList}, 'embedding' FROM out_of_retries`,
    [retries],
  );
  await recordError(client, vectorizer, message, 'embedding', keys.length);
}

/**
 * After a batch its owner's daily budget left no room for: its keys are claimed again from `until` (the next UTC day),
 * no retry counted; the error is recorded for the owner. Nothing is done once the vectorizer's tables are no longer
 * all the owner's (lockOwned).
 */
export async function deferred(pool: pg.Pool, vectorizer: Vectorizer, keys: Array<Record<string, unknown>>, message: string, until: Date): Promise<void> {
  const n = names(vectorizer);
  await inRowTransaction(pool, async (client) => {
    if (!(await lockOwned(client, n))) return;
    const keyRows = `pg_catalog.jsonb_populate_recordset(NULL::${n.queue}, $1::pg_catalog.jsonb) k`;
    await client.query(`UPDATE ${n.queue} q SET loading_retry_after = $2 FROM ${keyRows} WHERE ${n.matches('q', 'k')}`, [JSON.stringify(keys), until]);
    await recordError(client, vectorizer, message, 'embedding', keys.length);
  });
}

/**
 * Rows refused for good at `step` (too large to embed, a document not to be had): their keys go to the failed queue at
 * once, the error recorded.
 */
/** Rows of a batch refused for good go to the failed queue, in the batch's transaction (processBatch). */
export async function refused(client: pg.ClientBase, vectorizer: Vectorizer, keys: Array<Record<string, unknown>>, message: string, step: 'loading' | 'chunking'): Promise<void> {
  const n = names(vectorizer);
  await client.query(
    `INSERT INTO ${n.failedQueue} (${n.keyList}, failure_step)
     SELECT ${n.keyList}, $2 FROM pg_catalog.jsonb_populate_recordset(NULL::${n.queue}, $1::pg_catalog.jsonb)`,
    [JSON.stringify(keys), step],
  );
  await recordError(client, vectorizer, message, step, keys.length);
}

async function recordError(client: pg.ClientBase, vectorizer: Vectorizer, message: string, step: string, rows: number): Promise<void> {
  await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_vectorizer_errors (id, message, details) VALUES ($1, $2, $3)`, [
    vectorizer.id,
    message,
    JSON.stringify({ step, rows }),
  ]);
}
