// llm_rerank on a rerank model of Cohere's or Voyage AI's, named 'cohere:<model>' or 'voyageai:<model>': pgai's
// rerank function of that provider asks, finding its server and key as it does (SET ai.cohere_api_key, the proxy's
// COHERE_API_KEY…), and its results become llm_rerank's rows.

import { callArguments, type CallContext, type FunctionDeclaration } from './declaration.js';
import { cohereFunctions } from './pgai/cohere.js';
import { voyageAiFunctions } from './pgai/voyageai.js';

const RERANKERS: Record<string, FunctionDeclaration> = {
  cohere: cohereFunctions.find((declaration) => declaration.name === 'cohere_rerank_simple')!,
  voyageai: voyageAiFunctions.find((declaration) => declaration.name === 'voyageai_rerank_simple')!,
};

export interface Score {
  /** The document's place in the array, from 1. */
  index: number;
  score: number;
}

/** The reranker a model argument names, or undefined when it names a model instance. */
export function rerankModel(model: unknown): { reranker: FunctionDeclaration; name: string } | undefined {
  const named = typeof model === 'string' ? /^(cohere|voyageai):(.+)$/.exec(model) : null;
  return named ? { reranker: RERANKERS[named[1]!]!, name: named[2]! } : undefined;
}

/** The documents by the reranker's relevance score, most relevant first. */
export async function rerankedBy(context: CallContext, model: { reranker: FunctionDeclaration; name: string }, query: string, documents: string[]): Promise<Score[]> {
  const rows = (await model.reranker.run(callArguments(model.reranker, [model.name, query, documents]), context)) as Array<{ index: number; relevance_score: number }>;
  return rows.map(({ index, relevance_score }) => ({ index: index + 1, score: relevance_score })).sort((a, b) => b.score - a.score || a.index - b.index);
}
