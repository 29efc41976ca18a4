// Picks the adapter a model instance's config names and wraps it, outermost first: the watch on how its calls end
// (a failure logged, a cancel counted), the response cache, the batching
// of embeddings asked for one text at a time, the process's and the model's limits, the metering of each request
// the provider really gets, the masking of its secrets in whatever the provider says, then the failing of a stream
// its caller cancelled. Built once per instance config and kept, so its SDK client (and its pooled connections) serve
// every later call.

import { createHash } from 'node:crypto';
import { PgError } from '../../proxy/pg-error.js';
import { BoundedCache } from '../bounded-cache.js';
import { SecretFragments } from '../crypto/secret-fragments.js';
import { abortedStreamsFail } from './aborted-streams.js';
import { anthropicProvider } from './anthropic.js';
import type { Asker } from './asker.js';
import { watched } from './call-outcomes.js';
import { batchedEmbeddings } from './embedding-batcher.js';
import { limited } from './limits.js';
import { metered } from './metrics.js';
import { mockProvider } from './mock.js';
import { openAiProvider } from './openai.js';
import type { EmbedResult, Provider } from './provider.js';
import { redacted } from './redacted.js';
import { cached } from './response-cache.js';

const ADAPTERS: Record<string, (config: Record<string, unknown>, apiKey: string | undefined, instance: string) => Provider> = {
  mock: mockProvider,
  openai: (config, apiKey, instance) => openAiProvider('openai', config, apiKey, instance),
  azure_openai: (config, apiKey, instance) => openAiProvider('azure_openai', config, apiKey, instance),
  ollama: (config, apiKey, instance) => openAiProvider('ollama', config, apiKey, instance),
  openai_compatible: (config, apiKey, instance) => openAiProvider('openai_compatible', config, apiKey, instance),
  anthropic: anthropicProvider,
};

/**
 * Enough for every model a deployment registers (and the pgai calls' settings in use); beyond it the least recently
 * used is rebuilt when next used.
 */
export const MAX_BUILT = 256;
const built = new BoundedCache<string, Provider>(MAX_BUILT);
export const ADAPTER_NAMES = Object.keys(ADAPTERS);

export function providerFor(instanceName: string, config: Record<string, unknown>, apiKey?: string): Provider {
  return remembered([instanceName, config, apiKey ?? null], (key) => build(instanceName, config, apiKey, key));
}

/** The provider built for these settings (a hash of them is its key), built now if it was not, or was evicted. */
export function remembered(settings: unknown, make: (key: string) => Provider): Provider {
  const key = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
  let provider = built.get(key);
  if (!provider) {
    provider = make(key);
    built.set(key, provider);
  }
  return provider;
}

function build(instanceName: string, config: Record<string, unknown>, apiKey: string | undefined, key: string): Provider {
  const name = String(config.provider ?? 'mock');
  const adapter = ADAPTERS[name];
  if (!adapter) {
    throw new PgError('22023', `model instance "${instanceName}" names unknown provider "${name}"`, {
      hint: `Known providers: ${ADAPTER_NAMES.join(', ')}.`,
    });
  }
  const modelName = meteredModelName(config);
  // Every session calling the instance shares its limits, and so do databases that register it alike in all that
  // decides them: the same key (providers count per key) and the same limits. Another database's registration of the
  // same name and server, with other limits or none, gets limits of its own instead of resizing or removing these.
  const modelKey = JSON.stringify([
    instanceName, name, modelName, config.base_url ?? config.endpoint ?? config.api_endpoint ?? null,
    apiKey === undefined ? null : createHash('sha256').update(apiKey).digest('hex'),
    config.max_concurrency ?? null, config.requests_per_minute ?? null, config.tokens_per_minute ?? null,
  ]);
  const provider = redacted(abortedStreamsFail(adapter(config, apiKey, instanceName)), SecretFragments.of(config, apiKey));
  return watched(cached(batchedEmbeddings(limited(metered(provider, name, modelName, config, instanceName), modelKey, config, instanceName)), key), instanceName, name, modelName);
}

/** The name a model instance's requests are metered and priced under (metrics.ts). */
export function meteredModelName(config: Record<string, unknown>): string {
  return String(config.model_name ?? config.deployment ?? config.provider ?? 'mock');
}

/**
 * Embeddings of any number of texts, sent in requests of at most the provider's batch size, one after another, for
 * the asker (see provider.ts).
 */
export async function embedTexts(provider: Provider, texts: string[], signal: AbortSignal, asker?: Asker): Promise<EmbedResult> {
  const all: EmbedResult = { vectors: [], model: '', usage: { promptTokens: 0, completionTokens: 0 } };
  for (let start = 0; start < texts.length; start += provider.embeddingBatchSize) {
    const batch = await provider.embed({ texts: texts.slice(start, start + provider.embeddingBatchSize), signal, asker });
    all.vectors.push(...batch.vectors);
    all.model = batch.model;
    all.usage.promptTokens += batch.usage.promptTokens;
  }
  return all;
}
