// Anthropic's Messages API on the official @anthropic-ai/sdk: chat and token streaming with usage, structured output
// (output_config.format with the JSON schema), the SDK's retries with backoff (429, 5xx, connection errors,
// honouring Retry-After), errors mapped like every SDK's. Anthropic returns no token log-probabilities, so the
// confidence is the config's documented fallback; it has no embeddings API either.

import Anthropic from '@anthropic-ai/sdk';
import { PgError } from '../../proxy/pg-error.js';
import type { AnswerShapes, Shape } from './answers/shape.js';
import { fallbackConfidence } from './confidence.js';
import { fromSdkError, ProviderError } from './errors.js';
import { httpSettings } from './http.js';
import { DEFAULT_MODEL_NAMES } from './model-names.js';
import { sdkBodyOptions } from './request-body.js';
import { answeredModel, tokenCount, type ChatRequest, type ChatResult, type Provider, type StreamEvent } from './provider.js';

const DEFAULT_MAX_TOKENS = 1024;
/** Without a schema Anthropic has no JSON mode; the instruction asks for it and the caller checks the answer. */
const JSON_INSTRUCTION = 'Answer with a single JSON object and nothing else: no prose, no code fences.';

// What this adapter (and the SDK) reads of an answer: a big answer reaches the SDK cut down to these (answers/).
const USAGE: Shape = { fields: { input_tokens: 'scalar', output_tokens: 'scalar' } };
const TEXT_BLOCK: Shape = { fields: { type: 'scalar', text: 'scalar' } };
const MESSAGE: Shape = {
  fields: {
    id: 'scalar',
    type: 'scalar',
    role: 'scalar',
    model: 'scalar',
    stop_reason: 'scalar',
    content: { first: 4096, items: TEXT_BLOCK },
    usage: USAGE,
  },
};
const SHAPES: AnswerShapes = {
  answer: MESSAGE,
  event: {
    fields: {
      type: 'scalar',
      index: 'scalar',
      message: MESSAGE,
      content_block: TEXT_BLOCK,
      delta: { fields: { type: 'scalar', text: 'scalar', stop_reason: 'scalar' } },
      usage: USAGE,
      error: { fields: { type: 'scalar', message: 'scalar' } },
    },
  },
};

/** The body of a Messages API request (also the params of a request of a batch: batch-apis.ts). */
export function messageBody(model: string, { prompt, history = [], options }: Pick<ChatRequest, 'prompt' | 'history' | 'options'>) {
  const format = options.responseFormat;
  // Anthropic has no unconstrained schema: a schema it is not to enforce is asked for as JSON, the caller checking it.
  const enforced = format.type === 'json_schema' && format.strict !== false;
  const json = format.type === 'json_object' || (format.type === 'json_schema' && !enforced);
  const system = [options.system, json ? JSON_INSTRUCTION : undefined].filter((part) => part !== undefined).join('\n\n');
  return {
    model,
    max_tokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
    messages: [...history, { role: 'user' as const, content: prompt }],
    ...(system ? { system } : {}),
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    ...(enforced ? { output_config: { format: { type: 'json_schema' as const, schema: format.schema } } } : {}),
  };
}

export function anthropicProvider(config: Record<string, unknown>, apiKey: string | undefined, instance: string): Provider {
  const model = String(config.model_name ?? DEFAULT_MODEL_NAMES.anthropic);
  if (!apiKey) throw new PgError('22023', 'the anthropic provider needs an API key', { hint: 'Pass it as the api_key argument of pg_llm_add_model.' });
  const baseURL = (config.base_url ?? config.endpoint ?? config.api_endpoint) as string | undefined;
  const http = httpSettings(config, instance, 'chat', SHAPES);
  const confidence = fallbackConfidence(config);
  let client: Anthropic | undefined;
  // Made at the first call, so that registering a model needs no network.
  const sdk = (): Anthropic => (client ??= new Anthropic({ apiKey, ...(baseURL ? { baseURL } : {}), ...http }));
  const body = (request: ChatRequest) => messageBody(model, request);
  const fail = (error: unknown): never => {
    throw fromSdkError('anthropic', error, apiKey, Anthropic);
  };

  return {
    embeddingBatchSize: 1,
    async chat(request: ChatRequest): Promise<ChatResult> {
      const params = body(request);
      const message = await sdk().messages.create(params, { signal: request.signal, ...(await sdkBodyOptions(params)) }).catch(fail);
      const blocks = Array.isArray(message.content) ? message.content : [];
      const text = blocks.map((block) => (block.type === 'text' ? block.text : '')).join('');
      if (blocks.length === 0) throw new ProviderError('anthropic answered without content');
      return {
        text,
        ...confidence,
        model: answeredModel(message.model, model),
        usage: { promptTokens: tokenCount(message.usage?.input_tokens), completionTokens: tokenCount(message.usage?.output_tokens) },
      };
    },
    async *stream(request: ChatRequest): AsyncIterable<StreamEvent> {
      const params = { ...body(request), stream: true as const };
      const events = await sdk().messages.create(params, { signal: request.signal, ...(await sdkBodyOptions(params)) }).catch(fail);
      let text = '';
      let answeredBy = model;
      const usage = { promptTokens: 0, completionTokens: 0 };
      try {
        for await (const event of events) {
          if (event.type === 'message_start') {
            answeredBy = answeredModel(event.message.model, answeredBy);
            usage.promptTokens = tokenCount(event.message.usage?.input_tokens);
          } else if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
            text += event.delta.text;
            yield { kind: 'chunk', text: event.delta.text };
          } else if (event.type === 'message_delta') {
            usage.completionTokens = event.usage?.output_tokens === undefined ? usage.completionTokens : tokenCount(event.usage.output_tokens);
          }
        }
      } catch (error) {
        fail(error);
      }
      yield { kind: 'done', result: { text, ...confidence, model: answeredBy, usage } };
    },
    async embed(): Promise<never> {
      throw new PgError('0A000', 'the anthropic provider has no embeddings API', {
        hint: 'Register a model of provider openai, azure_openai, ollama or openai_compatible for embeddings.',
      });
    },
  };
}
