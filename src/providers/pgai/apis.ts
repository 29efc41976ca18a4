// The provider APIs pgai's functions call, as pgai's Python clients call them: where each lives, how it takes its
// key, and its embeddings endpoint (the rest of each API, pgai's functions call by path: src/providers/pgai/index.ts).

import type { Shape } from '../answers/shape.js';
import { tokenCount, type Usage } from '../provider.js';

export type PgaiApiName = 'openai' | 'anthropic' | 'ollama' | 'cohere' | 'voyageai';

interface Embeddings {
  path: string;
  /** Texts one request may carry: the API's own limit. */
  batchSize: number;
  body(model: string, texts: string[], options: Record<string, unknown>): Record<string, unknown>;
  /** The vectors of an answer, in the order of the texts; undefined when it has none. */
  vectors(answer: unknown): unknown[] | undefined;
  /** What `vectors` and usageOf read of an answer: a big answer is cut down to that (../answers/). */
  shape: Shape;
}

interface ApiShape {
  baseUrl: string;
  authorization(apiKey: string | undefined): Record<string, string>;
  embeddings?: Embeddings;
  /** A chat request's body asking for at most `tokens` answer tokens, in the API's own field. */
  answerLimit(body: Json, tokens: number): Json;
}

type Json = Record<string, any>;

const bearer = (apiKey: string | undefined): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {});

/** max_tokens, unless the body limits the answer with max_completion_tokens (OpenAI refuses both at once). */
const maxTokens = (body: Json, tokens: number): Json => (typeof body.max_completion_tokens === 'number' ? { ...body, max_completion_tokens: tokens } : { ...body, max_tokens: tokens });

/** One more vector than a request may ask for is kept, so that an answer with too many still reads as one. */
const byIndexShape = (batchSize: number): Shape => ({
  fields: {
    model: 'scalar',
    data: { first: batchSize + 1, items: { fields: { index: 'scalar', embedding: 'vector' } } },
    usage: { fields: { prompt_tokens: 'scalar', total_tokens: 'scalar' } },
  },
});

/** data[].embedding by data[].index, as OpenAI and Voyage AI answer (in any order). */
const byIndex = (answer: unknown): unknown[] | undefined => {
  const data = (answer as Json)?.data;
  if (!Array.isArray(data)) return undefined;
  return [...data].sort((a: Json, b: Json) => a.index - b.index).map((item: Json) => item.embedding);
};

export const APIS: Record<PgaiApiName, ApiShape> = {
  openai: {
    baseUrl: 'https://api.openai.com/v1',
    authorization: bearer,
    answerLimit: maxTokens,
    embeddings: {
      path: '/embeddings',
      batchSize: 2048,
      // base64 is a quarter of the float JSON's size (embedding-vectors.ts decodes it).
      body: (model, texts, options) => ({ input: texts, model, encoding_format: 'base64', ...options }),
      vectors: byIndex,
      shape: byIndexShape(2048),
    },
  },
  anthropic: {
    baseUrl: 'https://api.anthropic.com',
    authorization: (apiKey) => ({ 'x-api-key': apiKey ?? '', 'anthropic-version': '2023-06-01' }),
    answerLimit: maxTokens,
  },
  ollama: {
    baseUrl: 'http://localhost:11434',
    authorization: () => ({}),
    answerLimit: (body, tokens) => ({ ...body, options: { ...body.options, num_predict: tokens } }),
    // pgai embeds with Ollama's /api/embeddings, one text a request; /api/embed would return other (normalized) vectors.
    embeddings: {
      path: '/api/embeddings',
      batchSize: 1,
      body: (model, texts, options) => ({ model, prompt: texts[0], ...options }),
      vectors: (answer) => ((answer as Json)?.embedding === undefined ? undefined : [(answer as Json).embedding]),
      shape: { fields: { model: 'scalar', embedding: 'vector', prompt_eval_count: 'scalar', eval_count: 'scalar' } },
    },
  },
  cohere: {
    baseUrl: 'https://api.cohere.com',
    authorization: bearer,
    answerLimit: maxTokens,
    embeddings: {
      path: '/v2/embed',
      batchSize: 96,
      body: (model, texts, options) => ({ model, texts, embedding_types: ['float'], ...options }),
      vectors: (answer) => (answer as Json)?.embeddings?.float,
      shape: {
        fields: {
          embeddings: { fields: { float: { first: 97, items: 'vector' } } },
          meta: { fields: { billed_units: { fields: { input_tokens: 'scalar', output_tokens: 'scalar' } } } },
        },
      },
    },
  },
  voyageai: {
    baseUrl: 'https://api.voyageai.com/v1',
    authorization: bearer,
    // Voyage AI has no chat API.
    answerLimit: (body) => body,
    embeddings: {
      path: '/embeddings',
      batchSize: 1000,
      // Voyage AI's client truncates long texts unless told otherwise.
      body: (model, texts, options) => ({ input: texts, model, truncation: true, ...options }),
      vectors: byIndex,
      shape: byIndexShape(1000),
    },
  },
};

/** An object of which the fields named are read, each a scalar. */
export const scalars = (...names: string[]): { fields: Record<string, Shape> } => ({ fields: Object.fromEntries(names.map((name) => [name, 'scalar' as const])) });

/** What usageOf and the answer's model are read from: all an adapter reads of an answer it hands on whole. */
export const USAGE_SHAPE: Shape = {
  fields: {
    model: 'scalar',
    usage: scalars('prompt_tokens', 'input_tokens', 'total_tokens', 'completion_tokens', 'output_tokens'),
    prompt_eval_count: 'scalar',
    eval_count: 'scalar',
    meta: { fields: { billed_units: scalars('input_tokens', 'output_tokens') } },
  },
};

/**
 * The most items of a list (of models) read: far more than any provider serves, and few enough to read on the event
 * loop every session shares (a role's own server answered a list of 120,000 models).
 */
export const MAX_LISTED = 10_000;

/** A list of objects, of which the fields named are read. */
export const listOf = (...names: string[]): Shape => ({ first: MAX_LISTED, items: scalars(...names) });

/** The tokens an answer says it used, in whichever of the APIs' ways it says so. */
export function usageOf(answer: unknown): Usage {
  const json = (answer ?? {}) as Json;
  const count = (...values: unknown[]): number => tokenCount(values.find((value) => typeof value === 'number'));
  const usage = json.usage ?? {};
  const billed = json.meta?.billed_units ?? {};
  return {
    promptTokens: count(usage.prompt_tokens, usage.input_tokens, json.prompt_eval_count, billed.input_tokens, usage.total_tokens),
    completionTokens: count(usage.completion_tokens, usage.output_tokens, json.eval_count, billed.output_tokens),
  };
}
