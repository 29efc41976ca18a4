// pg_llm's enable_rag: a chat call may ask for the knowledge corpus's chunks most like its prompt to be given to the
// model with it. Options: enable_rag (true), rag_limit (chunks, default 3), rag_min_similarity (cosine, default 0.1), and
// the search's embedding_instance and lexical_weight. No chunk similar enough: the prompt goes alone.

import { recordStep } from '../src/catalog/trace.js';
import { PgError } from '../proxy/pg-error.js';
import type { CallContext } from './declaration.js';
import { findKnowledge } from './knowledge-search.js';

const DEFAULT_RAG_LIMIT = 3;
const DEFAULT_RAG_MIN_SIMILARITY = 0.1;

/** A chunk the model was given: which, from where, how similar to the prompt. */
export interface KnowledgeUsed {
  chunk_id: number;
  source_name: string;
  similarity: number;
}

export interface Grounded {
  prompt: string;
  knowledge: KnowledgeUsed[];
}

export async function grounded(context: CallContext, prompt: string, options: Record<string, unknown>): Promise<Grounded> {
  if (options.enable_rag === undefined || options.enable_rag === false) return { prompt, knowledge: [] };
  if (options.enable_rag !== true) throw new PgError('22023', 'enable_rag must be true or false');
  const { rows } = await findKnowledge(context, prompt, {
    limit: options.rag_limit ?? DEFAULT_RAG_LIMIT,
    min_similarity: options.rag_min_similarity ?? DEFAULT_RAG_MIN_SIMILARITY,
    ...(options.embedding_instance === undefined ? {} : { embedding_instance: options.embedding_instance }),
    ...(options.lexical_weight === undefined ? {} : { lexical_weight: options.lexical_weight }),
  });
  const knowledge = rows.map((row) => ({ chunk_id: Number(row.chunk_id), source_name: String(row.source_name), similarity: Number(row.similarity) }));
  await recordStep(context, 'rag', { chunks: knowledge });
  if (rows.length === 0) return { prompt, knowledge };
  const excerpts = rows.map((row, i) => `[${i + 1}] (${String(row.source_name)}) ${String(row.content)}`).join('\n\n');
  return {
    prompt: `Use the following excerpts from the knowledge base where they help to answer; say so if they do not.\n\n${excerpts}\n\nQuestion: ${prompt}`,
    knowledge,
  };
}
