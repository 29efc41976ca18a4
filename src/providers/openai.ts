// OpenAI and everything that speaks its API, on the official `openai` SDK: OpenAI itself, Azure OpenAI (the SDK's
// AzureOpenAI client: the request's model is the deployment), Ollama and any OpenAI-compatible server by base URL
// (vLLM, llama.cpp, LM Studio, LiteLLM). The SDK retries 429, 5xx and connection errors with backoff, honouring
// Retry-After; its errors become PostgreSQL errors here, with the API key never in their text.

import OpenAI, { AzureOpenAI } from 'openai';
import type { ChatCompletionCreateParamsBase } from 'openai/resources/chat/completions/completions';
import { PgError } from '../../proxy/pg-error.js';
import { askingEmbeddings } from './answers/embeddings-asked.js';
import type { AnswerShapes, Shape } from './answers/shape.js';
import { confidenceOf, fallbackConfidence } from './confidence.js';
import { checkedVectors } from './embedding-vectors.js';
import { fromSdkError, ProviderError } from './errors.js';
import { httpSettings } from './http.js';
import { withLearntChoices, type ParameterChoices } from './openai-parameters.js';
import { sdkBodyOptions } from './request-body.js';
import { DEFAULT_MODEL_NAMES } from './model-names.js';
import type { AnswerKind } from './response-cap.js';
import { answeredModel, tokenCount, type ChatRequest, type ChatResult, type EmbedRequest, type EmbedResult, type Provider, type StreamEvent, type Usage } from './provider.js';

export type OpenAiFlavour = 'openai' | 'azure_openai' | 'ollama' | 'openai_compatible';

const OLLAMA_BASE_URL = 'http://localhost:11434/v1';
/** OpenAI's limit of inputs per embeddings request. */
const MAX_EMBEDDING_BATCH = 2048;
const DEFAULT_EMBEDDING_MODEL: Partial<Record<OpenAiFlavour, string>> = { openai: 'text-embedding-3-small', ollama: 'nomic-embed-text' };
/** More tokens than any model writes in one answer: the log-probabilities read of a big answer. */
const MOST_TOKENS = 65_536;

// What this adapter (and the SDK) reads of an answer: a big answer reaches the SDK cut down to these (answers/).
const USAGE: Shape = { fields: { prompt_tokens: 'scalar', completion_tokens: 'scalar', total_tokens: 'scalar' } };
const choices = (message: 'message' | 'delta'): Shape => ({
  first: 1,
  items: {
    fields: {
      index: 'scalar',
      finish_reason: 'scalar',
      [message]: { fields: { role: 'scalar', content: 'scalar', refusal: 'scalar' } },
      logprobs: { fields: { content: { first: MOST_TOKENS, items: { fields: { logprob: 'scalar' } } } } },
    },
  },
});
const ANSWER_HEAD = { id: 'scalar', object: 'scalar', created: 'scalar', model: 'scalar' } as const;
const CHAT_SHAPES: AnswerShapes = {
  answer: { fields: { ...ANSWER_HEAD, choices: choices('message'), usage: USAGE } },
  // The SDK fails a stream on an event with an error.
  event: { fields: { ...ANSWER_HEAD, choices: choices('delta'), usage: USAGE, error: { fields: { message: 'scalar', type: 'scalar', code: 'scalar' } } } },
};
/** One more vector than asked for is kept, so that an answer with too many still reads as one. */
const embeddingShape = (batchSize: number): Shape => ({
  fields: { ...ANSWER_HEAD, data: { first: batchSize + 1, items: { fields: { index: 'scalar', embedding: 'vector' } } }, usage: USAGE },
});

export function openAiProvider(flavour: OpenAiFlavour, config: Record<string, unknown>, apiKey: string | undefined, instance: string): Provider {
  const model = String(config.model_name ?? config.deployment ?? DEFAULT_MODEL_NAMES[flavour] ?? '');
  if (!model) throw new PgError('22023', `the ${flavour} provider needs model_name in the model config`);
  const baseURL = (config.base_url ?? config.endpoint ?? config.api_endpoint) as string | undefined;
  if (flavour === 'openai_compatible' && !baseURL) throw new PgError('22023', 'the openai_compatible provider needs base_url in the model config');
  if ((flavour === 'openai' || flavour === 'azure_openai') && !apiKey) {
    throw new PgError('22023', `the ${flavour} provider needs an API key`, { hint: 'Pass it as the api_key argument of pg_llm_add_model.' });
  }
  const embeddingModel = (config.embedding_model ?? config.embedding_deployment ?? DEFAULT_EMBEDDING_MODEL[flavour] ?? model) as string;
  const embeddingBatchSize = Number(config.embedding_batch_size ?? MAX_EMBEDDING_BATCH);
  if (!Number.isInteger(embeddingBatchSize) || embeddingBatchSize < 1) throw new PgError('22023', 'invalid model config: embedding_batch_size must be a positive whole number');
  // Servers other than OpenAI's and Azure's often refuse or ignore logprobs, so they are asked for only there; a model
  // that refuses them (or max_tokens) is asked again without (openai-parameters.ts).
  const choices = {
    current: { logprobs: config.logprobs === undefined ? flavour === 'openai' || flavour === 'azure_openai' : config.logprobs === true, tokenLimit: 'max_tokens' } as ParameterChoices,
  };
  const fallback = fallbackConfidence(config);
  // OpenAI's and Azure's base64 embeddings are a quarter of the size of their float JSON; other servers may not know it.
  const encodingFormat = flavour === 'openai' || flavour === 'azure_openai' ? 'base64' : 'float';
  const dimensions = config.embedding_dimensions === undefined ? undefined : Number(config.embedding_dimensions);
  // One client per kind of answer, since each has its own cap on an answer's size (embeddings need far more).
  const http = {
    chat: httpSettings(config, instance, 'chat', CHAT_SHAPES),
    embedding: httpSettings(config, instance, 'embedding', { answer: embeddingShape(embeddingBatchSize) }),
  };
  const clients: Partial<Record<AnswerKind, OpenAI>> = {};
  // Made at the first call, so that registering a model needs no network and no valid key yet.
  const sdk = (kind: AnswerKind = 'chat'): OpenAI => {
    const options = { apiKey: apiKey || 'not-needed', ...http[kind] };
    return (clients[kind] ??=
      flavour === 'azure_openai'
        ? new AzureOpenAI({ ...options, endpoint: baseURL, apiVersion: String(config.api_version ?? '2024-10-21') })
        : new OpenAI({ ...options, baseURL: baseURL ?? (flavour === 'ollama' ? OLLAMA_BASE_URL : undefined) }));
  };
  const fail = (error: unknown): never => {
    throw fromSdkError(flavour, error, apiKey, OpenAI);
  };


  return {
    embeddingBatchSize,
    async chat(request: ChatRequest): Promise<ChatResult> {
      const completion = await withLearntChoices(choices, async (chosen) => {
        const body = { ...chatCompletionBody(model, chosen, request), stream: false as const };
        return sdk().chat.completions.create(body, { signal: request.signal, ...(await sdkBodyOptions(body)) });
      }).catch(fail);
      const choice = completion.choices?.[0];
      if (!choice || typeof choice.message?.content !== 'string') throw new ProviderError(`${flavour} answered without a message`);
      return {
        text: choice.message.content,
        ...confidenceOf((choice.logprobs?.content ?? []).map((token) => token.logprob), fallback),
        model: answeredModel(completion.model, model),
        usage: usageOf(completion.usage),
      };
    },
    async *stream(request: ChatRequest): AsyncIterable<StreamEvent> {
      const chunks = await withLearntChoices(choices, async (chosen) => {
        const body = { ...chatCompletionBody(model, chosen, request), stream: true as const, stream_options: { include_usage: true } };
        return sdk().chat.completions.create(body, { signal: request.signal, ...(await sdkBodyOptions(body)) });
      }).catch(fail);
      let text = '';
      let usage: Usage = { promptTokens: 0, completionTokens: 0 };
      let answeredBy = model;
      const tokenLogprobs: number[] = [];
      try {
        for await (const chunk of chunks) {
          answeredBy = answeredModel(chunk.model, answeredBy);
          if (chunk.usage) usage = usageOf(chunk.usage);
          const choice = chunk.choices?.[0];
          for (const token of choice?.logprobs?.content ?? []) tokenLogprobs.push(token.logprob);
          const piece = choice?.delta?.content;
          if (piece) {
            text += piece;
            yield { kind: 'chunk', text: piece };
          }
        }
      } catch (error) {
        fail(error);
      }
      yield { kind: 'done', result: { text, ...confidenceOf(tokenLogprobs, fallback), model: answeredBy, usage } };
    },
    async embed({ texts, signal }: EmbedRequest): Promise<EmbedResult> {
      const request = { model: embeddingModel, input: texts, encoding_format: encodingFormat, ...(dimensions === undefined ? {} : { dimensions }) } as const;
      const response = await askingEmbeddings({ texts: texts.length, ...(dimensions === undefined ? {} : { dimensions }) }, async () => sdk('embedding').embeddings.create(request, { signal, ...(await sdkBodyOptions(request)) })).catch(fail);
      const data = Array.isArray(response.data) ? [...response.data].sort((a, b) => a.index - b.index) : [];
      return {
        vectors: await checkedVectors(flavour, data.map((item) => item.embedding), texts.length, dimensions),
        model: answeredModel(response.model, embeddingModel),
        usage: { promptTokens: tokenCount(response.usage?.prompt_tokens), completionTokens: 0 },
      };
    },
  };
}

/** The body of a chat completion request (also a line of a batch's input file: batch-apis.ts). */
export function chatCompletionBody(
  model: string,
  { logprobs, tokenLimit }: ParameterChoices,
  { prompt, history = [], options: chat }: Pick<ChatRequest, 'prompt' | 'history' | 'options'>,
): ChatCompletionCreateParamsBase {
  const format = chat.responseFormat;
  return {
    model,
    messages: [...(chat.system === undefined ? [] : [{ role: 'system' as const, content: chat.system }]), ...history, { role: 'user' as const, content: prompt }],
    ...(chat.temperature === undefined ? {} : { temperature: chat.temperature }),
    ...(chat.maxTokens === undefined ? {} : { [tokenLimit]: chat.maxTokens }),
    ...(format.type === 'json_object' ? { response_format: { type: 'json_object' } } : {}),
    ...(format.type === 'json_schema' ? { response_format: { type: 'json_schema', json_schema: { name: format.name, schema: format.schema, strict: format.strict ?? true } } } : {}),
    ...(logprobs ? { logprobs: true } : {}),
  };
}

function usageOf(usage: OpenAI.CompletionUsage | undefined | null): Usage {
  return { promptTokens: tokenCount(usage?.prompt_tokens), completionTokens: tokenCount(usage?.completion_tokens) };
}
