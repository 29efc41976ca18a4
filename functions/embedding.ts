// The embeddings of the knowledge functions: a registered model instance's, through its provider and batched to its
// limit, or, where none is named, the proxy's built-in local embedding (src/providers/local-embedding.ts), which
// needs no model at all. Vectors compare only with vectors of the same model and dimensions.

import { PgError } from '../proxy/pg-error.js';
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
  /** The role that had registered that instance; null for the local embedding (and knowledge stored before it was kept). */
  owner: string | null;
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

/**
 * Embeds all the texts with the instance (null: the local embedding); an instance's in as few requests as it allows.
 * `stored`: the embedding of stored knowledge that the texts are embedded like, its instance named by that knowledge,
 * not by the caller: the name is used only while the role that registered it then still owns it (any role may
 * register a name that was removed, on a server of its own), or, for knowledge that did not record that role, only
 * as a name written for the caller (models.ts, Reference).
 */
export async function embed(context: CallContext, instance: string | null, texts: string[], stored?: Embedding): Promise<Embedded> {
  const started = performance.now();
  const done = (model: string, owner: string | null, vectors: number[][], promptTokens: number): Embedded => ({
    embedding: { instance, owner, model, dimensions: vectors[0]?.length ?? 0 },
    vectors,
    promptTokens,
    latencyMs: Math.round(performance.now() - started),
  });
  if (instance === null) return done(LOCAL_MODEL, null, await localVectors(texts, DEFAULT_LOCAL_DIMENSIONS, context.signal), 0);
  const source = `the knowledge embedded with model instance "${instance}"`;
  const model = await loadModel(context, instance, stored && stored.owner === null ? { role: null, source } : undefined);
  if (stored?.owner && model.owner !== stored.owner) {
    throw new PgError('42501', `model instance "${instance}", named by ${source}, is now registered by role "${model.owner}", not by "${stored.owner}", who had registered it then`, {
      hint: 'Search with {"embedding_instance": …} naming the instance to embed the query with, or add that knowledge again.',
    });
  }
  const result = await embedTexts(providerFor(instance, model.config, model.apiKey), texts, context.signal, await context.asker());
  return done(result.model, model.owner, result.vectors, result.usage.promptTokens);
}

/** What an audit row tells of an embedding. */
export function embeddingMetadata({ embedding, promptTokens, latencyMs }: Embedded): Record<string, unknown> {
  return { embedding_model: embedding.model, dimensions: embedding.dimensions, prompt_tokens: promptTokens, latency_ms: latencyMs };
}
