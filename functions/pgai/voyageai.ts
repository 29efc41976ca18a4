// pgai's Voyage AI functions (its sql/idempotent/017-voyageai.sql): the embedding of a text, and of texts by
// index, with pgai's arguments (input_type before the key, as pgai has it).

import type { PgaiSettings } from '../../src/providers/pgai/index.js';
import { declareFunction, type CallContext, type FunctionDeclaration } from '../declaration.js';
import { API_KEY, nullable, VERBOSE } from './arguments.js';
import { endpoint } from './endpoint.js';
import { embedText, embedTexts, given, INDEXED_EMBEDDINGS, required } from './requests.js';

const SCHEMA = 'ai';

const embeddingArguments = (input: { name: string; type: string }) => [{ name: 'model', type: 'text' }, input, nullable('input_type', 'text'), ...API_KEY, VERBOSE];

async function settings(context: CallContext, args: Record<string, unknown>): Promise<PgaiSettings> {
  const model = required<string>(args, 'model');
  const { baseUrl, apiKey } = await endpoint(context, 'voyageai', args);
  return { api: 'voyageai', model, baseUrl, apiKey, embedding: given(args, { input_type: 'input_type' }) };
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
];
