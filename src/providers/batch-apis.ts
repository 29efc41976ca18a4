// The providers' batch APIs, at half the price of single requests and answered within a day: OpenAI's (a JSONL file
// of chat completion requests uploaded, then /v1/batches) and Anthropic's (/v1/messages/batches). A batch is
// submitted once and looked at until it has ended; its results are read as JSON lines, each line cut down in a
// worker thread to what is read of it when it is big (answers/answer-body.ts), within the cap on a chat answer's
// size. The llm.call worker uses them (worker/batch-jobs.ts) for model instances whose config says "batch": true, and
// the vectorizer worker uses OpenAI's for the embeddings of a vectorizer whose processing config says "batch_api":
// true (worker/vectorizer-batches.ts), through the same key and server as its embeddings requests.

import Anthropic from '@anthropic-ai/sdk';
import { randomBytes } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import OpenAI from 'openai';
import { PgError } from '../../proxy/pg-error.js';
import { SecretFragments } from '../crypto/secret-fragments.js';
import { messageBody } from './anthropic.js';
import { LINES_A_TURN } from './answers/answer-body.js';
import type { Shape } from './answers/shape.js';
import { fromSdkError, ProviderError, shortened } from './errors.js';
import { httpSettings } from './http.js';
import { checkedVectors } from './embedding-vectors.js';
import { DEFAULT_MODEL_NAMES } from './model-names.js';
import { chatCompletionBody } from './openai.js';
import { APIS, usageOf } from './pgai/apis.js';
import { checkModelName, pgaiSecrets, type PgaiSettings } from './pgai/index.js';
import { redactedBatches } from './redacted.js';
import type { AnswerKind } from './response-cap.js';
import type { ChatRequest, Usage } from './provider.js';

type Chat = Pick<ChatRequest, 'prompt' | 'options'>;

/** One request of a batch: the caller's id for it (a queue job's), and what to ask. */
export interface BatchRequest<Request = Chat> {
  id: string;
  request: Request;
}

/** A request's outcome: its answer (a chat answer's text, or the vectors of embeddings) and usage, or why there is none. */
export type BatchOutcome<Value = string> = { ok: true; value: Value; usage: Usage } | { ok: false; error: string };

/** A batch still running, ended (an outcome for each request it has one for), or failed as a whole. */
export type BatchState<Value = string> = { kind: 'running' } | { kind: 'ended'; outcomes: Map<string, BatchOutcome<Value>> } | { kind: 'failed'; reason: string };

export interface BatchApi<Request = Chat, Value = string> {
  /**
   * Submits the requests as one batch, carrying `tag` (batchTag()); resolves to the provider's batch id. The tag is
   * kept with the batch: in OpenAI's metadata, and, as Anthropic's batches keep none, before each request's custom_id.
   */
  submit(requests: Array<BatchRequest<Request>>, signal: AbortSignal, tag: string): Promise<string>;
  /**
   * The batch's state, its outcomes by the ids the requests were submitted with. A batch that does not carry `tag`
   * has failed as a whole, as has a batch the provider does not know: the batch id was not the caller's to ask about
   * (a catalog row its owner writes names it, and the worker writes it in the owner's name), and its results are
   * never used.
   */
  state(batchId: string, signal: AbortSignal, tag: string): Promise<BatchState<Value>>;
}

/**
 * A batch's tag: random, so known only to those who see the catalog rows of the batch (and to the provider's account).
 * 24 bytes in 32 characters that OpenAI's metadata and Anthropic's custom_ids both take ([A-Za-z0-9_-]; a custom_id
 * holds 64 at most: the tag, a dash and a job's id).
 */
export function batchTag(): string {
  return randomBytes(24).toString('base64url');
}

/** What the batches of one of OpenAI's endpoints send, and read of each answer. */
interface OpenAiEndpoint<Request, Value> {
  url: '/v1/chat/completions' | '/v1/embeddings';
  /** The cap on the results' size is that of this kind's answers (--max-response-bytes). */
  kind: AnswerKind;
  body(request: Request): object;
  /** What is read of an answer's body. */
  shape: Shape;
  /** The answer's value; undefined when it has none. */
  value(body: Record<string, any>): Value | undefined | Promise<Value | undefined>;
}

/** How long a batch may take: both providers' only window. */
const COMPLETION_WINDOW = '24h';
const TEXT_BLOCK: Shape = { fields: { type: 'scalar', text: 'scalar' } };
const ERROR: Shape = { fields: { message: 'scalar', code: 'scalar', type: 'scalar' } };

/** The batch API of a model instance's provider, what it says masked of the model's secrets; 0A000 for a provider that has none. */
export function batchApiFor(instance: string, config: Record<string, unknown>, apiKey: string | undefined): BatchApi {
  return redactedBatches(unmaskedBatchApi(instance, config, apiKey), SecretFragments.of(config, apiKey));
}

function unmaskedBatchApi(instance: string, config: Record<string, unknown>, apiKey: string | undefined): BatchApi {
  const provider = String(config.provider ?? 'mock');
  if (provider === 'openai' || provider === 'openai_compatible') {
    const model = String(config.model_name ?? DEFAULT_MODEL_NAMES[provider] ?? '');
    if (!model) throw new PgError('22023', `the ${provider} provider needs model_name in the model config`);
    return openAiBatches(provider, instance, config, apiKey, chatCompletions(model));
  }
  if (provider === 'anthropic') return anthropicBatches(instance, config, apiKey);
  throw new PgError('0A000', `model instance "${instance}" has "batch": true, but the ${provider} provider has no batch API`, {
    hint: 'Batches are for models of provider openai, openai_compatible or anthropic; remove "batch" from the config of the others.',
  });
}

/** The metadata key of a batch's tag. */
const TAG = 'pg_llm_tag';
const OPENAI_BATCH: Shape = {
  fields: { id: 'scalar', status: 'scalar', output_file_id: 'scalar', error_file_id: 'scalar', errors: { fields: { data: { first: 1, items: ERROR } } }, metadata: { fields: { [TAG]: 'scalar' } } },
};
/** A line of OpenAI's batch results, its answer's body cut down to what the endpoint reads. */
const openAiLine = (body: Shape): Shape => ({
  fields: { custom_id: 'scalar', error: ERROR, response: { fields: { status_code: 'scalar', body: { fields: { ...(body as { fields: Record<string, Shape> }).fields, error: ERROR } } } } },
});

const USAGE: Shape = { fields: { prompt_tokens: 'scalar', completion_tokens: 'scalar', total_tokens: 'scalar' } };

function chatCompletions(model: string): OpenAiEndpoint<Chat, string> {
  return {
    url: '/v1/chat/completions',
    kind: 'chat',
    body: (request) => chatCompletionBody(model, { logprobs: false, tokenLimit: 'max_tokens' }, request),
    shape: { fields: { usage: USAGE, choices: { first: 1, items: { fields: { message: { fields: { content: 'scalar', refusal: 'scalar' } } } } } } },
    value: (body) => (typeof body.choices?.[0]?.message?.content === 'string' ? (body.choices[0].message.content as string) : undefined),
  };
}

/**
 * OpenAI's batches of embeddings requests, each request some of the texts, for a vectorizer's embedding settings
 * (worker/vectorizer-embed.ts): the same key, server and request body as its embeddings requests. 0A000 for another
 * embeddings API, which has no batch API.
 */
export function embeddingBatchApi(settings: PgaiSettings): BatchApi<string[], number[][]> {
  const embeddings = APIS[settings.api].embeddings;
  if (settings.api !== 'openai' || !embeddings) {
    throw new PgError('0A000', `the ${settings.api} embeddings API has no batch API`, { hint: 'Remove "batch_api" from the vectorizer\'s processing config: batches are for ai.embedding_openai.' });
  }
  checkModelName(settings);
  const dimensions = settings.embedding?.dimensions === undefined ? undefined : Number(settings.embedding.dimensions);
  const endpoint: OpenAiEndpoint<string[], number[][]> = {
    url: '/v1/embeddings',
    kind: 'embedding',
    body: (texts) => embeddings.body(settings.model, texts, settings.embedding ?? {}),
    shape: embeddings.shape,
    // Decoded and checked as the answer to an embeddings request is; the caller checks there is one for each text.
    value: (body) => {
      const answered = embeddings.vectors(body);
      return answered && checkedVectors(settings.api, answered, answered.length, dimensions);
    },
  };
  const config = { base_url: settings.baseUrl ?? APIS.openai.baseUrl, ...(settings.timeoutMs === undefined ? {} : { timeout_ms: settings.timeoutMs }) };
  return redactedBatches(openAiBatches('openai', `pgai openai:${settings.model}`, config, settings.apiKey, endpoint), new SecretFragments(pgaiSecrets(settings)));
}

function openAiBatches<Request, Value>(flavour: string, instance: string, config: Record<string, unknown>, apiKey: string | undefined, endpoint: OpenAiEndpoint<Request, Value>): BatchApi<Request, Value> {
  const baseURL = (config.base_url ?? config.endpoint ?? config.api_endpoint) as string | undefined;
  const client = (lines?: Shape) => new OpenAI({ apiKey: apiKey || 'not-needed', baseURL, ...httpSettings(config, instance, endpoint.kind, lines ? { answer: 'any', lines } : { answer: OPENAI_BATCH }) });
  const meta = client();
  const results = client(openAiLine(endpoint.shape));
  const fail = (error: unknown): never => {
    throw fromSdkError(flavour, error, apiKey, OpenAI);
  };
  return {
    async submit(requests, signal, tag) {
      const lines = requests.map(({ id, request }) => JSON.stringify({ custom_id: id, method: 'POST', url: endpoint.url, body: endpoint.body(request) }));
      // Sent as a multipart body of its own: the SDK's uploads take only the FormData of the fetch they were built for.
      const boundary = `pg-llm-${randomBytes(12).toString('hex')}`;
      const body = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="requests.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n` +
          `${lines.join('\n')}\n\r\n--${boundary}--\r\n`,
      );
      const file = await meta.post<{ id: string }>('/files', { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, signal }).catch(fail);
      const batch = await meta.batches.create({ input_file_id: file.id, endpoint: endpoint.url, completion_window: COMPLETION_WINDOW, metadata: { [TAG]: tag } }, { signal }).catch(fail);
      return batch.id;
    },
    async state(batchId, signal, tag) {
      // null: a batch the provider does not know.
      const batch = await meta.batches.retrieve(batchId, { signal }).catch((error: unknown) => (error instanceof OpenAI.NotFoundError ? null : fail(error)));
      if (!batch || batch.metadata?.[TAG] !== tag) return notSubmitted(flavour, batchId, batch !== null);
      if (batch.status === 'failed' || batch.status === 'expired' || batch.status === 'cancelled' || batch.status === 'cancelling') {
        const why = batch.errors?.data?.[0]?.message;
        return { kind: 'failed', reason: `the ${flavour} batch ${batchId} is ${batch.status}${why ? `: ${shortened(String(why))}` : ''}` };
      }
      if (batch.status !== 'completed') return { kind: 'running' };
      const outcomes = new Map<string, BatchOutcome<Value>>();
      for (const fileId of [batch.output_file_id, batch.error_file_id]) {
        if (!fileId) continue;
        const text = await (await results.files.content(fileId, { signal }).catch(fail)).text();
        for (const line of await jsonLines(text)) outcomes.set(String(line.custom_id), await openAiOutcome(line, endpoint));
      }
      return { kind: 'ended', outcomes };
    },
  };
}

async function openAiOutcome<Value>(line: Record<string, any>, endpoint: OpenAiEndpoint<unknown, Value>): Promise<BatchOutcome<Value>> {
  const response = line.response as { status_code?: number; body?: Record<string, any> } | undefined;
  let value: Value | undefined;
  try {
    value = response?.status_code === 200 && response.body ? await endpoint.value(response.body) : undefined;
  } catch (error) {
    return { ok: false, error: `the batch request's answer is not one: ${(error as Error).message}` };
  }
  if (value !== undefined) return { ok: true, value, usage: usageOf(response!.body) };
  const message = line.error?.message ?? response?.body?.error?.message ?? `status ${String(response?.status_code)}`;
  return { ok: false, error: `the batch request failed: ${shortened(String(message))}` };
}

const ANTHROPIC_BATCH: Shape = { fields: { id: 'scalar', type: 'scalar', processing_status: 'scalar', results_url: 'scalar' } };
const ANTHROPIC_LINE: Shape = {
  fields: {
    custom_id: 'scalar',
    result: { fields: { type: 'scalar', error: { fields: { error: ERROR, type: 'scalar' } }, message: { fields: { content: { first: 4096, items: TEXT_BLOCK }, usage: { fields: { input_tokens: 'scalar', output_tokens: 'scalar' } } } } } },
  },
};

function anthropicBatches(instance: string, config: Record<string, unknown>, apiKey: string | undefined): BatchApi {
  if (!apiKey) throw new PgError('22023', 'the anthropic provider needs an API key', { hint: 'Pass it as the api_key argument of pg_llm_add_model.' });
  const model = String(config.model_name ?? DEFAULT_MODEL_NAMES.anthropic);
  const baseURL = (config.base_url ?? config.endpoint ?? config.api_endpoint) as string | undefined;
  const client = (shape: Shape, lines: boolean) => new Anthropic({ apiKey, ...(baseURL ? { baseURL } : {}), ...httpSettings(config, instance, 'chat', lines ? { answer: 'any', lines: shape } : { answer: shape }) });
  const meta = client(ANTHROPIC_BATCH, false);
  const results = client(ANTHROPIC_LINE, true);
  const fail = (error: unknown): never => {
    throw fromSdkError('anthropic', error, apiKey, Anthropic);
  };
  return {
    async submit(requests, signal, tag) {
      const batch = await meta.messages.batches
        .create({ requests: requests.map(({ id, request }) => ({ custom_id: `${tag}-${id}`, params: messageBody(model, request) })) }, { signal })
        .catch(fail);
      return batch.id;
    },
    async state(batchId, signal, tag) {
      const batch = await meta.messages.batches.retrieve(batchId, {}, { signal }).catch((error: unknown) => (error instanceof Anthropic.NotFoundError ? null : fail(error)));
      if (!batch) return notSubmitted('anthropic', batchId, false);
      if (batch.processing_status !== 'ended') return { kind: 'running' };
      const outcomes = new Map<string, BatchOutcome>();
      // Read where Anthropic serves them under the model's server, not at the results_url the batch names (as the
      // SDK's results() would): an answer naming a URL on another server would have the key sent there.
      const answer = await results
        .get<Response>(`/v1/messages/batches/${encodeURIComponent(batchId)}/results`, { signal, headers: { accept: 'application/binary' }, __binaryResponse: true })
        .catch(fail);
      const text = await answer.text().catch(fail);
      const prefix = `${tag}-`;
      // Each line of a batch carries its tag: the first that does not ends the reading, before any is used.
      for (const line of await jsonLines(text)) {
        if (!String(line.custom_id).startsWith(prefix)) return notSubmitted('anthropic', batchId, true);
        outcomes.set(String(line.custom_id).slice(prefix.length), anthropicOutcome(line));
      }
      return { kind: 'ended', outcomes };
    },
  };
}

/** The state of a batch that is not the caller's: one that does not carry its tag, or one the provider does not know. */
function notSubmitted(flavour: string, batchId: string, known: boolean): BatchState<never> {
  return { kind: 'failed', reason: `the ${flavour} batch ${batchId} ${known ? 'is not the one submitted for them' : 'is unknown to the provider'}` };
}

function anthropicOutcome(line: Record<string, any>): BatchOutcome {
  const result = line.result as { type?: string; message?: { content?: Array<{ type?: string; text?: string }>; usage?: unknown }; error?: { error?: { message?: string } } } | undefined;
  if (result?.type === 'succeeded' && Array.isArray(result.message?.content)) {
    const text = result.message.content.map((block) => (block.type === 'text' ? String(block.text ?? '') : '')).join('');
    return { ok: true, value: text, usage: usageOf(result.message) };
  }
  const why = result?.type === 'errored' ? (result.error?.error?.message ?? 'an error') : String(result?.type);
  return { ok: false, error: `the batch request ended without an answer: ${shortened(why)}` };
}

/**
 * The objects of JSON lines as the results client passes them on (each small, or cut down in a thread already),
 * LINES_A_TURN a turn of the event loop: a role's own server may answer millions of tiny lines.
 */
async function jsonLines(text: string): Promise<Array<Record<string, any>>> {
  const objects: Array<Record<string, any>> = [];
  for (let start = 0, seen = 0; start < text.length; seen++) {
    if (seen % LINES_A_TURN === LINES_A_TURN - 1) await setImmediate();
    const newline = text.indexOf('\n', start);
    const end = newline < 0 ? text.length : newline;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new ProviderError('a line of the batch results is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ProviderError('a line of the batch results is not a JSON object');
    objects.push(parsed as Record<string, any>);
  }
  return objects;
}
