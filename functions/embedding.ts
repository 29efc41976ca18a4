// The embeddings of the knowledge functions: a registered model instance's, through its provider and batched to its
// limit, or, where none is named, the proxy's built-in local embedding (src/providers/local-embedding.ts), which
// needs no model at all. Vectors compare only with vectors of the same model and dimensions.

import { loadModel } from '../src/catalog/models.js';
import { embedTexts, providerFor } from '../src/providers/index.js';
import { DEFAULT_LOCAL_DIMENSIONS } from '../src/providers/local-embedding.js';
import { localVectors } from '../src/providers/local-vectors.js';
import type { CallContext } from './declaration.js';

/** The model name recorded for the local embedding. */
const LOCAL_MODEL = 'local';

export interface Embedding {
  /** The model instance that embedded; null for the local embedding. */
  instance: string | null;
  /** The model as its provider named it in the answer. */
  model: string;
  dimensions: number;
}

export interface Embedded {
  embedding: Embedding;
  /** One per text, in their order. */
  vectors: number[][];
  promptTokens: number;
  latencyMs: number;
}

/** Embeds all the texts with the instance (null: the local embedding); an instance's in as few requests as it allows. */
export async function embed(context: CallContext, instance: string | null, texts: string[]): Promise<Embedded> {
  const started = performance.now();
  const done = (model: string, vectors: number[][], promptTokens: number): Embedded => ({
    embedding: { instance, model, dimensions: vectors[0]?.length ?? 0 },
    vectors,
    promptTokens,
    latencyMs: Math.round(performance.now() - started),
  });
  if (instance === null) return done(LOCAL_MODEL, await localVectors(texts, DEFAULT_LOCAL_DIMENSIONS, context.signal), 0);
  const model = await loadModel(context, instance);
  const result = await embedTexts(providerFor(instance, model.config, model.apiKey), texts, context.signal, await context.asker());
  return done(result.model, result.vectors, result.usage.promptTokens);
}

/** What an audit row tells of an embedding. */
export function embeddingMetadata({ embedding, promptTokens, latencyMs }: Embedded): Record<string, unknown> {
  return { embedding_model: embedding.model, dimensions: embedding.dimensions, prompt_tokens: promptTokens, latency_ms: latencyMs };
}
