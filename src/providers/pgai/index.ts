// The provider of one kind of pgai call (its API, model, server, key and fixed options), built once and kept like a
// model instance's: its requests keep to the process's limit on calls at once, are counted on /metrics under the
// API's name and the model, have the key masked in whatever comes back, and its embeddings asked for one row at a
// time share requests (src/providers/embedding-batcher.ts).

import { PgError } from '../../../proxy/pg-error.js';
import { credentialsIn } from '../../crypto/config-secrets.js';
import { SecretFragments } from '../../crypto/secret-fragments.js';
import type { JsonReading } from '../answers/json-answer.js';
import { bothShapes } from '../answers/shape.js';
import { batchedEmbeddings } from '../embedding-batcher.js';
import { checkedVectors } from '../embedding-vectors.js';
import { httpSettings } from '../http.js';
import { remembered } from '../index.js';
import { limited } from '../limits.js';
import { metered } from '../metrics.js';
import { stringChars } from '../request-body.js';
import type { Asker } from '../asker.js';
import { answeredModel, type ApiRequest, type EmbedRequest, type Provider } from '../provider.js';
import { redacted } from '../redacted.js';
import { APIS, USAGE_SHAPE, usageOf, type PgaiApiName } from './apis.js';
import { requestJson, type JsonApi } from './json-api.js';

export interface PgaiSettings {
  api: PgaiApiName;
  model: string;
  baseUrl: string | undefined;
  apiKey: string | undefined;
  /** Headers and query parameters of every request (pgai's extra_headers, extra_query, client_config). */
  headers?: Record<string, string>;
  query?: Record<string, string>;
  /**
   * Credentials the call gives elsewhere in its requests (an api_key in extra_body, a client_config's), held back from
   * the server as secrets (config-secrets.ts): its answers are masked of them too.
   */
  secrets?: string[];
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
  const api = (kind: 'chat' | 'embedding'): JsonApi => ({
    provider: settings.api,
    baseUrl: settings.baseUrl ?? shape.baseUrl,
    headers: { ...shape.authorization(settings.apiKey), ...settings.headers },
    query: settings.query ?? {},
    secrets,
    kind,
    http: httpSettings(config, `${settings.api}:${settings.model}`, kind),
  });
  // One client per kind of answer, as each has its own cap on an answer's size (embeddings need far more).
  const apis = { chat: api('chat'), embedding: api('embedding') };
  const dimensions = settings.embedding?.dimensions === undefined ? undefined : Number(settings.embedding.dimensions);
  const asked = (texts: number) => ({ texts, ...(dimensions === undefined ? {} : { dimensions }) });
  const unused = (): never => {
    throw new PgError('0A000', `${settings.api} answers pgai's functions only`);
  };
  const adapter: Provider = {
    embeddingBatchSize: shape.embeddings?.batchSize ?? 1,
    chat: unused,
    stream: unused,
    async send({ kind, method, path, body, signal, maxAnswerTokens, reads }: ApiRequest) {
      const sent = body && maxAnswerTokens !== undefined ? shape.answerLimit(body, maxAnswerTokens) : body;
      // A request of the embeddings API of its own is one input's (pgai's openai_embed of tokens).
      const reading: JsonReading =
        reads === 'whole' ? { shape: USAGE_SHAPE, whole: true } : { shape: bothShapes(USAGE_SHAPE, reads), whole: false, ...(kind === 'embed' && { asked: asked(1) }) };
      const answer = await requestJson(kind === 'embed' ? apis.embedding : apis.chat, method, path, sent, signal, reading);
      const read = answer.read as { model?: unknown } | null;
      return { body: reading.whole ? answer.whole : read, usage: usageOf(read), model: answeredModel(read?.model, settings.model) };
    },
    async embed({ texts, signal }: EmbedRequest) {
      const { embeddings } = shape;
      if (!embeddings) throw new PgError('0A000', `${settings.api} has no embeddings API`);
      const request = embeddings.body(settings.model, texts, settings.embedding ?? {});
      const answer = await requestJson(apis.embedding, 'POST', embeddings.path, request, signal, { shape: embeddings.shape, whole: false, asked: asked(texts.length) });
      const vectors = await checkedVectors(settings.api, embeddings.vectors(answer.read), texts.length, dimensions);
      return { vectors, model: settings.model, usage: usageOf(answer.read) };
    },
  };
  const modelKey = JSON.stringify(['pgai', settings.api, settings.model, settings.baseUrl ?? null]);
  const provider = redacted(adapter, new SecretFragments(secrets));
  return batchedEmbeddings(limited(metered(provider, settings.api, settings.model, {}, `pgai ${settings.api}`), modelKey, {}, `pgai ${settings.api}`));
}

/**
 * What a call's answers are masked of: its key, and any header or query parameter it gives, which may carry a key
 * (extra_headers => '{"api-key": …}'), and so may its server's URL (http://user:password@host) and its body's
 * fields (extra_body => '{"api_key": …}': review W1).
 */
export function pgaiSecrets(settings: PgaiSettings): Array<string | undefined> {
  // A query parameter's name may be the key (?sk-…), as in a URL.
  return [settings.apiKey, ...Object.values(settings.headers ?? {}), ...Object.entries(settings.query ?? {}).flat(), ...credentialsIn('base_url', settings.baseUrl), ...(settings.secrets ?? [])];
}

/** A request of the API's own: what the tokens-per-minute estimate of its body is. */
export function apiRequest(request: Pick<ApiRequest, 'kind' | 'method' | 'path' | 'body' | 'reads'>, signal: AbortSignal, asker: Asker): ApiRequest {
  // Counted, not written out: a body of megabytes takes JSON.stringify most of a second (request-body.ts).
  return { ...request, estimatedTokens: request.body === undefined ? 0 : Math.ceil(stringChars(request.body) / 4), signal, asker };
}
