// Anthropic's Messages API on the official @anthropic-ai/sdk: chat and token streaming with usage, the SDK's
// retries with backoff (429, 5xx, connection errors, honouring Retry-After), errors mapped like every SDK's.

import Anthropic from '@anthropic-ai/sdk';
import { PgError } from '../../proxy/pg-error.js';
import { fromSdkError, ProviderError } from './errors.js';
import { DEFAULT_CONFIDENCE } from './openai.js';
import type { ChatRequest, ChatResult, Provider, StreamEvent } from './provider.js';

const DEFAULT_MAX_TOKENS = 1024;
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_RETRIES = 2;

export function anthropicProvider(config: Record<string, unknown>, apiKey: string | undefined): Provider {
  const model = String(config.model_name ?? '');
  if (!model) throw new PgError('22023', 'the anthropic provider needs model_name in the model config');
  if (!apiKey) throw new PgError('22023', 'the anthropic provider needs an API key', { hint: 'Pass it as the api_key argument of pg_llm_add_model.' });
  const baseURL = (config.base_url ?? config.endpoint ?? config.api_endpoint) as string | undefined;
  let client: Anthropic | undefined;
  // Made at the first call, so that registering a model needs no network.
  const sdk = (): Anthropic =>
    (client ??= new Anthropic({
      apiKey,
      ...(baseURL ? { baseURL } : {}),
      timeout: Number(config.timeout_ms ?? DEFAULT_TIMEOUT_MS),
      maxRetries: Number(config.max_retries ?? DEFAULT_MAX_RETRIES),
    }));
  const body = (prompt: string) => ({
    model,
    max_tokens: Number(config.max_tokens ?? DEFAULT_MAX_TOKENS),
    messages: [{ role: 'user' as const, content: prompt }],
    ...(typeof config.system_prompt === 'string' ? { system: config.system_prompt } : {}),
    ...(config.temperature === undefined ? {} : { temperature: Number(config.temperature) }),
  });
  const fail = (error: unknown): never => {
    throw fromSdkError('anthropic', error, apiKey, Anthropic);
  };

  return {
    async chat(request: ChatRequest): Promise<ChatResult> {
      const message = await sdk().messages.create(body(request.prompt), { signal: request.signal }).catch(fail);
      const blocks = Array.isArray(message.content) ? message.content : [];
      const text = blocks.map((block) => (block.type === 'text' ? block.text : '')).join('');
      if (blocks.length === 0) throw new ProviderError('anthropic answered without content');
      return {
        text,
        confidence: DEFAULT_CONFIDENCE,
        model: message.model ?? model,
        usage: { promptTokens: message.usage?.input_tokens ?? 0, completionTokens: message.usage?.output_tokens ?? 0 },
      };
    },
    async *stream(request: ChatRequest): AsyncIterable<StreamEvent> {
      const events = await sdk().messages.create({ ...body(request.prompt), stream: true }, { signal: request.signal }).catch(fail);
      let text = '';
      let answeredBy = model;
      const usage = { promptTokens: 0, completionTokens: 0 };
      try {
        for await (const event of events) {
          if (event.type === 'message_start') {
            answeredBy = event.message.model ?? answeredBy;
            usage.promptTokens = event.message.usage?.input_tokens ?? 0;
          } else if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
            text += event.delta.text;
            yield { kind: 'chunk', text: event.delta.text };
          } else if (event.type === 'message_delta') {
            usage.completionTokens = event.usage?.output_tokens ?? usage.completionTokens;
          }
        }
      } catch (error) {
        fail(error);
      }
      yield { kind: 'done', result: { text, confidence: DEFAULT_CONFIDENCE, model: answeredBy, usage } };
    },
  };
}
