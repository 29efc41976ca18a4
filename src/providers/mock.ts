// The deterministic, offline provider: answers from its config, so tests and demos need no network. Keys:
// mock_response (the answer; default: the prompt echoed), mock_mode ("echo": the prompt; "md5": md5 hex of the
// prompt, as PostgreSQL's md5() computes it), mock_chunks (the answer's stream pieces), mock_confidence,
// mock_latency_ms (delay before each chunk, and before a whole answer), mock_error (fail with this message).

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgError } from '../../proxy/pg-error.js';
import type { ChatRequest, ChatResult, Provider, StreamEvent } from './provider.js';
import { ProviderError } from './errors.js';

const DEFAULT_CONFIDENCE = 0.9;

export interface MockConfig {
  mock_response?: unknown;
  mock_mode?: unknown;
  mock_chunks?: unknown;
  mock_confidence?: unknown;
  mock_latency_ms?: unknown;
  mock_error?: unknown;
  model_name?: unknown;
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

  const answer = (prompt: string): string => {
    if (config.mock_mode === 'md5') return createHash('md5').update(prompt, 'utf8').digest('hex');
    if (config.mock_mode === 'echo' || config.mock_response === undefined) {
      return Array.isArray(config.mock_chunks) ? (config.mock_chunks as string[]).join('') : prompt;
    }
    return String(config.mock_response);
  };
  const result = (prompt: string, text: string): ChatResult => ({
    text,
    confidence,
    model,
    usage: { promptTokens: estimateTokens(prompt), completionTokens: estimateTokens(text) },
  });
  const failIfAsked = (): void => {
    if (config.mock_error !== undefined) throw new ProviderError(`mock provider failed: ${String(config.mock_error)}`);
  };

  return {
    async chat(request: ChatRequest): Promise<ChatResult> {
      if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: request.signal });
      failIfAsked();
      return result(request.prompt, answer(request.prompt));
    },
    async *stream(request: ChatRequest): AsyncIterable<StreamEvent> {
      const text = answer(request.prompt);
      const chunks = Array.isArray(config.mock_chunks) && config.mock_mode === undefined ? (config.mock_chunks as string[]) : splitWords(text);
      for (const chunk of chunks) {
        if (latencyMs > 0) await sleep(latencyMs, undefined, { signal: request.signal });
        request.signal.throwIfAborted();
        failIfAsked();
        yield { kind: 'chunk', text: chunk };
      }
      yield { kind: 'done', result: result(request.prompt, chunks.join('')) };
    },
  };
}

/** Pieces of about a word each, spaces kept, so joining them gives the text back. */
function splitWords(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [''];
}

/** About four characters a token, as the providers' own rule of thumb has it. */
function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function invalid(message: string): PgError {
  return new PgError('22023', `invalid mock model config: ${message}`);
}
