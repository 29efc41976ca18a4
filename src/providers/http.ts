// The HTTP settings every SDK client gets from a model config: a total time per request (timeout_ms, which the SDK
// enforces and retries), a separate time to connect (connect_timeout_ms, so an unreachable host fails fast while a
// slow answer may still take long), and retries. Node's built-in fetch has neither a connect timeout of its own nor
// room for answers longer than five minutes, so the SDKs are given undici's fetch with an Agent set accordingly.
// Every answer is read up to the operator's cap (response-cap.ts), which a model config may only lower.

import { Agent, fetch } from 'undici';
import { PgError } from '../../proxy/pg-error.js';
import { capped } from './response-cap.js';

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RETRIES = 2;
/**
 * The largest legitimate answers are embeddings: a full batch of 2048 texts from text-embedding-3-small (1536
 * dimensions) in OpenAI's indented float JSON measures about 91 MiB. Chat answers, streamed with log-probabilities,
 * stay far below.
 */
const DEFAULT_MAX_RESPONSE_BYTES = 128 * 1024 ** 2;

const operator = { maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES };

/** The operator's settings (--max-response-bytes); defaults for those not given. */
export function configureProviderHttp(settings: { maxResponseBytes?: number }): void {
  operator.maxResponseBytes = settings.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
}

export interface HttpSettings {
  timeout: number;
  maxRetries: number;
  fetch: typeof globalThis.fetch;
}

export function httpSettings(config: Record<string, unknown>): HttpSettings {
  const timeout = whole(config, 'timeout_ms', DEFAULT_TIMEOUT_MS, 1);
  const connectTimeout = whole(config, 'connect_timeout_ms', DEFAULT_CONNECT_TIMEOUT_MS, 1);
  const maxRetries = whole(config, 'max_retries', DEFAULT_MAX_RETRIES, 0);
  const modelMaxResponseBytes = whole(config, 'max_response_bytes', Infinity, 1);
  const dispatcher = new Agent({ connect: { timeout: connectTimeout }, headersTimeout: timeout, bodyTimeout: timeout });
  const agentFetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    try {
      const response = await fetch(input, { ...init, dispatcher });
      return capped(response, Math.min(operator.maxResponseBytes, modelMaxResponseBytes));
    } catch (error) {
      // The SDKs take any error whose text says "timeout" for the request's own timeout, which this is not: the host is
      // unreachable, and is reported (and retried) as such.
      if ((error as { cause?: { code?: string } }).cause?.code === 'UND_ERR_CONNECT_TIMEOUT') {
        throw new TypeError(`could not connect within ${connectTimeout} ms`);
      }
      throw error;
    }
  }) as unknown as typeof globalThis.fetch;
  return { timeout, maxRetries, fetch: agentFetch };
}

function whole(config: Record<string, unknown>, key: string, fallback: number, minimum: number): number {
  const value = config[key];
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum) {
    throw new PgError('22023', `invalid model config: ${key} must be a whole number of at least ${minimum}`);
  }
  return number;
}
