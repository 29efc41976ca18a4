// What a batch of a vectorizer's queue claims and reads, in the batch's transaction (vectorizers.ts, processBatch):
// its keys, claimed from the queue as pgai's worker claims them, and the source rows of those keys.

import pg from 'pg';
import { MAX_INPUT } from '../../functions/pgai/text-splitter.js';
import { keyRows, type Names } from './vectorizer-names.js';
import type { Batch, Vectorizer } from './vectorizers.js';

/**
 * Claims up to `limit` keys of the queue, as to_jsonb gives them. A row is locked only with its key's advisory lock
 * (the CASE takes that first, for due rows only): a batch never holds a row whose key another batch has, which that
 * batch's DELETE would wait for. Rows another batch holds, or took off the queue since this statement's snapshot, are
 * skipped.
 */
export async function claimKeys(client: pg.ClientBase, n: Names, vectorizerId: number, limit: number): Promise<Batch['keys']> {
  const { rows } = await client.query(
    `SELECT pg_catalog.to_jsonb(k) AS key
       FROM (SELECT DISTINCT ${n.keyList}
               FROM (SELECT ${n.keyList} FROM ${n.queue} q
                      WHERE CASE WHEN q.loading_retry_after IS NULL OR q.loading_retry_after OPERATOR(pg_catalog.<=) pg_catalog.now()
                                 THEN pg_catalog.pg_try_advisory_xact_lock($1, pg_catalog.hashtext(${n.keyText('q')})) ELSE false END
                      LIMIT $2 FOR UPDATE SKIP LOCKED) AS q) k`,
    [vectorizerId, limit],
  );
  return rows.map((row) => row.key as Record<string, unknown>);
}

/**
 * The source rows of the keys, those too long to read by key only; and, with `take`, the keys' queue rows, deleted in
 * the same statement. One snapshot for both: a row changed after it keeps the queue row its trigger added, for a later
 * batch to embed its newer text, and one changed before it has that queue row taken with the text read, rather than
 * left to embed the same text again.
 */
export async function readRows(client: pg.ClientBase, n: Names, vectorizer: Vectorizer, keys: Batch['keys'], take = false): Promise<Pick<Batch, 'rows' | 'tooLong'> & { taken: Taken[] }> {
  // A row whose text is too long to cut is not read: only its key comes back, so that a text of any size written by
  // anyone who may insert into the table costs the worker nothing (octet_length does not even detoast it).
  const loaded = `s.${pg.escapeIdentifier(vectorizer.config.loading.column_name)}`;
  const taking = take
    ? `WITH taken AS (DELETE FROM ${n.queue} q USING ${keyRows(n)} WHERE ${n.matches('q', 'k')} RETURNING ${n.keyObject('q')} AS key, q.loading_retries AS retries)
       SELECT NULL::pg_catalog.jsonb AS row, NULL::pg_catalog.jsonb AS too_long, t.key AS taken, t.retries FROM taken t UNION ALL `
    : '';
  const { rows } = await client.query(
    `${taking}SELECT CASE WHEN l.too_long THEN NULL ELSE pg_catalog.to_jsonb(s) END AS row, CASE WHEN l.too_long THEN ${n.keyObject('s')} END AS too_long,
            NULL::pg_catalog.jsonb AS taken, NULL::pg_catalog.int4 AS retries
       FROM ${n.source} s JOIN ${keyRows(n)} ON ${n.matches('s', 'k')}
      CROSS JOIN LATERAL (SELECT coalesce(CASE WHEN pg_catalog.octet_length(${loaded}) OPERATOR(pg_catalog.<=) $2::pg_catalog.int4 THEN false
                                               WHEN pg_catalog.octet_length(${loaded}) OPERATOR(pg_catalog.>) $3::pg_catalog.int4 THEN true
                                               ELSE pg_catalog.char_length(${loaded}) OPERATOR(pg_catalog.>) $2::pg_catalog.int4 END, false) AS too_long) l`,
    // Characters of up to four bytes: more bytes than four a character are too many characters, and fewer than one
    // too few, without counting them.
    [JSON.stringify(keys), MAX_INPUT, 4 * MAX_INPUT],
  );
  return {
    rows: rows.filter((row) => row.row !== null).map((row) => row.row as Record<string, unknown>),
    tooLong: rows.filter((row) => row.too_long !== null).map((row) => row.too_long as Record<string, unknown>),
    taken: rows.filter((row) => row.taken !== null).map((row) => ({ key: row.taken as Record<string, unknown>, retries: Number(row.retries ?? 0) })),
  };
}

/** A queue row taken: its key, as to_jsonb gives it, and the retries it had. */
interface Taken {
  key: Record<string, unknown>;
  retries: number;
}
