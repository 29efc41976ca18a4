// The knowledge corpus: documents and their chunks, each chunk with its embedding and the `search` tsvector
// PostgreSQL keeps of it, written and searched in the caller's session. A document records the embedding its chunks
// were embedded with, and a search compares a query only with chunks of the same model and dimensions.

import type { Embedding } from '../../functions/embedding.js';
import type { CallContext, ResultRow } from '../../functions/declaration.js';
import { mapWithTurns } from '../event-loop-turns.js';
import { MAX_READ_BYTES, measuredRead } from './measured-read.js';
import { storedJson } from './stored-json.js';

const DOCUMENTS = '_pg_llm_catalog.pg_llm_knowledge_documents';
const CHUNKS = '_pg_llm_catalog.pg_llm_knowledge_chunks';
/** Chunks sent in one INSERT, so that a statement stays a few megabytes even with long embeddings. */
const CHUNKS_PER_INSERT = 500;

export interface NewDocument {
  sourceName: string;
  content: string;
  metadata: unknown;
  embedding: Embedding;
  chunks: string[];
  /** One per chunk. */
  vectors: number[][];
}

/** The query embedded one way, and the chunks it is compared with: those embedded the same way. */
export interface QueryVector {
  embedding: Embedding;
  vector: number[];
}

export interface KnowledgeSearch {
  text: string;
  vectors: QueryVector[];
  limit: number;
  minSimilarity: number;
  /** How much the share of the query's words found in a chunk adds to its rank. */
  lexicalWeight: number;
}

/** Stores the document and its chunks; returns the document's id. */
export async function addDocument(context: CallContext, document: NewDocument): Promise<string> {
  const { embedding } = document;
  const [row] = await context.query(
    `INSERT INTO ${DOCUMENTS} (source_name, content, metadata, embedding_instance, embedding_owner, embedding_model, embedding_dimensions)
     VALUES ($1, $2, $3::pg_catalog.jsonb, $4, $5, $6, $7::integer) RETURNING id`,
    [document.sourceName, document.content, JSON.stringify(document.metadata), embedding.instance, embedding.owner, embedding.model, String(embedding.dimensions)],
  );
  const documentId = row!.id!;
  for (let start = 0; start < document.chunks.length; start += CHUNKS_PER_INSERT) {
    const chunks = document.chunks.slice(start, start + CHUNKS_PER_INSERT).map((content, i) => ({ chunk_index: start + i, content, embedding: document.vectors[start + i] }));
    // real[] goes into the embedding column whichever its type: pgvector's vector takes it by assignment.
    await context.query(
      `INSERT INTO ${CHUNKS} (document_id, chunk_index, content, embedding)
       SELECT $1::bigint, c.chunk_index, c.content, c.embedding FROM pg_catalog.jsonb_to_recordset($2::pg_catalog.jsonb) AS c(chunk_index integer, content pg_catalog.text, embedding real[])`,
      [documentId, JSON.stringify(chunks)],
    );
  }
  return documentId;
}

/**
 * The embeddings the caller's own knowledge uses, one per model and dimensions, each with the instance that last
 * embedded that way and the role that had registered it: the way to embed a query for comparing with those chunks. Only the caller's own: a role that
 * sees every row (an admin) would otherwise send its queries to whatever server another role's documents were
 * embedded with, and let that role choose which of its chunks rank first.
 */
export async function embeddingsInUse(context: CallContext): Promise<Embedding[]> {
  const rows = await context.query(
    `SELECT DISTINCT ON (embedding_model, embedding_dimensions) embedding_instance, embedding_owner, embedding_model, embedding_dimensions
       FROM ${DOCUMENTS} WHERE embedding_model IS NOT NULL AND role_name OPERATOR(pg_catalog.=) current_user
      ORDER BY embedding_model, embedding_dimensions, id DESC`,
  );
  return rows.map((row) => ({
    instance: row.embedding_instance ?? null,
    owner: row.embedding_owner ?? null,
    model: row.embedding_model!,
    dimensions: Number(row.embedding_dimensions),
  }));
}

/**
 * The caller's own chunks most like the query, ranked by cosine similarity plus the lexical boost: the share of the
 * query's words (as the `simple` text search configuration splits them, like the chunks' `search` column) that the
 * chunk contains, times lexicalWeight. `similarity` is the cosine similarity alone. Only the caller's own, even for a
 * role that sees every row: what grounds its prompts (enable_rag) must not be text another role chose.
 */
export async function searchChunks(context: CallContext, search: KnowledgeSearch): Promise<ResultRow[]> {
  const queries = search.vectors.map(({ embedding, vector }) => ({ model: embedding.model, dimensions: embedding.dimensions, vector }));
  const rows = await measuredRead(
    context,
    {
      rows: `WITH query AS (SELECT * FROM pg_catalog.jsonb_to_recordset($1::pg_catalog.jsonb) AS q(model pg_catalog.text, dimensions integer, vector real[])),
                  words AS (SELECT pg_catalog.tsvector_to_array(pg_catalog.to_tsvector('simple', $2)) AS list),
                  scored AS (
                    SELECT c.id AS chunk_id, c.document_id, c.chunk_index, d.source_name, c.content, d.metadata,
                           _pg_llm_catalog.cosine_similarity(c.embedding, q.vector) AS similarity,
                           CASE WHEN pg_catalog.cardinality(w.list) OPERATOR(pg_catalog.>) 0
                             THEN (pg_catalog.length(c.search) OPERATOR(pg_catalog.-) pg_catalog.length(pg_catalog.ts_delete(c.search, w.list)))::real
                                  OPERATOR(pg_catalog./) pg_catalog.cardinality(w.list)
                             ELSE 0 END AS lexical
                      FROM query q
                      JOIN ${DOCUMENTS} d ON d.embedding_model OPERATOR(pg_catalog.=) q.model AND d.embedding_dimensions OPERATOR(pg_catalog.=) q.dimensions AND d.role_name OPERATOR(pg_catalog.=) current_user
                      JOIN ${CHUNKS} c ON c.document_id OPERATOR(pg_catalog.=) d.id
                     CROSS JOIN words w)
             SELECT chunk_id, document_id, chunk_index, source_name, content, similarity, metadata::pg_catalog.text AS metadata,
                    similarity OPERATOR(pg_catalog.+) ($4::real OPERATOR(pg_catalog.*) lexical) AS rank
               FROM scored
              WHERE similarity OPERATOR(pg_catalog.>=) $3::real
              ORDER BY rank DESC, chunk_id
              LIMIT $5::integer`,
      columns: ['chunk_id', 'document_id', 'chunk_index', 'source_name', 'content', 'similarity', 'metadata'],
      measured: ['source_name', 'content', 'metadata'],
      order: 'rank DESC, chunk_id',
    },
    [JSON.stringify(queries), search.text, String(search.minSimilarity), String(search.lexicalWeight), String(search.limit)],
    {
      message: `the chunks a knowledge search found are larger than it reads (${MAX_READ_BYTES} bytes, their documents' names and metadata included)`,
      hint: "Ask for fewer results (the limit option), or make the documents' metadata smaller.",
    },
  );
  return mapWithTurns(rows, (row) => ({ ...row, chunk_index: Number(row.chunk_index), similarity: Number(row.similarity), metadata: storedJson(row.metadata!, `the metadata of chunk ${row.chunk_id}`) }));
}
