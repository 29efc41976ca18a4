// Stored vectors (pg_llm_store_vector, pg_llm_search_vectors) in _pg_llm_catalog.pg_llm_vectors, written and searched
// in the caller's session. Vectors travel as real[], which the catalog's columns take whether they are real[] or
// pgvector's vector (an assignment cast); cosine_similarity compares on either and leaves vectors of another length
// out (catalog-migrations/idempotent/002_vectors.sql).

import type { CallContext, ResultRow } from '../../functions/declaration.js';
import { mapWithTurns } from '../event-loop-turns.js';
import { MAX_READ_BYTES, measuredRead } from './measured-read.js';
import { storedJson } from './stored-json.js';

const VECTORS = '_pg_llm_catalog.pg_llm_vectors';

export interface StoredVector {
  tableName: string;
  columnName: string;
  rowId: string;
  vector: number[];
  metadata: unknown;
}

export interface VectorSearch {
  vector: number[];
  limit: number;
  threshold: number;
}

/** Stores the vector; returns its id. Metadata NULL is stored as {}, as pg_llm does. */
export async function storeVector(context: CallContext, stored: StoredVector): Promise<string> {
  const [row] = await context.query(
    `INSERT INTO ${VECTORS} (table_name, column_name, row_id, embedding, metadata)
     VALUES ($1, $2, $3::bigint, $4::real[], coalesce($5::pg_catalog.jsonb, '{}'::pg_catalog.jsonb)) RETURNING id`,
    [stored.tableName, stored.columnName, stored.rowId, realArray(stored.vector), stored.metadata === null ? null : JSON.stringify(stored.metadata)],
  );
  return row!.id!;
}

/** The stored vectors most similar to the query, most similar first, at least as similar as the threshold. */
export async function searchVectors(context: CallContext, search: VectorSearch): Promise<ResultRow[]> {
  const rows = await measuredRead(
    context,
    {
      rows: `SELECT id, table_name, column_name, row_id, similarity, metadata::pg_catalog.text AS metadata
               FROM (SELECT v.id, v.table_name, v.column_name, v.row_id, v.metadata,
                            _pg_llm_catalog.cosine_similarity(v.embedding, $1::real[]) AS similarity
                       FROM ${VECTORS} v) AS scored
              WHERE similarity OPERATOR(pg_catalog.>=) $2::real
              ORDER BY similarity DESC, id
              LIMIT $3::integer`,
      columns: ['id', 'table_name', 'column_name', 'row_id', 'similarity', 'metadata'],
      measured: ['table_name', 'column_name', 'metadata'],
      order: 'similarity DESC, id',
    },
    [realArray(search.vector), String(search.threshold), String(search.limit)],
    {
      message: `the stored vectors a search found are larger than it reads (${MAX_READ_BYTES} bytes, their names and metadata, 1 kB counted for each)`,
      hint: 'Ask for fewer (limit_count), or store smaller metadata.',
    },
  );
  return mapWithTurns(rows, (row) => ({ ...row, similarity: Number(row.similarity), metadata: storedJson(row.metadata ?? 'null', `the metadata of stored vector ${row.id}`) }));
}

/** A real[] parameter in PostgreSQL's array text. */
function realArray(vector: number[]): string {
  return `{${vector.join(',')}}`;
}
