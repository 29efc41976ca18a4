// The provider of one kind of pgai call (its API, model, server, key and fixed options), built once and kept like a
// model instance's: its requests keep to the process's limit on calls at once, are counted on /metrics under the
// API's name and the model, have the key masked in whatever comes back, and its embeddings asked for one row at a
// time share requests (src/providers/embedding-batcher.ts).

import { PgError } from '../../../proxy/pg-error.js';
import { credentialsIn } from '../../crypto/config-secrets.js';
import { SecretFragments } from '../../crypto/secret-fragments.js';
import { askingEmbeddings } from '../answers/embeddings-asked.js';
import { ANY, type AnswerShapes } from '../answers/shape.js';
import { batchedEmbeddings } from '../embedding-batcher.js';
import { checkedVectors } from '../embedding-vectors.js';
import { httpSettings } from '../http.js';
import { remembered } from '../index.js';
import { limited } from '../limits.js';
import { metered } from '../metrics.js';
import type { Asker } from '../asker.js';
import { answeredModel, type ApiRequest, type EmbedRequest, type Provider } from '../provider.js';
import { redacted } from '../redacted.js';
import { estimateTokens } from '../tokens.js';
import { APIS, usageOf, type PgaiApiName } from './apis.js';
import { requestJson, type JsonApi } from './json-api.js';

export interface PgaiSettings {
  api: PgaiApiName;
  model: string;
  baseUrl: string | undefined;
  apiKey: string | undefined;
  /** Headers and query parameters of every request (pgai's extra_headers, extra_query, client_config). */
  headers?: Record<string, string>;
  query?: Record<string, string>;
  /** Fields of every embeddings request besides the model and texts (dimensions, input_type…). */
  embedding?: Record<string, unknown>;
  /** A model config's timeout_ms and max_retries (http.ts checks and bounds them). */
  timeoutMs?: number;
  maxRetries?: number;
}

/**
 * The longest model name a pgai call may give: far beyond any provider's names, yet short enough that the providers
 * kept (index.ts), each holding its name, stay small whatever names a role makes up.
 */
export const MAX_MODEL_NAME_CHARACTERS = 1024;

export function pgaiProvider(settings: PgaiSettings): Provider {
  checkModelName(settings);
  return remembered(['pgai', settings], () => build(settings));
}

/** 22023 for a model name over MAX_MODEL_NAME_CHARACTERS (not repeated: it may be anything). */
export function checkModelName({ api, model }: PgaiSettings): void {
  if (model.length <= MAX_MODEL_NAME_CHARACTERS) return;
  throw new PgError('22023', `the ${api} model name is ${model.length} characters long, over the ${MAX_MODEL_NAME_CHARACTERS} allowed`, {
    hint: "Pass the provider's name of the model, such as text-embedding-3-small.",
  });
}

function build(settings: PgaiSettings): Provider {
  const shape = APIS[settings.api];
  const config = {
    ...(settings.timeoutMs === undefined ? {} : { timeout_ms: settings.timeoutMs }),
    ...(settings.maxRetries === undefined ? {} : { max_retries: settings.maxRetries }),
  };
  const secrets = pgaiSecrets(settings);
  const api = (kind: 'chat' | 'embedding', shapes: AnswerShapes): JsonApi => ({
    provider: settings.api,
    baseUrl: settings.baseUrl ?? shape.baseUrl,
    headers: { ...shape.authorization(settings.apiKey), ...settings.headers },
    query: settings.query ?? {},
    secrets,
    http: httpSettings(config, `${settings.api}:${settings.model}`, kind, shapes),
  });
  // One client per kind of answer, as each has its own cap on an answer's size (embeddings need far more); answers
  // handed on are kept whole, those the adapter reads the vectors of are cut down to them.
  const apis = {
    chat: api('chat', ANY),
    embedding: api('embedding', ANY),
    vectors: shape.embeddings ? api('embedding', { answer: shape.embeddings.shape }) : undefined,
  };
  const dimensions = settings.embedding?.dimensions === undefined ? undefined : Number(settings.embedding.dimensions);
  const unused = (): never => {
    throw new PgError('0A000', `${settings.api} answers pgai's functions only`);
  };
  const adapter: Provider = {
    embeddingBatchSize: shape.embeddings?.batchSize ?? 1,
    chat: unused,
    stream: unused,
    async send({ kind, method, path, body, signal, maxAnswerTokens }: ApiRequest) {
      const sent = body && maxAnswerTokens !== undefined ? shape.answerLimit(body, maxAnswerTokens) : body;
      const answer = await requestJson(kind === 'embed' ? apis.embedding : apis.chat, method, path, sent, signal);
      return { body: answer, usage: usageOf(answer), model: answeredModel((answer as { model?: unknown } | null)?.model, settings.model) };
    },
    async embed({ texts, signal }: EmbedRequest) {
      const { embeddings } = shape;
      const { vectors: api } = apis;
      if (!embeddings || !api) throw new PgError('0A000', `${settings.api} has no embeddings API`);
      const asked = { texts: texts.length, ...(dimensions === undefined ? {} : { dimensions }) };
      const answer = await askingEmbeddings(asked, () => requestJson(api, 'POST', embeddings.path, embeddings.body(settings.model, texts, settings.embedding ?? {}), signal));
      const vectors = await checkedVectors(settings.api, embeddings.vectors(answer), texts.length, dimensions);
      return { vectors, model: settings.model, usage: usageOf(answer) };
    },
  };
  const modelKey = JSON.stringify(['pgai', settings.api, settings.model, settings.baseUrl ?? null]);
  const provider = redacted(adapter, new SecretFragments(secrets));
  return batchedEmbeddings(limited(metered(provider, settings.api, settings.model, {}, `pgai ${settings.api}`), modelKey, {}, `pgai ${settings.api}`));
}

/**
 * What a call's answers are masked of: its key, and any header or query parameter it gives, which may carry a key
 * (extra_headers => '{"api-key": …}'), and so may its server's URL (http://user:password@host).
 */
export function pgaiSecrets(settings: PgaiSettings): Array<string | undefined> {
  return [settings.apiKey, ...Object.values(settings.headers ?? {}), ...Object.values(settings.query ?? {}), ...credentialsIn('base_url', settings.baseUrl)];
}

/** A request of the API's own: what the tokens-per-minute estimate of its body is. */
export function apiRequest(kind: ApiRequest['kind'], method: ApiRequest['method'], path: string, body: Record<string, unknown> | undefined, signal: AbortSignal, asker: Asker): ApiRequest {
  return { kind, method, path, ...(body === undefined ? {} : { body }), estimatedTokens: body === undefined ? 0 : estimateTokens(JSON.stringify(body)), signal, asker };
}
