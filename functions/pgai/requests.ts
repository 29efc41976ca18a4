// How every pgai function reaches its provider: one request of the API's own, or embeddings (batched with the
// other calls of the same kind: src/providers/pgai/index.ts), each with its audit row, as pg_llm's calls have.

import { PgError } from '../../proxy/pg-error.js';
import { recordCall } from '../../src/catalog/audit.js';
import { embedTexts as embedAll } from '../../src/providers/index.js';
import { apiRequest, pgaiProvider, type PgaiSettings } from '../../src/providers/pgai/index.js';
import type { ApiRequest, Usage } from '../../src/providers/provider.js';
import type { CallContext, ResultDeclaration, ResultRow } from '../declaration.js';

/**
 * The provider's JSON answer to a request of its API: the part `reads` describes, or the whole answer, to be handed on
 * as it is (a big one comes as JSON text: json-text.ts).
 */
export async function askApi(
  context: CallContext,
  settings: PgaiSettings,
  eventType: string,
  request: { kind: ApiRequest['kind']; method?: ApiRequest['method']; path: string; body?: Record<string, unknown>; reads: ApiRequest['reads'] },
): Promise<unknown> {
  const started = performance.now();
  const provider = pgaiProvider(settings);
  const answer = await provider.send!(apiRequest({ ...request, method: request.method ?? 'POST' }, context.signal, await context.asker()));
  await audit(context, settings, eventType, answer.model, answer.usage, started);
  return answer.body;
}

/** The embeddings of the texts, in their order. */
async function embed(context: CallContext, settings: PgaiSettings, eventType: string, texts: string[]): Promise<number[][]> {
  const started = performance.now();
  const result = await embedAll(pgaiProvider(settings), texts, context.signal, await context.asker());
  await audit(context, settings, eventType, result.model, result.usage, started);
  return result.vectors;
}

/** The embedding of one text, NULL for a NULL text; `settings` are asked only when there is a text. */
export async function embedText(context: CallContext, settings: () => Promise<PgaiSettings>, eventType: string, text: unknown): Promise<number[] | null> {
  if (text === null || text === undefined) return null;
  const [vector] = await embed(context, await settings(), eventType, [String(text)]);
  return vector!;
}

/** pgai's result for the embeddings of texts: each text's index from 0, and its vector. */
export const INDEXED_EMBEDDINGS: ResultDeclaration = {
  kind: 'table',
  columns: [
    { name: 'index', type: 'integer' },
    { name: 'embedding', type: 'vector' },
  ],
};

/** pgai's rows of a reranking: each document's index in the array given, its text, and its score. */
export const RERANKED: ResultDeclaration = {
  kind: 'table',
  columns: [
    { name: 'index', type: 'integer' },
    { name: 'document', type: 'text' },
    { name: 'relevance_score', type: 'double precision' },
  ],
};

/** The rows of INDEXED_EMBEDDINGS for the texts of a text[] argument (NULL: no texts, no rows). */
export async function embedTexts(context: CallContext, settings: () => Promise<PgaiSettings>, eventType: string, texts: unknown): Promise<ResultRow[]> {
  const given = ((texts as unknown[] | null) ?? []).map((item) => String(item ?? ''));
  if (given.length === 0) return [];
  const vectors = await embed(context, await settings(), eventType, given);
  return vectors.map((embedding, index) => ({ index, embedding }));
}

function audit(context: CallContext, settings: PgaiSettings, eventType: string, model: string, usage: Usage, started: number): Promise<void> {
  return recordCall(context, {
    eventType,
    instanceName: null,
    success: true,
    confidence: null,
    metadata: {
      provider: settings.api,
      model_name: model,
      prompt_tokens: usage.promptTokens,
      completion_tokens: usage.completionTokens,
      total_tokens: usage.promptTokens + usage.completionTokens,
      latency_ms: Math.round(performance.now() - started),
    },
  });
}

/** An argument that must not be NULL. */
export function required<T>(args: Record<string, unknown>, name: string): T {
  const value = args[name];
  if (value === null || value === undefined) throw new PgError('22004', `${name} must not be null`);
  return value as T;
}

/** The arguments given (not NULL), under the names the API takes them by: { api_name: argument_name }. */
export function given(args: Record<string, unknown>, names: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(names).flatMap(([field, argument]) => (args[argument] === null || args[argument] === undefined ? [] : [[field, args[argument]]])));
}

/** A jsonb argument that must be an array (pgai's messages), or the error pgai raises. */
export function jsonArray(args: Record<string, unknown>, name: string): unknown[] {
  const value = required<unknown>(args, name);
  if (!Array.isArray(value)) throw new PgError('22023', `${name} is not an array`);
  return value;
}

/** A jsonb argument that must be an object of strings (headers, query parameters), or nothing. */
export function stringMap(value: unknown, name: string): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new PgError('22023', `${name} must be a JSON object`);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, typeof item === 'string' ? item : JSON.stringify(item)]));
}

/** A jsonb argument that must be an object, or nothing. */
export function jsonObject(value: unknown, name: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new PgError('22023', `${name} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** A timeout in seconds (pgai's float8) as whole milliseconds, or undefined. */
export function milliseconds(seconds: unknown): number | undefined {
  return typeof seconds === 'number' ? Math.max(1, Math.round(seconds * 1000)) : undefined;
}

/** Seconds since the epoch (the APIs' `created`) as a timestamptz PostgreSQL reads. */
export function timestamp(seconds: unknown): string | null {
  return typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : null;
}
