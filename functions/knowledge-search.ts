// Search of the knowledge corpus: chunks ranked by cosine similarity to the query plus a lexical boost, the query
// embedded the way the stored chunks were (once per embedding in use), so vectors of different models are never
// compared. Used by pg_llm_search_knowledge and by chat calls with enable_rag.

import { embeddingsInUse, searchChunks, type QueryVector } from '../src/catalog/knowledge.js';
import { PgError } from '../proxy/pg-error.js';
import { wholeNumberOption } from './call-options.js';
import type { CallContext, ResultRow } from './declaration.js';
import { embed, type Embedding } from './embedding.js';

const DEFAULT_LIMIT = 5;
/** PostgreSQL's integer range: a LIMIT beyond it is an error of the server's, not the caller's option. */
const MAX_LIMIT = 2_147_483_647;
const DEFAULT_LEXICAL_WEIGHT = 0.2;

export interface KnowledgeFound {
  rows: ResultRow[];
  /** The embeddings the query was compared under. */
  embeddings: Embedding[];
}

/** Options: limit, min_similarity, lexical_weight, embedding_instance. */
export async function findKnowledge(context: CallContext, text: string, options: Record<string, unknown>): Promise<KnowledgeFound> {
  const limit = wholeNumberOption(options, 'limit', DEFAULT_LIMIT, 0, MAX_LIMIT);
  const minSimilarity = options.min_similarity ?? -1;
  if (typeof minSimilarity !== 'number' || minSimilarity < -1 || minSimilarity > 1) throw invalid('min_similarity must be a number from -1 to 1');
  const lexicalWeight = options.lexical_weight ?? DEFAULT_LEXICAL_WEIGHT;
  if (typeof lexicalWeight !== 'number' || lexicalWeight < 0) throw invalid('lexical_weight must be a number, 0 or more');
  const instance = embeddingInstance(options);
  const vectors = instance === undefined ? await asStored(context, text) : [await queryVector(context, instance, text)];
  const rows = await searchChunks(context, { text, vectors, limit, minSimilarity, lexicalWeight });
  return { rows, embeddings: vectors.map(({ embedding }) => embedding) };
}

/** The query embedded once for each embedding the stored knowledge uses, each the way its chunks were. */
async function asStored(context: CallContext, text: string): Promise<QueryVector[]> {
  const vectors: QueryVector[] = [];
  for (const stored of await embeddingsInUse(context)) {
    const query = await queryVector(context, stored.instance, text, stored).catch((error: unknown) => {
      throw error instanceof PgError && error.sqlstate === '42704' ? unreachable(stored, error) : error;
    });
    if (query.embedding.model !== stored.model || query.embedding.dimensions !== stored.dimensions) throw changed(stored, query.embedding);
    vectors.push(query);
  }
  return vectors;
}

async function queryVector(context: CallContext, instance: string | null, text: string, stored?: Embedding): Promise<QueryVector> {
  const { embedding, vectors } = await embed(context, instance, [text], stored);
  return { embedding, vector: vectors[0]! };
}

/**
 * The options' embedding_instance: a model instance's name, null for the local embedding, undefined when not given
 * (a search then embeds as the stored knowledge was embedded; adding uses the local embedding).
 */
export function embeddingInstance(options: Record<string, unknown>): string | null | undefined {
  const instance = options.embedding_instance;
  if (instance === undefined || instance === null || typeof instance === 'string') return instance;
  throw invalid('embedding_instance must be the name of a model instance');
}

function unreachable(stored: Embedding, error: PgError): PgError {
  return new PgError('42704', `${error.message} (knowledge embedded with model instance "${stored.instance}" as ${stored.model} is searched by embedding the query with it)`, {
    hint: 'Register the model instance again, or search with {"embedding_instance": …} to search only the knowledge of another embedding.',
  });
}

function changed(stored: Embedding, now: Embedding): PgError {
  // The local embedding changes only with the proxy's version (64 dimensions before its word features).
  const embedder = stored.instance === null ? 'the local embedding' : `model instance "${stored.instance}"`;
  return new PgError('22023', `${embedder} now embeds with ${now.model} (${now.dimensions} dimensions), but knowledge was embedded with it as ${stored.model} (${stored.dimensions} dimensions)`, {
    hint: 'Add that knowledge again with the new embedding, or search with {"embedding_instance": …} naming an instance that embeds as it was embedded.',
  });
}

function invalid(message: string): PgError {
  return new PgError('22023', `invalid knowledge options: ${message}`);
}
