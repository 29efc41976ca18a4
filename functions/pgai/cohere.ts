// pgai's Cohere functions (its sql/idempotent/004-cohere.sql) on Cohere's v2 API: an embedding, and a reranking of
// documents answered with Cohere's JSON or as rows, with pgai's arguments.

import { scalars } from '../../src/providers/pgai/apis.js';
import type { PgaiSettings } from '../../src/providers/pgai/index.js';
import type { ApiRequest } from '../../src/providers/provider.js';
import { declareFunction, type CallContext, type FunctionDeclaration } from '../declaration.js';
import { API_KEY, nullable, VERBOSE } from './arguments.js';
import { endpoint } from './endpoint.js';
import { askApi, embedText, given, RERANKED, required } from './requests.js';

const SCHEMA = 'ai';

async function settings(context: CallContext, args: Record<string, unknown>, model: string, embedding?: Record<string, unknown>): Promise<PgaiSettings> {
  const { baseUrl, apiKey } = await endpoint(context, 'cohere', args);
  return { api: 'cohere', model, baseUrl, apiKey, ...(embedding ? { embedding } : {}) };
}

const rerankArguments = [
  { name: 'model', type: 'text' },
  { name: 'query', type: 'text' },
  { name: 'documents', type: 'text[]' },
  ...API_KEY,
  nullable('top_n', 'integer'),
  nullable('max_tokens_per_doc', 'integer'),
  VERBOSE,
];

interface Reranked {
  results?: Array<{ index: number; relevance_score: number }>;
}

/** Cohere's answer: whole, or its results (one for each document at most). */
async function rerank(context: CallContext, args: Record<string, unknown>, reads: ApiRequest['reads']): Promise<unknown> {
  const model = required<string>(args, 'model');
  const body = { model, query: required(args, 'query'), documents: required(args, 'documents'), ...given(args, { top_n: 'top_n', max_tokens_per_doc: 'max_tokens_per_doc' }) };
  return askApi(context, await settings(context, args, model), 'ai.cohere_rerank', { kind: 'rerank', path: '/v2/rerank', body, reads });
}

export const cohereFunctions: FunctionDeclaration[] = [
  declareFunction({
    schema: SCHEMA,
    name: 'cohere_embed',
    arguments: [
      { name: 'model', type: 'text' },
      { name: 'input_text', type: 'text' },
      ...API_KEY,
      nullable('input_type', 'text'),
      nullable('truncate_long_inputs', 'text'),
      VERBOSE,
    ],
    result: { kind: 'scalar', type: 'vector' },
    strict: false,
    description: "Cohere's embedding of a text (pgai). NULL for a NULL text.",
    async run(args, context) {
      const model = required<string>(args, 'model');
      const options = given(args, { input_type: 'input_type', truncate: 'truncate_long_inputs' });
      return embedText(context, () => settings(context, args, model, options), 'ai.cohere_embed', args.input_text);
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'cohere_rerank',
    arguments: rerankArguments,
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: "Cohere's reranking of the documents for the query: Cohere's answer (pgai).",
    run: (args, context) => rerank(context, args, 'whole'),
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'cohere_rerank_simple',
    arguments: rerankArguments,
    result: RERANKED,
    strict: false,
    description: "Cohere's reranking of the documents for the query, most relevant first (pgai).",
    async run(args, context) {
      const documents = required<unknown[]>(args, 'documents');
      const reads: ApiRequest['reads'] = { fields: { results: { first: documents.length, items: scalars('index', 'relevance_score') } } };
      const { results = [] } = (await rerank(context, args, reads)) as Reranked;
      return results.map(({ index, relevance_score }) => ({ index, document: documents[index] ?? null, relevance_score }));
    },
  }),
];
