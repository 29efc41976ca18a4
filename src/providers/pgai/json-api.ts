// A provider's JSON API over HTTP, for the APIs that pgai's functions call as pgai calls them (no SDK speaks
// Ollama's, Cohere's or Voyage AI's own here, and pgai hands on OpenAI's and Anthropic's answers as they come).
// Every request goes through the guarded fetch of http.ts (host policy, answer caps, timeout_ms as a deadline),
// 429, 5xx and connection failures are retried with backoff as the SDKs retry them (honouring Retry-After), and
// the provider's errors become PostgreSQL errors with the key never in their text.

import { setTimeout as sleep } from 'node:timers/promises';
import { PgError } from '../../../proxy/pg-error.js';
import { causes, ProviderError, redact } from '../errors.js';
import { answerBytes, readJson, type JsonAnswer, type JsonReading } from '../answers/json-answer.js';
import type { HttpSettings } from '../http.js';
import { bigBody, JSON_CONTENT } from '../request-body.js';
import type { AnswerKind } from '../response-cap.js';

/** Where and how to reach one provider's API. */
export interface JsonApi {
  /** The provider's name, for messages. */
  provider: string;
  baseUrl: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  /** Masked in whatever the provider says back: the key, and the values of the call's own headers and query parameters. */
  secrets: Array<string | undefined>;
  /** The kind of answers it gives, whose caps and limits they keep to. */
  kind: AnswerKind;
  /** A client that leaves the reading of its answers to requestJson. */
  http: HttpSettings;
}

const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 8_000;
/** A Retry-After beyond this is not waited for: the SDKs' rule, so a server cannot park a call for hours. */
const LONGEST_RETRY_AFTER_MS = 60_000;

/** The answer to a request of `path` below the API's base URL, read as `reading` says (json-answer.ts). */
export async function requestJson(api: JsonApi, method: 'GET' | 'POST', path: string, body: unknown, signal: AbortSignal, reading: JsonReading): Promise<JsonAnswer> {
  const url = new URL(`${api.baseUrl.replace(/\/+$/, '')}${path}`);
  for (const [name, value] of Object.entries(api.query)) url.searchParams.set(name, value);
  const init = {
    method,
    headers: lowerCased({ accept: 'application/json', ...(body === undefined ? {} : JSON_CONTENT), ...api.headers }),
    ...(body === undefined ? {} : { body: (typeof body === 'object' && body !== null && (await bigBody(body))) || JSON.stringify(body) }),
    signal,
  };
  for (let attempt = 0; ; attempt++) {
    const retry = async (waitMs: number): Promise<void> => void (await sleep(waitMs, undefined, { signal }));
    let status: number;
    let text: Uint8Array;
    let retryAfter: string | null;
    try {
      const response = await api.http.fetch(url, init);
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      text = await answerBytes(response.body);
    } catch (error) {
      if (signal.aborted) throw error;
      const own = causes(error).find((cause) => cause instanceof PgError);
      // An unreachable or slow server is worth another try; the operator's host policy and caps are not.
      if (own instanceof ProviderError && attempt < api.http.maxRetries) {
        await retry(backoff(attempt));
        continue;
      }
      throw own ?? new ProviderError(`${api.provider} failed: ${redact(String((error as Error).message), api.secrets)}`);
    }
    if (status >= 200 && status < 300) return readJson(text, reading, api.kind, api.secrets);
    if ((status === 408 || status === 409 || status === 429 || status >= 500) && attempt < api.http.maxRetries) {
      await retry(retryAfterMs(retryAfter) ?? backoff(attempt));
      continue;
    }
    throw statusError(api, status, new TextDecoder().decode(text));
  }
}

/**
 * Header names are case-insensitive: a call's own Authorization (extra_headers) replaces the authorization the key
 * makes, as in pgai's client, rather than going out beside it. The last of a name wins.
 */
function lowerCased(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

/** Exponential, with jitter so that calls failing together do not come back together. */
function backoff(attempt: number): number {
  return Math.min(FIRST_RETRY_MS * 2 ** attempt, LONGEST_RETRY_MS) * (0.75 + Math.random() / 4);
}

/** Retry-After in seconds or as a date; undefined when absent, unreadable or too far off. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return ms >= 0 && ms <= LONGEST_RETRY_AFTER_MS ? ms : undefined;
}

/** The provider's refusal as PostgreSQL's error class for it, with the provider's own words (masked and cut short). */
function statusError(api: JsonApi, status: number, body: string): PgError {
  const said = redact(`${status} ${messageOf(body)}`, api.secrets);
  if (status === 401 || status === 403) return new PgError('28000', `${api.provider} refused the API key: ${said}`, { hint: 'Pass the right key as api_key, or set it (SET ai.<name>_api_key).' });
  if (status === 404) return new PgError('42704', `${api.provider} does not know the model or the path: ${said}`);
  if (status === 400 || status === 413 || status === 422) return new PgError('22023', `${api.provider} refused the request: ${said}`);
  return new ProviderError(`${api.provider} failed: ${said}`);
}

/** What the APIs put in an error answer: {"error": {"message"}}, {"error": "…"}, {"message"} or {"detail"}. */
function messageOf(body: string): string {
  try {
    const json = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown };
    const message = typeof json.error === 'string' ? json.error : (json.error?.message ?? json.message ?? json.detail);
    if (message !== undefined) return typeof message === 'string' ? message : JSON.stringify(message);
  } catch {
    // Not JSON: the text itself, cut short by redact.
  }
  return body;
}
