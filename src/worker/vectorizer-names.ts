// The quoted names of a vectorizer's tables and columns, and the SQL the worker's statements build from them: the
// vectorizer's row names them, and each is quoted as an identifier wherever it is written into a statement.

import pg from 'pg';
import type { Vectorizer } from './vectorizers.js';

export type Names = ReturnType<typeof names>;

/** The quoted names a batch's statements use. */
export function names(vectorizer: Vectorizer) {
  const quoted = (schema: string, table: string) => `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
  const keys = [...vectorizer.sourcePk].sort((a, b) => a.pknum - b.pknum).map((column) => pg.escapeIdentifier(column.attname));
  const { destination } = vectorizer.config;
  return {
    source: quoted(vectorizer.sourceSchema, vectorizer.sourceTable),
    /** The store table, or (ai.destination_column) none: the embedding column of the source. */
    store: destination.implementation === 'column' ? undefined : quoted(destination.target_schema!, destination.target_table!),
    column: destination.embedding_column,
    queue: quoted(vectorizer.queueSchema, vectorizer.queueTable),
    failedQueue: quoted(vectorizer.queueSchema, vectorizer.queueFailedTable),
    /** The key's columns, quoted, in the key's order. */
    keyColumns: keys,
    keyList: keys.join(', '),
    /** The key of row t (a queue row, or a key's) as a record's text, which names its advisory lock. */
    keyText: (t: string) => `ROW(${keys.map((key) => `${t}.${key}`).join(', ')})::pg_catalog.text`,
    /** The key of row t, as to_jsonb gives it. */
    keyObject: (t: string) =>
      `pg_catalog.jsonb_build_object(${vectorizer.sourcePk.map((column) => `${pg.escapeLiteral(column.attname)}::pg_catalog.text, ${t}.${pg.escapeIdentifier(column.attname)}`).join(', ')})`,
    /** t's key columns equal to k's. */
    matches: (t: string, k: string) => keys.map((key) => `${t}.${key} OPERATOR(pg_catalog.=) ${k}.${key}`).join(' AND '),
  };
}

/** The keys given as parameter `parameter` (a jsonb array), as rows k of the queue's type. */
export function keyRows(n: Names, parameter = '$1'): string {
  return `pg_catalog.jsonb_populate_recordset(NULL::${n.queue}, ${parameter}::pg_catalog.jsonb) k`;
}
