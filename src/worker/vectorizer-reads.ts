// What a batch of a vectorizer's queue claims and reads, in the batch's transaction (vectorizers.ts, processBatch):
// its keys, claimed from the queue as pgai's worker claims them, and the source rows of those keys. The vectorizer's
// owner writes the queue, and anyone who may insert into the table writes its rows, of any size; the worker parses
// what it reads on the event loop every session of the proxy shares. So the server measures each first, and sends
// nothing past the bounds here: a queue row whose key is too big goes to the failed queue unread, a source row whose
// columns read are too big is refused by key, and a batch's rows together past the bound wait for the next batch.

import pg from 'pg';
import { MAX_INPUT } from '../../functions/pgai/text-splitter.js';
import { MAX_KEPT_ROW_BYTES } from '../intercept/upstream-requests.js';
import { keyRows, type Names } from './vectorizer-names.js';
import { RowRefused, templateNames } from './vectorizer-text.js';
import type { Batch, Vectorizer } from './vectorizers.js';

/**
 * The most of a queue row's key (its columns as text) a claim reads. A key names a row of the source, and a B-tree
 * (its primary key's) keeps an entry within about 2.7 kB: a bigger key was written into the queue by hand.
 */
export const MAX_KEY_BYTES = 8 * 1024;
/**
 * The most of a batch's rows (the columns the worker reads of them, as JSON text) a read returns, as for any result
 * the proxy reads for itself; a row bigger alone is refused.
 */
export const MAX_READ_BYTES = MAX_KEPT_ROW_BYTES;

/** SQL: the bytes of these expressions as text, together; measured where they are stored (octet_length does not detoast text). */
function textBytes(expressions: string[]): string {
  return `(${expressions.map((expression) => `coalesce(pg_catalog.octet_length((${expression})::pg_catalog.text), 0)::pg_catalog.int8`).join(' OPERATOR(pg_catalog.+) ')})`;
}

/** The refusal of a queue row whose key passes MAX_KEY_BYTES, recorded for the rows moved to the failed queue. */
export function keyTooLarge(): RowRefused {
  return new RowRefused('54000', `the row is not embedded: its key in the queue is larger than the worker reads (${MAX_KEY_BYTES} bytes as text)`, {
    hint: "The queue row, moved to the failed queue unread, was not written by the table's trigger: give the table a shorter primary key, or queue the row with a write to it.",
  });
}

/** The refusal of a row whose columns the worker reads pass MAX_READ_BYTES. */
export function rowTooLarge(vectorizer: Vectorizer): RowRefused {
  return new RowRefused(
    '54000',
    `the row is not embedded: its key, ${vectorizer.config.loading.column_name} and the columns its formatting template names are larger than the worker reads (${MAX_READ_BYTES} bytes as JSON text)`,
    { hint: 'Store less in them, or cut the row into rows of its own, then write it again.' },
  );
}

/** What a claim took: the keys of its batch, and how many queue rows it moved to the failed queue unread. */
export interface Claim {
  keys: Batch['keys'];
  unread: number;
}

/**
 * Claims up to `limit` queue rows, their keys as to_jsonb gives them. A row is locked only with its key's advisory lock
 * (the CASE takes that first, for due rows only): a batch never holds a row whose key another batch has, which that
 * batch's DELETE would wait for. Rows another batch holds, or took off the queue since this statement's snapshot, are
 * skipped. A row whose key passes MAX_KEY_BYTES is claimed whenever it is seen, by its place in the table (a B-tree
 * could not hold such a key, and no advisory lock is had on it), and moved to the failed queue in the same statement.
 */
export async function claimKeys(client: pg.ClientBase, n: Names, vectorizerId: number, limit: number): Promise<Claim> {
  const over = (t: string) => `${textBytes(n.keyColumns.map((key) => `${t}.${key}`))} OPERATOR(pg_catalog.>) ${MAX_KEY_BYTES}`;
  const { rows } = await client.query(
    `WITH claimed AS (
       SELECT q.tableoid, q.ctid, ${n.keyList} FROM ${n.queue} q
        WHERE CASE WHEN ${over('q')} THEN true
                   WHEN q.loading_retry_after IS NULL OR q.loading_retry_after OPERATOR(pg_catalog.<=) pg_catalog.now()
                   THEN pg_catalog.pg_try_advisory_xact_lock($1, pg_catalog.hashtext(${n.keyText('q')})) ELSE false END
        LIMIT $2 FOR UPDATE SKIP LOCKED),
     unread AS (
       DELETE FROM ${n.queue} q
        WHERE q.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT c.ctid FROM claimed c WHERE ${over('c')}))
          AND EXISTS (SELECT FROM claimed c WHERE c.tableoid OPERATOR(pg_catalog.=) q.tableoid AND c.ctid OPERATOR(pg_catalog.=) q.ctid)
        RETURNING ${n.keyColumns.map((key) => `q.${key}`).join(', ')}),
     failed AS (INSERT INTO ${n.failedQueue} (${n.keyList}, failure_step) SELECT ${n.keyList}, 'loading' FROM unread RETURNING 1)
     SELECT pg_catalog.to_jsonb(k) AS key, NULL::pg_catalog.int8 AS unread FROM (SELECT DISTINCT ${n.keyList} FROM claimed c WHERE NOT ${over('c')}) k
     UNION ALL SELECT NULL, pg_catalog.count(*) FROM failed`,
    [vectorizerId, limit],
  );
  return {
    keys: rows.filter((row) => row.key !== null).map((row) => row.key as Record<string, unknown>),
    unread: Number(rows.find((row) => row.key === null)?.unread ?? 0),
  };
}

/** What a batch read of its keys: besides the Batch's rows and refusals, the keys left for a later batch, and those taken. */
export type Read = Pick<Batch, 'rows' | 'tooLong' | 'oversized'> & {
  /** Keys whose rows did not fit in MAX_READ_BYTES with the others': not read, their queue rows not taken. */
  left: Batch['keys'];
  taken: Taken[];
};

/** A queue row taken: its key, as to_jsonb gives it, and the retries it had. */
interface Taken {
  key: Record<string, unknown>;
  retries: number;
}

/**
 * The columns of the source the worker reads: its key's, the loaded one, and those the formatting template names
 * ($chunk is the chunk), which may be none of the table's.
 */
async function readColumns(client: pg.ClientBase, n: Names, vectorizer: Vectorizer): Promise<string[]> {
  const wanted = [...vectorizer.sourcePk.map((column) => column.attname), vectorizer.config.loading.column_name];
  const named = templateNames(vectorizer.config.formatting.template).filter((name) => name !== 'chunk' && !wanted.includes(name));
  if (named.length === 0) return wanted;
  const { rows } = await client.query(
    `SELECT a.attname FROM pg_catalog.pg_attribute a
      WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
        AND a.attname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[])`,
    [n.source, [...new Set(named)]],
  );
  return [...wanted, ...rows.map((row) => row.attname as string)];
}

/**
 * The source rows of the keys, as objects of the columns the worker reads; by key only, those refused (text too
 * long to cut, or columns read past MAX_READ_BYTES) and those left for a later batch, past MAX_READ_BYTES together in
 * the keys' order; and, with `take`, the keys' queue rows but the left ones', deleted in the same statement. One
 * snapshot for both: a row changed after it keeps the queue row its trigger added, for a later batch to embed its
 * newer text, and one changed before it has that queue row taken with the text read, rather than left to embed the
 * same text again.
 */
export async function readRows(client: pg.ClientBase, n: Names, vectorizer: Vectorizer, keys: Batch['keys'], take = false): Promise<Read> {
  const columns = [...new Set(await readColumns(client, n, vectorizer))].map((column) => `s.${pg.escapeIdentifier(column)}`);
  // A row whose text is too long to cut, or whose columns read pass the bound as text, is not even made JSON: only its
  // key comes back, so that a value of any size written by anyone who may insert into the table costs the worker
  // nothing (octet_length does not even detoast a text).
  const loaded = `s.${pg.escapeIdentifier(vectorizer.config.loading.column_name)}`;
  const taking = take
    ? `, taken AS (DELETE FROM ${n.queue} q USING ${keyRows(n)}
                    WHERE ${n.matches('q', 'k')}
                      AND NOT EXISTS (SELECT FROM placed p WHERE p.fate OPERATOR(pg_catalog.=) 'left' AND p.key OPERATOR(pg_catalog.=) ${n.keyObject('k')})
                RETURNING ${n.keyObject('q')} AS key, q.loading_retries AS retries)`
    : '';
  const { rows } = await client.query(
    `WITH sized AS (
       SELECT ${n.keyObject('k')} AS key, l.too_long,
              CASE WHEN NOT l.too_long AND l.bytes OPERATOR(pg_catalog.<=) $4::pg_catalog.int8
                   THEN (SELECT pg_catalog.to_jsonb(c) FROM (SELECT ${columns.join(', ')}) c) END AS row
         FROM ${n.source} s JOIN ${keyRows(n)} ON ${n.matches('s', 'k')}
        CROSS JOIN LATERAL (SELECT coalesce(CASE WHEN pg_catalog.octet_length(${loaded}) OPERATOR(pg_catalog.<=) $2::pg_catalog.int4 THEN false
                                                 WHEN pg_catalog.octet_length(${loaded}) OPERATOR(pg_catalog.>) $3::pg_catalog.int4 THEN true
                                                 ELSE pg_catalog.char_length(${loaded}) OPERATOR(pg_catalog.>) $2::pg_catalog.int4 END, false) AS too_long,
                                   ${textBytes(columns)} AS bytes) l),
     measured AS (SELECT key, too_long, row, pg_catalog.octet_length(row::pg_catalog.text)::pg_catalog.int8 AS size FROM sized),
     placed AS (
       SELECT key, row,
              CASE WHEN too_long THEN 'too long'
                   WHEN size IS NULL OR size OPERATOR(pg_catalog.>) $4::pg_catalog.int8 THEN 'oversized'
                   WHEN pg_catalog.sum(size) FILTER (WHERE size OPERATOR(pg_catalog.<=) $4::pg_catalog.int8) OVER (ORDER BY key ROWS UNBOUNDED PRECEDING)
                          OPERATOR(pg_catalog.>) $4::pg_catalog.int8 THEN 'left'
                   ELSE 'read' END AS fate
         FROM measured)${taking}
     SELECT CASE WHEN p.fate OPERATOR(pg_catalog.=) 'read' THEN p.row END AS row, CASE WHEN p.fate OPERATOR(pg_catalog.<>) 'read' THEN p.key END AS key,
            p.fate, NULL::pg_catalog.int4 AS retries
       FROM placed p
     ${take ? `UNION ALL SELECT NULL, t.key, 'taken', t.retries FROM taken t` : ''}`,
    // Characters of up to four bytes: more bytes than four a character are too many characters, and fewer than one
    // too few, without counting them.
    [JSON.stringify(keys), MAX_INPUT, 4 * MAX_INPUT, MAX_READ_BYTES],
  );
  const keysOf = (fate: string) => rows.filter((row) => row.fate === fate).map((row) => row.key as Record<string, unknown>);
  return {
    rows: rows.filter((row) => row.fate === 'read').map((row) => row.row as Record<string, unknown>),
    tooLong: keysOf('too long'),
    oversized: keysOf('oversized'),
    left: keysOf('left'),
    taken: rows.filter((row) => row.fate === 'taken').map((row) => ({ key: row.key as Record<string, unknown>, retries: Number(row.retries ?? 0) })),
  };
}
