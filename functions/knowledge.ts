// pg_llm's knowledge corpus: documents cut into chunks and embedded (all chunks of a document in as few requests
// as the provider allows) with the options' embedding_instance or the proxy's local embedding, and searched
// (knowledge-search.ts).

import { recordCall } from '../src/catalog/audit.js';
import { addDocument } from '../src/catalog/knowledge.js';
import { PgError } from '../proxy/pg-error.js';
import { optionsObject } from './answer.js';
import { chunkOptions, chunkText } from './chunking.js';
import { declareFunction, type CallContext, type ResultRow } from './declaration.js';
import { embed, embeddingMetadata } from './embedding.js';
import { embeddingInstance, findKnowledge } from './knowledge-search.js';

async function addKnowledge(args: Record<string, unknown>, context: CallContext): Promise<string> {
  const sourceName = required(args, 'source_name');
  const content = required(args, 'content');
  const options = optionsObject(args.options);
  const metadata = args.metadata ?? {};
  if (content.trim() === '') throw new PgError('22023', 'content is empty: there is nothing to add');
  const chunks = chunkText(content, chunkOptions(options));
  const embedded = await embed(context, embeddingInstance(options) ?? null, chunks);
  const documentId = await addDocument(context, { sourceName, content, metadata, embedding: embedded.embedding, chunks, vectors: embedded.vectors });
  await recordCall(context, {
    eventType: 'add_knowledge',
    instanceName: embedded.embedding.instance,
    success: true,
    confidence: null,
    metadata: { document_id: Number(documentId), chunks: chunks.length, ...embeddingMetadata(embedded) },
  });
  return documentId;
}

async function searchKnowledge(args: Record<string, unknown>, context: CallContext): Promise<ResultRow[]> {
  const text = required(args, 'query');
  const options = optionsObject(args.options);
  const started = performance.now();
  const { rows, embeddings } = await findKnowledge(context, text, options);
  await recordCall(context, {
    eventType: 'search_knowledge',
    instanceName: embeddingInstance(options) ?? null,
    success: true,
    confidence: null,
    metadata: { embeddings, rows: rows.length, latency_ms: Math.round(performance.now() - started) },
  });
  return rows;
}

function required(args: Record<string, unknown>, name: string): string {
  if (args[name] === null) throw new PgError('22004', `${name} must not be null`);
  return String(args[name]);
}

export const knowledgeFunctions = [
  declareFunction({
    name: 'pg_llm_add_knowledge',
    arguments: [
      { name: 'source_name', type: 'text' },
      { name: 'content', type: 'text' },
      { name: 'metadata', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" },
      { name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" },
    ],
    result: { kind: 'scalar', type: 'bigint' },
    strict: false,
    description: 'Adds a document to the knowledge corpus, cut into chunks and embedded; returns its id. Options: chunk_size, chunk_overlap, embedding_instance.',
    run: addKnowledge,
  }),
  declareFunction({
    name: 'pg_llm_search_knowledge',
    arguments: [
      { name: 'query', type: 'text' },
      { name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" },
    ],
    result: {
      kind: 'table',
      columns: [
        { name: 'chunk_id', type: 'bigint' },
        { name: 'document_id', type: 'bigint' },
        { name: 'chunk_index', type: 'integer' },
        { name: 'source_name', type: 'text' },
        { name: 'content', type: 'text' },
        { name: 'similarity', type: 'real' },
        { name: 'metadata', type: 'jsonb' },
      ],
    },
    strict: false,
    description: 'The knowledge chunks most like the query: cosine similarity plus a lexical boost. Options: limit, min_similarity, lexical_weight, embedding_instance.',
    run: searchKnowledge,
  }),
];
