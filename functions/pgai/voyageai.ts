// pgai's Voyage AI functions (its sql/idempotent/017-voyageai.sql): the embedding of a text, and of texts by
// index, with pgai's arguments (input_type before the key, as pgai has it), and the reranking of documents, as
// pgai's JSON ({results: [{index, document, relevance_score}], total_tokens}) or as rows.

import { scalars } from '../../src/providers/pgai/apis.js';
import type { PgaiSettings } from '../../src/providers/pgai/index.js';
import { declareFunction, type CallContext, type FunctionDeclaration, type ResultRow } from '../declaration.js';
import { API_KEY, nullable, VERBOSE } from './arguments.js';
import { endpoint } from './endpoint.js';
import { askApi, embedText, embedTexts, given, INDEXED_EMBEDDINGS, RERANKED, required } from './requests.js';

const SCHEMA = 'ai';

const embeddingArguments = (input: { name: string; type: string }) => [{ name: 'model', type: 'text' }, input, nullable('input_type', 'text'), ...API_KEY, VERBOSE];

async function settings(context: CallContext, args: Record<string, unknown>): Promise<PgaiSettings> {
  const model = required<string>(args, 'model');
  const { baseUrl, apiKey } = await endpoint(context, 'voyageai', args);
  return { api: 'voyageai', model, baseUrl, apiKey, embedding: given(args, { input_type: 'input_type' }) };
}

const rerankArguments = [
  { name: 'model', type: 'text' },
  { name: 'query', type: 'text' },
  { name: 'documents', type: 'text[]' },
  ...API_KEY,
  nullable('top_k', 'integer'),
  nullable('truncation', 'boolean'),
  VERBOSE,
];

/** Voyage AI's reranking as pgai hands it on: each result with its document's text, and the tokens used. */
async function rerank(context: CallContext, args: Record<string, unknown>): Promise<{ results: ResultRow[]; total_tokens: unknown }> {
  const documents = required<string[]>(args, 'documents');
  const body = { query: required(args, 'query'), documents, model: required(args, 'model'), ...given(args, { top_k: 'top_k', truncation: 'truncation' }) };
  const answer = (await askApi(context, await settings(context, args), 'ai.voyageai_rerank', { kind: 'rerank', path: '/rerank', body, reads: { fields: { data: { first: documents.length, items: scalars('index', 'relevance_score') }, usage: scalars('total_tokens') } } })) as {
    data?: Array<{ index: number; relevance_score: number }>;
    usage?: { total_tokens?: unknown };
  };
  const results = (answer.data ?? []).map(({ index, relevance_score }) => ({ index, document: documents[index] ?? null, relevance_score }));
  return { results, total_tokens: answer.usage?.total_tokens ?? null };
}

export const voyageAiFunctions: FunctionDeclaration[] = [
  declareFunction({
    schema: SCHEMA,
    name: 'voyageai_embed',
    arguments: embeddingArguments({ name: 'input_text', type: 'text' }),
    result: { kind: 'scalar', type: 'vector' },
    strict: false,
    description: "Voyage AI's embedding of a text (pgai). NULL for a NULL text.",
    run: (args, context) => embedText(context, () => settings(context, args), 'ai.voyageai_embed', args.input_text),
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'voyageai_embed',
    arguments: embeddingArguments({ name: 'input_texts', type: 'text[]' }),
    result: INDEXED_EMBEDDINGS,
    strict: false,
    description: "Voyage AI's embeddings of texts, by their index from 0 (pgai).",
    run: (args, context) => embedTexts(context, () => settings(context, args), 'ai.voyageai_embed', args.input_texts),
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'voyageai_rerank',
    arguments: rerankArguments,
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: "Voyage AI's reranking of the documents for the query (pgai).",
    run: (args, context) => rerank(context, args),
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'voyageai_rerank_simple',
    arguments: rerankArguments,
    result: RERANKED,
    strict: false,
    description: "Voyage AI's reranking of the documents for the query, most relevant first (pgai).",
    run: async (args, context) => (await rerank(context, args)).results,
  }),
];
