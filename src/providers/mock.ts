// The deterministic, offline provider: answers from its config, so tests and demos need no network. Keys:
// mock_response (the answer; default: the prompt echoed, but for a request of SQL over a schema, which gets a query
// of the table it names: mock-sql.ts), mock_mode ("echo": the prompt; "md5": md5 hex of the
// prompt, as PostgreSQL's md5() computes it), mock_chunks (the answer's stream pieces), mock_confidence,
// mock_latency_ms (delay before each chunk, and before a whole answer), mock_error (fail with this message),
// embedding_dimensions (of its embeddings: the local, model-free embedding of local-embedding.ts). Asked for JSON,
// it answers mock_response when that is JSON, and {"response": answer} otherwise. Any role may register one, so it
// keeps to what a real provider's answers keep to: the cap on an answer's size (--max-response-bytes, lowered by
// max_response_bytes), and a stream that leaves the event loop a turn now and then, as one read from a socket does.

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgError } from '../../proxy/pg-error.js';
import { EventLoopTurns } from '../event-loop-turns.js';
import { exceededJsonLimit } from '../json-structure.js';
import { MAX_EMBEDDING_DIMENSIONS } from './embedding-dimensions.js';
import { ProviderError } from './errors.js';
import { answerCap } from './http.js';
import { DEFAULT_LOCAL_DIMENSIONS } from './local-embedding.js';
import { localVectors } from './local-vectors.js';
import { mockSqlAnswer } from './mock-sql.js';
import { JSON_ANSWER_LIMITS } from './options.js';
import { AnswerTooLarge } from './response-cap.js';
import { estimateTokens } from './tokens.js';
import type { ChatRequest, ChatResult, EmbedRequest, EmbedResult, Provider, StreamEvent } from './provider.js';

const DEFAULT_CONFIDENCE = 0.9;

export interface MockConfig {
  mock_response?: unknown;
  mock_mode?: unknown;
  mock_chunks?: unknown;
  mock_confidence?: unknown;
  mock_latency_ms?: unknown;
  mock_error?: unknown;
  model_name?: unknown;
  embedding_dimensions?: unknown;
  max_response_bytes?: unknown;
}

export function mockProvider(config: MockConfig): Provider {
  const latencyMs = Number(config.mock_latency_ms ?? 0);
  const confidence = Number(config.mock_confidence ?? DEFAULT_CONFIDENCE);
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw invalid('mock_latency_ms must be a number of milliseconds');
  if (!Number.isFinite(confidence) || confidence < 0 || confidence > 1) throw invalid('mock_confidence must be between 0 and 1');
  if (config.mock_chunks !== undefined && !(Array.isArray(config.mock_chunks) && config.mock_chunks.every((chunk) => typeof chunk === 'string'))) {
    throw invalid('mock_chunks must be an array of strings');
  }
  const model = typeof config.model_name === 'string' ? config.model_name : 'mock';
  const cap = answerCap(config as Record<string, unknown>, 'chat');
  /** Counts `bytes` more of an answer that has `seen` so far: the new total, unless that is over the cap. */
  const withinCap = (seen: number, text: string): number => {
    const limit = cap();
    const bytes = seen + Buffer.byteLength(text);
    if (bytes > limit) throw new AnswerTooLarge(limit, 'chat');
    return bytes;
  };
  const dimensions = Number(config.embedding_dimensions ?? DEFAULT_LOCAL_DIMENSIONS);
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_EMBEDDING_DIMENSIONS) {
    throw invalid(`embedding_dimensions must be a whole number from 1 to ${MAX_EMBEDDING_DIMENSIONS}`);
  }

  const plainAnswer = ({ prompt, options }: ChatRequest): string => {
    if (config.mock_mode === 'md5') return createHash('md5').update(prompt, 'utf8').digest('hex');
    if (config.mock_mode === 'echo' || config.mock_response === undefined) {
      if (Array.isArray(config.mock_chunks)) return (config.mock_chunks as string[]).join('');
      return (config.mock_mode === undefined && mockSqlAnswer(prompt, options.system)) || prompt;
    }
    return typeof config.mock_response === 'string' ? config.mock_response : JSON.stringify(config.mock_response);
  };
  const answer = (request: ChatRequest): string => {
    const { options } = request;
    const text = plainAnswer(request);
    return options.responseFormat.type === 'text' || isJson(text) ? text : JSON.stringify({ response: text });
  };
  const result = (prompt: string, text: string): ChatResult => ({
    text,
    confidence,
    confidenceSource: 'configured',
    model,
    usage: { promptTokens: estimateTokens(prompt), completionTokens: estimateTokens(text) },
  });
  const failIfAsked = (): void => {
    if (config.mock_error !== undefined) throw new ProviderError(`mock provider failed: ${String(config.mock_error)}`);
  };

  return {
    embeddingBatchSize: 2048,
    async chat(request: ChatRequest): Promise<ChatResult> {
      if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: request.signal });
      failIfAsked();
      const text = answer(request);
      withinCap(0, text);
      return result(request.prompt, text);
    },
    async *stream(request: ChatRequest): AsyncIterable<StreamEvent> {
      const text = answer(request);
      const fixedChunks = Array.isArray(config.mock_chunks) && config.mock_mode === undefined && request.options.responseFormat.type === 'text';
      const chunks = fixedChunks ? (config.mock_chunks as string[]) : words(text);
      const turns = new EventLoopTurns();
      let seen = 0;
      for (const chunk of chunks) {
        if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: request.signal });
        else await turns.step();
        request.signal.throwIfAborted();
        failIfAsked();
        seen = withinCap(seen, chunk);
        yield { kind: 'chunk', text: chunk };
      }
      yield { kind: 'done', result: result(request.prompt, fixedChunks ? (config.mock_chunks as string[]).join('') : text) };
    },
    async embed({ texts, signal }: EmbedRequest): Promise<EmbedResult> {
      if (latencyMs > 0) await sleep(latencyMs, undefined, { signal });
      failIfAsked();
      const promptTokens = texts.reduce((sum, text) => sum + estimateTokens(text), 0);
      return { vectors: await localVectors(texts, dimensions, signal), model, usage: { promptTokens, completionTokens: 0 } };
    },
  };
}

/** JSON that parseJsonAnswer takes: a prompt past its limits is text, answered wrapped, never parsed here. */
function isJson(text: string): boolean {
  if (exceededJsonLimit(text, JSON_ANSWER_LIMITS) !== undefined) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pieces of about a word each, spaces kept, so joining them gives the text back: found one at a time as the stream
 * takes them, since splitting a prompt of two million words at once held every session for a quarter of a second.
 */
function* words(text: string): Generator<string> {
  if (text === '') yield '';
  const word = /\S+\s*|\s+/g;
  for (let piece = word.exec(text); piece; piece = word.exec(text)) yield piece[0];
}

function invalid(message: string): PgError {
  return new PgError('22023', `invalid mock model config: ${message}`);
}
