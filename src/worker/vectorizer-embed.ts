// A vectorizer's embedding model, from its embedding config (ai.embedding_openai, _ollama, _voyageai), and the
// embeddings of a batch of chunks, in requests that keep to the provider's limits: at most the API's texts a request,
// and at most MAX_REQUEST_TOKENS estimated tokens (OpenAI refuses a request of more than 300,000 tokens; the
// estimate, four characters a token, runs low on some texts, hence the margin).
//
// The key is found as a pgai call's is, but with no session: the proxy's environment only (OPENAI_API_KEY,
// VOYAGE_API_KEY; api_key_name can name no other variable), sent only to the server the operator configured.

import { endpoint, sessionless } from '../../functions/pgai/endpoint.js';
import { hostUrl } from '../../functions/pgai/ollama.js';
import { refuseStoredUrlCredentials } from '../../functions/pgai/vectorizer-config.js';
import { PgError } from '../../proxy/pg-error.js';
import type { DefaultProviders } from '../providers/default-provider.js';
import { pgaiProvider, type PgaiSettings } from '../providers/pgai/index.js';
import type { Provider, Usage } from '../providers/provider.js';
import { estimateTokens } from '../providers/tokens.js';
import type { Chunk } from './vectorizer-text.js';
import type { StoredChunk, Vectorizer } from './vectorizers.js';

export const MAX_REQUEST_TOKENS = 200_000;

/** The provider of the vectorizer's embeddings. */
export async function embeddingProvider(vectorizer: Vectorizer, defaults: DefaultProviders): Promise<Provider> {
  return pgaiProvider(await embeddingSettings(vectorizer, defaults));
}

/** What the vectorizer's embeddings are asked of: API, model, server and key (its batches' too, vectorizer-batches.ts). */
export async function embeddingSettings(vectorizer: Vectorizer, defaults: DefaultProviders): Promise<PgaiSettings> {
  const config = vectorizer.config.embedding;
  refuseStoredUrlCredentials(config, `"${vectorizer.name}"`);
  const noSession = sessionless(defaults);
  const text = (name: string): string | undefined => (typeof config[name] === 'string' ? (config[name] as string) : undefined);
  const keyName = { api_key_name: text('api_key_name') ?? null };
  let settings: PgaiSettings;
  switch (config.implementation) {
    case 'openai': {
      const { baseUrl, apiKey } = await endpoint(noSession, 'openai', keyName, text('base_url'));
      settings = { api: 'openai', model: config.model, baseUrl, apiKey, embedding: { dimensions: config.dimensions, ...(text('user') ? { user: text('user') } : {}) } };
      break;
    }
    case 'ollama': {
      const { baseUrl } = await endpoint(noSession, 'ollama', {}, text('base_url'));
      const options = { ...(config.options ? { options: config.options } : {}), ...(text('keep_alive') ? { keep_alive: text('keep_alive') } : {}) };
      settings = { api: 'ollama', model: config.model, baseUrl: baseUrl === undefined ? undefined : hostUrl(baseUrl), apiKey: undefined, embedding: options };
      break;
    }
    case 'voyageai': {
      const { baseUrl, apiKey } = await endpoint(noSession, 'voyageai', keyName);
      settings = { api: 'voyageai', model: config.model, baseUrl, apiKey, embedding: { input_type: text('input_type') ?? 'document' } };
      break;
    }
    default:
      throw new PgError('0A000', `embedding implementation ${JSON.stringify(config.implementation)} is not served by the proxy`);
  }
  return settings;
}

/** The texts' positions, cut into requests of at most `maxTexts` texts and MAX_REQUEST_TOKENS estimated tokens. */
export function requestBatches(texts: string[], maxTexts: number): Array<{ start: number; end: number }> {
  const batches: Array<{ start: number; end: number }> = [];
  let start = 0;
  let tokens = 0;
  texts.forEach((text, i) => {
    const size = estimateTokens(text);
    if (i > start && (i - start >= maxTexts || tokens + size > MAX_REQUEST_TOKENS)) {
      batches.push({ start, end: i });
      start = i;
      tokens = 0;
    }
    tokens += size;
  });
  if (texts.length > start) batches.push({ start, end: texts.length });
  return batches;
}

/** The embeddings of the texts, in their order, one request a batch, one after another. */
export async function embedAll(provider: Provider, texts: string[], signal: AbortSignal, asker: string): Promise<{ vectors: number[][]; usage: Usage; requests: number }> {
  const vectors: number[][] = [];
  const usage: Usage = { promptTokens: 0, completionTokens: 0 };
  const batches = requestBatches(texts, provider.embeddingBatchSize);
  for (const { start, end } of batches) {
    const answer = await provider.embed({ texts: texts.slice(start, end), signal, asker, whole: true });
    vectors.push(...answer.vectors);
    usage.promptTokens += answer.usage.promptTokens;
  }
  return { vectors, usage, requests: batches.length };
}

/** A chunk of a row, with the row's key. */
export type KeyedChunk = Chunk & { key: Record<string, unknown> };

/** The chunks with their embeddings, asked of the vectorizer's embedding model for its owner. */
export async function embedChunks(vectorizer: Vectorizer, chunks: KeyedChunk[], defaults: DefaultProviders, signal: AbortSignal): Promise<StoredChunk[]> {
  const provider = await embeddingProvider(vectorizer, defaults);
  const { vectors } = await embedAll(
    provider,
    chunks.map((chunk) => chunk.formatted),
    signal,
    vectorizer.asker,
  );
  return chunks.map(({ key, seq, chunk }, i) => ({ key, seq, chunk, embedding: vectors[i]! }));
}
