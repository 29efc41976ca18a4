// The providers' batch APIs, at half the price of single requests and answered within a day: OpenAI's (a JSONL file
// of chat completion requests uploaded, then /v1/batches) and Anthropic's (/v1/messages/batches). A batch is
// submitted once and looked at until it has ended; its results are read as JSON lines, each line cut down in a
// worker thread to what is read of it when it is big (answers/answer-body.ts), within the cap on a chat answer's
// size. Only the llm.call worker uses them (worker/batch-jobs.ts), for model instances whose config says "batch": true.

import Anthropic from '@anthropic-ai/sdk';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { PgError } from '../../proxy/pg-error.js';
import { messageBody } from './anthropic.js';
import type { Shape } from './answers/shape.js';
import { fromSdkError, ProviderError } from './errors.js';
import { httpSettings } from './http.js';
import { DEFAULT_MODEL_NAMES } from './model-names.js';
import { chatCompletionBody } from './openai.js';
import type { ChatRequest } from './provider.js';

/** One request of a batch: the caller's id for it (a queue job's), and what to ask. */
export interface BatchRequest {
  id: string;
  request: Pick<ChatRequest, 'prompt' | 'options'>;
}

/** A request's outcome: its answer's text, or why there is none. */
export type BatchOutcome = { ok: true; text: string } | { ok: false; error: string };

/** A batch still running, ended (an outcome for each request it has one for), or failed as a whole. */
export type BatchState = { kind: 'running' } | { kind: 'ended'; outcomes: Map<string, BatchOutcome> } | { kind: 'failed'; reason: string };

export interface BatchApi {
  /** Submits the requests as one batch; resolves to the provider's batch id. */
  submit(requests: BatchRequest[], signal: AbortSignal): Promise<string>;
  state(batchId: string, signal: AbortSignal): Promise<BatchState>;
}

/** How long a batch may take: both providers' only window. */
const COMPLETION_WINDOW = '24h';
const TEXT_BLOCK: Shape = { fields: { type: 'scalar', text: 'scalar' } };
const ERROR: Shape = { fields: { message: 'scalar', code: 'scalar', type: 'scalar' } };

/** The batch API of a model instance's provider; 0A000 for a provider that has none. */
export function batchApiFor(instance: string, config: Record<string, unknown>, apiKey: string | undefined): BatchApi {
  const provider = String(config.provider ?? 'mock');
  if (provider === 'openai' || provider === 'openai_compatible') return openAiBatches(provider, instance, config, apiKey);
  if (provider === 'anthropic') return anthropicBatches(instance, config, apiKey);
  throw new PgError('0A000', `model instance "${instance}" has "batch": true, but the ${provider} provider has no batch API`, {
    hint: 'Batches are for models of provider openai, openai_compatible or anthropic; remove "batch" from the config of the others.',
  });
}

const OPENAI_BATCH: Shape = { fields: { id: 'scalar', status: 'scalar', output_file_id: 'scalar', error_file_id: 'scalar', errors: { fields: { data: { first: 1, items: ERROR } } } } };
const OPENAI_LINE: Shape = {
  fields: {
    custom_id: 'scalar',
    error: ERROR,
    response: { fields: { status_code: 'scalar', body: { fields: { error: ERROR, choices: { first: 1, items: { fields: { message: { fields: { content: 'scalar', refusal: 'scalar' } } } } } } } } },
  },
};

function openAiBatches(flavour: string, instance: string, config: Record<string, unknown>, apiKey: string | undefined): BatchApi {
  const model = String(config.model_name ?? DEFAULT_MODEL_NAMES[flavour] ?? '');
  const baseURL = (config.base_url ?? config.endpoint ?? config.api_endpoint) as string | undefined;
  if (!model) throw new PgError('22023', `the ${flavour} provider needs model_name in the model config`);
  const client = (lines?: Shape) => new OpenAI({ apiKey: apiKey || 'not-needed', baseURL, ...httpSettings(config, instance, 'chat', lines ? { answer: 'any', lines } : { answer: OPENAI_BATCH }) });
  const meta = client();
  const results = client(OPENAI_LINE);
  const fail = (error: unknown): never => {
    throw fromSdkError(flavour, error, apiKey, OpenAI);
  };
  return {
    async submit(requests, signal) {
      const lines = requests.map(({ id, request }) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: chatCompletionBody(model, false, request) }));
      // Sent as a multipart body of its own: the SDK's uploads take only the FormData of the fetch they were built for.
      const boundary = `pg-llm-${randomBytes(12).toString('hex')}`;
      const body = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="llm-call-jobs.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n` +
          `${lines.join('\n')}\n\r\n--${boundary}--\r\n`,
      );
      const file = await meta.post<{ id: string }>('/files', { body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, signal }).catch(fail);
      const batch = await meta.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: COMPLETION_WINDOW }, { signal }).catch(fail);
      return batch.id;
    },
    async state(batchId, signal) {
      const batch = await meta.batches.retrieve(batchId, { signal }).catch(fail);
      if (batch.status === 'failed' || batch.status === 'expired' || batch.status === 'cancelled' || batch.status === 'cancelling') {
        const why = batch.errors?.data?.[0]?.message;
        return { kind: 'failed', reason: `the ${flavour} batch ${batchId} is ${batch.status}${why ? `: ${why}` : ''}` };
      }
      if (batch.status !== 'completed') return { kind: 'running' };
      const outcomes = new Map<string, BatchOutcome>();
      for (const fileId of [batch.output_file_id, batch.error_file_id]) {
        if (!fileId) continue;
        const text = await (await results.files.content(fileId, { signal }).catch(fail)).text();
        for (const line of jsonLines(text)) outcomes.set(String(line.custom_id), openAiOutcome(line));
      }
      return { kind: 'ended', outcomes };
    },
  };
}

function openAiOutcome(line: Record<string, any>): BatchOutcome {
  const response = line.response as { status_code?: number; body?: Record<string, any> } | undefined;
  const content = response?.body?.choices?.[0]?.message?.content;
  if (response?.status_code === 200 && typeof content === 'string') return { ok: true, text: content };
  const message = line.error?.message ?? response?.body?.error?.message ?? `status ${String(response?.status_code)}`;
  return { ok: false, error: `the batch request failed: ${String(message)}` };
}

const ANTHROPIC_BATCH: Shape = { fields: { id: 'scalar', type: 'scalar', processing_status: 'scalar', results_url: 'scalar' } };
const ANTHROPIC_LINE: Shape = {
  fields: {
    custom_id: 'scalar',
    result: { fields: { type: 'scalar', error: { fields: { error: ERROR, type: 'scalar' } }, message: { fields: { content: { first: 4096, items: TEXT_BLOCK } } } } },
  },
};

function anthropicBatches(instance: string, config: Record<string, unknown>, apiKey: string | undefined): BatchApi {
  if (!apiKey) throw new PgError('22023', 'the anthropic provider needs an API key', { hint: 'Pass it as the api_key argument of pg_llm_add_model.' });
  const model = String(config.model_name ?? DEFAULT_MODEL_NAMES.anthropic);
  const baseURL = (config.base_url ?? config.endpoint ?? config.api_endpoint) as string | undefined;
  const client = (shape: Shape, lines: boolean) => new Anthropic({ apiKey, ...(baseURL ? { baseURL } : {}), ...httpSettings(config, instance, 'chat', lines ? { answer: 'any', lines: shape } : { answer: shape }) });
  const meta = client(ANTHROPIC_BATCH, false);
  // Its results() asks for the batch (one short line) and then reads its results.
  const results = client(ANTHROPIC_LINE, true);
  const fail = (error: unknown): never => {
    throw fromSdkError('anthropic', error, apiKey, Anthropic);
  };
  return {
    async submit(requests, signal) {
      const batch = await meta.messages.batches.create({ requests: requests.map(({ id, request }) => ({ custom_id: id, params: messageBody(model, request) })) }, { signal }).catch(fail);
      return batch.id;
    },
    async state(batchId, signal) {
      const batch = await meta.messages.batches.retrieve(batchId, {}, { signal }).catch(fail);
      if (batch.processing_status !== 'ended') return { kind: 'running' };
      const outcomes = new Map<string, BatchOutcome>();
      const lines = await results.messages.batches.results(batchId, {}, { signal }).catch(fail);
      try {
        for await (const line of lines) outcomes.set(line.custom_id, anthropicOutcome(line as unknown as Record<string, any>));
      } catch (error) {
        fail(error);
      }
      return { kind: 'ended', outcomes };
    },
  };
}

function anthropicOutcome(line: Record<string, any>): BatchOutcome {
  const result = line.result as { type?: string; message?: { content?: Array<{ type?: string; text?: string }> }; error?: { error?: { message?: string } } } | undefined;
  if (result?.type === 'succeeded' && Array.isArray(result.message?.content)) {
    return { ok: true, text: result.message.content.map((block) => (block.type === 'text' ? String(block.text ?? '') : '')).join('') };
  }
  const why = result?.type === 'errored' ? (result.error?.error?.message ?? 'an error') : String(result?.type);
  return { ok: false, error: `the batch request ended without an answer: ${why}` };
}

/** The objects of JSON lines as the results client passes them on (each small, or cut down in a thread already). */
function jsonLines(text: string): Array<Record<string, any>> {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new ProviderError('a line of the batch results is not JSON');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ProviderError('a line of the batch results is not a JSON object');
      return parsed as Record<string, any>;
    });
}
