// pg_llm's knowledge corpus: documents cut into chunks and embedded (all chunks of a document in as few requests
// as the provider allows), and a search that ranks chunks by cosine similarity to the query plus a lexical boost.
// The embedding is the options' embedding_instance, or the proxy's local embedding; a search embeds its query the
// way the stored chunks were embedded, so it never compares vectors of different models.

import { recordCall } from '../src/catalog/audit.js';
import { addDocument, embeddingsInUse, searchChunks, type QueryVector } from '../src/catalog/knowledge.js';
import { PgError } from '../proxy/pg-error.js';
import { optionsObject } from './answer.js';
import { chunkOptions, chunkText } from './chunking.js';
import { declareFunction, type CallContext, type ResultRow } from './declaration.js';
import { embed, embeddingMetadata, type Embedding } from './embedding.js';

const DEFAULT_LIMIT = 5;
const DEFAULT_LEXICAL_WEIGHT = 0.2;

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
  const limit = options.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || (limit as number) < 0) throw invalid('limit must be a whole number, 0 or more');
  const minSimilarity = options.min_similarity ?? -1;
  if (typeof minSimilarity !== 'number' || minSimilarity < -1 || minSimilarity > 1) throw invalid('min_similarity must be a number from -1 to 1');
  const lexicalWeight = options.lexical_weight ?? DEFAULT_LEXICAL_WEIGHT;
  if (typeof lexicalWeight !== 'number' || lexicalWeight < 0) throw invalid('lexical_weight must be a number, 0 or more');
  const instance = embeddingInstance(options);
  const started = performance.now();
  const vectors = instance === undefined ? await asStored(context, text) : [await queryVector(context, instance, text)];
  const rows = await searchChunks(context, { text, vectors, limit: limit as number, minSimilarity, lexicalWeight });
  await recordCall(context, {
    eventType: 'search_knowledge',
    instanceName: instance ?? null,
    success: true,
    confidence: null,
    metadata: { embeddings: vectors.map(({ embedding }) => embedding), rows: rows.length, latency_ms: Math.round(performance.now() - started) },
  });
  return rows;
}

/** The query embedded once for each embedding the stored knowledge uses, each the way its chunks were. */
async function asStored(context: CallContext, text: string): Promise<QueryVector[]> {
  const vectors: QueryVector[] = [];
  for (const stored of await embeddingsInUse(context)) {
    const query = await queryVector(context, stored.instance, text).catch((error: unknown) => {
      throw error instanceof PgError && error.sqlstate === '42704' ? unreachable(stored, error) : error;
    });
    if (query.embedding.model !== stored.model || query.embedding.dimensions !== stored.dimensions) throw changed(stored, query.embedding);
    vectors.push(query);
  }
  return vectors;
}

async function queryVector(context: CallContext, instance: string | null, text: string): Promise<QueryVector> {
  const { embedding, vectors } = await embed(context, instance, [text]);
  return { embedding, vector: vectors[0]! };
}

/**
 * The options' embedding_instance: a model instance's name, null for the local embedding, undefined when not given
 * (a search then embeds as the stored knowledge was embedded; adding uses the local embedding).
 */
function embeddingInstance(options: Record<string, unknown>): string | null | undefined {
  const instance = options.embedding_instance;
  if (instance === undefined || instance === null || typeof instance === 'string') return instance;
  throw invalid('embedding_instance must be the name of a model instance');
}

function required(args: Record<string, unknown>, name: string): string {
  if (args[name] === null) throw new PgError('22004', `${name} must not be null`);
  return String(args[name]);
}

function unreachable(stored: Embedding, error: PgError): PgError {
  return new PgError('42704', `${error.message} (knowledge embedded with model instance "${stored.instance}" as ${stored.model} is searched by embedding the query with it)`, {
    hint: 'Register the model instance again, or search with {"embedding_instance": …} to search only the knowledge of another embedding.',
  });
}

function changed(stored: Embedding, now: Embedding): PgError {
  return new PgError('22023', `model instance "${stored.instance}" now embeds with ${now.model} (${now.dimensions} dimensions), but knowledge was embedded with it as ${stored.model} (${stored.dimensions} dimensions)`, {
    hint: 'Add that knowledge again with the new embedding, or search with {"embedding_instance": …} naming an instance that embeds as it was embedded.',
  });
}

function invalid(message: string): PgError {
  return new PgError('22023', `invalid knowledge options: ${message}`);
}

export const knowledgeFunctions = [
  declareFunction({
    name: 'pg_llm_add_knowledge',
    arguments: [
      { name: 'source_name', type: 'text' },
      { name: 'content', type: 'text' },
      { name: 'metadata', type: 'jsonb', default: "'{}'::jsonb" },
      { name: 'options', type: 'jsonb', default: "'{}'::jsonb" },
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
      { name: 'options', type: 'jsonb', default: "'{}'::jsonb" },
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
