// One interface for every model provider: a whole answer, the answer as it streams, embeddings, and (for pgai's
// functions) a request of the provider's own API. Adapters turn a model instance's config (from pg_llm_add_model),
// or a pgai call's arguments, into one of these.

import type { Asker } from './asker.js';
import type { Shape } from './answers/shape.js';

/** What the answer must look like: free text, any JSON object, or JSON that a schema describes. */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      name: string;
      schema: Record<string, unknown>;
      /**
       * false: the schema guides the answer without constraining it, for schemas beyond what providers enforce
       * (theirs need every property required and no others allowed); the caller checks the answer itself.
       */
      strict?: boolean;
    };

/** How to answer: the model config's values, overridden by the call's options (see options.ts). */
export interface ChatOptions {
  system?: string;
  temperature?: number;
  maxTokens?: number;
  responseFormat: ResponseFormat;
}

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  prompt: string;
  /** Earlier turns of a conversation, oldest first, sent before the prompt. */
  history?: ChatMessage[];
  options: ChatOptions;
  /** Aborted when the client cancels the statement or goes away: the request must stop then. */
  signal: AbortSignal;
  /**
   * Who asks (role and database), whose daily budget and spend the request counts in: an answer is served again only
   * to whoever asked it (the response cache), and the process's model-call slots and answer bytes are shared fairly by
   * askers (limits.ts). The worker's requests are made for the owner of their tables (src/worker/). A request
   * without one is never cached, and shares its turns with the others without one.
   */
  asker?: Asker;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/**
 * A token count as a provider's answer gives it, as the proxy counts it: a whole number from 0, none for anything
 * else (a negative count, 1e400 read as Infinity, a string), which would stop the metrics' counters or void a cost.
 */
export function tokenCount(value: unknown): number {
  return typeof value === 'number' && value > 0 && Number.isFinite(value) ? Math.min(Math.floor(value), Number.MAX_SAFE_INTEGER) : 0;
}

/**
 * The name of the model that answered, as the provider's answer gives it, or the one asked for when the answer gives
 * none a model name could be: the name goes into audit rows, session messages and spend, and a model's server (any
 * role's choice) could give one as long as an answer.
 */
export function answeredModel(said: unknown, asked: string): string {
  return typeof said === 'string' && said.length > 0 && said.length <= MAX_MODEL_NAME ? said : asked;
}

/** Longer than any provider's model names (Azure deployments, Hugging Face paths, Ollama tags). */
const MAX_MODEL_NAME = 256;

/**
 * Where a confidence score comes from: the answer's token log-probabilities, the model config's documented
 * `confidence_fallback` when the provider gives none, or the mock provider's configured value.
 */
export type ConfidenceSource = 'logprobs' | 'fallback' | 'configured';

export interface ChatResult {
  text: string;
  /** 0 to 1: how sure the model is of its answer. */
  confidence: number;
  confidenceSource: ConfidenceSource;
  usage: Usage;
  /** The provider's own name for the model that answered. */
  model: string;
  /** US dollars, when the model's price is known (see metrics.ts). */
  costUsd?: number;
  /** True when the answer came from the response cache, without a request to the provider. */
  cached?: boolean;
  /**
   * True when a cap in dollars held the answer to fewer tokens than the request asked for, and it took them all: it may
   * be cut short, so it is not the request's answer to keep (response-cache.ts).
   */
  heldShort?: boolean;
}

export type StreamEvent = { kind: 'chunk'; text: string } | { kind: 'done'; result: ChatResult };

export interface EmbedRequest {
  texts: string[];
  signal: AbortSignal;
  /** As a chat request's. */
  asker?: Asker;
  /**
   * The texts are one request already, cut to the provider's limits (the vectorizer's worker cuts its batches so):
   * sent as they are, never merged with other requests (src/providers/embedding-batcher.ts).
   */
  whole?: boolean;
}

export interface EmbedResult {
  /** One vector per text, in the order of the texts. */
  vectors: number[][];
  model: string;
  usage: Usage;
}

/** What a request of a provider's own API is for: how /metrics counts it. */
export type ApiKind = 'chat' | 'embed' | 'moderate' | 'rerank' | 'list';

/**
 * A request of the provider's own HTTP API, sent as it is and answered with the provider's JSON (pgai's functions
 * hand that on to their callers). The path is below the provider's base URL.
 */
export interface ApiRequest {
  kind: ApiKind;
  method: 'GET' | 'POST';
  path: string;
  body?: Record<string, unknown>;
  /** Tokens the request may count against a tokens-per-minute limit before its usage is known. */
  estimatedTokens: number;
  signal: AbortSignal;
  /** Whose share of the proxy's limits the request uses (asker.ts). */
  asker?: Asker;
  /** A chat request's answer tokens that a cap in dollars holds (metrics.ts): the adapter asks its API for no more. */
  maxAnswerTokens?: number;
  /** What the caller reads of the answer (the part a shape describes), or that it hands the answer on whole. */
  reads: Shape | 'whole';
}

export interface ApiAnswer {
  body: unknown;
  usage: Usage;
  /** The model as the answer names it, else as the request did. */
  model: string;
}

export interface Provider {
  chat(request: ChatRequest): Promise<ChatResult>;
  /** Chunks as the provider produces them, then one 'done' with the whole answer. */
  stream(request: ChatRequest): AsyncIterable<StreamEvent>;
  /** At most `embeddingBatchSize` texts per call; providers without embeddings fail with 0A000. */
  embed(request: EmbedRequest): Promise<EmbedResult>;
  /** How many texts one embeddings request may carry. */
  readonly embeddingBatchSize: number;
  /** Only the adapters of pgai's functions (src/providers/pgai/) send requests of their API's own. */
  send?(request: ApiRequest): Promise<ApiAnswer>;
}
