// OpenAI and everything that speaks its chat-completions API, on the official `openai` SDK: OpenAI itself, Azure
// OpenAI (the SDK's AzureOpenAI client), Ollama and any OpenAI-compatible server by base URL (vLLM, llama.cpp,
// LM Studio, LiteLLM). The SDK retries 429, 5xx and connection errors with backoff, honouring Retry-After; its
// errors become PostgreSQL errors here, with the API key never in their text.

import OpenAI, { AzureOpenAI } from 'openai';
import { PgError } from '../../proxy/pg-error.js';
import { fromSdkError, ProviderError } from './errors.js';
import type { ChatRequest, ChatResult, Provider, StreamEvent } from './provider.js';

export type OpenAiFlavour = 'openai' | 'azure_openai' | 'ollama' | 'openai_compatible';

const OLLAMA_BASE_URL = 'http://localhost:11434/v1';
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_RETRIES = 2;
/** Without token log-probabilities there is no measure of certainty: this documented value stands in. */
export const DEFAULT_CONFIDENCE = 0.8;

export function openAiProvider(flavour: OpenAiFlavour, config: Record<string, unknown>, apiKey: string | undefined): Provider {
  const model = String(config.model_name ?? config.deployment ?? '');
  if (!model) throw new PgError('22023', `the ${flavour} provider needs model_name in the model config`);
  const baseURL = (config.base_url ?? config.endpoint ?? config.api_endpoint) as string | undefined;
  if (flavour === 'openai_compatible' && !baseURL) throw new PgError('22023', 'the openai_compatible provider needs base_url in the model config');
  if ((flavour === 'openai' || flavour === 'azure_openai') && !apiKey) {
    throw new PgError('22023', `the ${flavour} provider needs an API key`, { hint: 'Pass it as the api_key argument of pg_llm_add_model.' });
  }
  const options = {
    apiKey: apiKey || 'not-needed',
    timeout: Number(config.timeout_ms ?? DEFAULT_TIMEOUT_MS),
    maxRetries: Number(config.max_retries ?? DEFAULT_MAX_RETRIES),
  };
  let client: OpenAI | undefined;
  // Made at the first call, so that registering a model needs no network and no valid key yet.
  const sdk = (): OpenAI =>
    (client ??=
      flavour === 'azure_openai'
        ? new AzureOpenAI({ ...options, endpoint: baseURL, apiVersion: String(config.api_version ?? '2024-10-21'), deployment: model })
        : new OpenAI({ ...options, baseURL: baseURL ?? (flavour === 'ollama' ? OLLAMA_BASE_URL : undefined) }));
  const body = (prompt: string) => ({
    model,
    messages: [
      ...(typeof config.system_prompt === 'string' ? [{ role: 'system' as const, content: config.system_prompt }] : []),
      { role: 'user' as const, content: prompt },
    ],
    ...(config.temperature === undefined ? {} : { temperature: Number(config.temperature) }),
    ...(config.max_tokens === undefined ? {} : { max_tokens: Number(config.max_tokens) }),
  });
  const fail = (error: unknown): never => {
    throw fromSdkError(flavour, error, apiKey, OpenAI);
  };

  return {
    async chat(request: ChatRequest): Promise<ChatResult> {
      const completion = await sdk().chat.completions.create(body(request.prompt), { signal: request.signal }).catch(fail);
      const choice = completion.choices?.[0];
      if (!choice || typeof choice.message?.content !== 'string') throw new ProviderError(`${flavour} answered without a message`);
      return {
        text: choice.message.content,
        confidence: DEFAULT_CONFIDENCE,
        model: completion.model ?? model,
        usage: { promptTokens: completion.usage?.prompt_tokens ?? 0, completionTokens: completion.usage?.completion_tokens ?? 0 },
      };
    },
    async *stream(request: ChatRequest): AsyncIterable<StreamEvent> {
      const chunks = await sdk()
        .chat.completions.create({ ...body(request.prompt), stream: true, stream_options: { include_usage: true } }, { signal: request.signal })
        .catch(fail);
      let text = '';
      let usage = { promptTokens: 0, completionTokens: 0 };
      let answeredBy = model;
      try {
        for await (const chunk of chunks) {
          answeredBy = chunk.model ?? answeredBy;
          if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
          const piece = chunk.choices?.[0]?.delta?.content;
          if (piece) {
            text += piece;
            yield { kind: 'chunk', text: piece };
          }
        }
      } catch (error) {
        fail(error);
      }
      yield { kind: 'done', result: { text, confidence: DEFAULT_CONFIDENCE, model: answeredBy, usage } };
    },
  };
}
