// How a request is answered, from the model instance's config overridden key by key by the call's options jsonb
// (pg_llm_chat_json(…, options)): system_prompt, temperature, max_tokens, response_format. Other keys of the
// options (routing, limits) belong to the functions and are left alone here.

import { PgError, SqlState } from '../../proxy/pg-error.js';
import { EVENT_LOOP_JSON, jsonLimitsInWords, parseWithinLimits, type JsonLimits } from '../json-structure.js';
import { ProviderError } from './errors.js';
import type { ChatOptions, ResponseFormat } from './provider.js';

/** Beyond any model's output window: a larger value is a mistake, not a request. */
const MAX_TOKENS = 10_000_000;

export function chatOptions(config: Record<string, unknown>, callOptions: Record<string, unknown> = {}): ChatOptions {
  const pick = (key: string): unknown => (callOptions[key] !== undefined ? callOptions[key] : config[key]);
  const system = pick('system_prompt');
  const temperature = pick('temperature');
  const maxTokens = pick('max_tokens');
  if (system !== undefined && system !== null && typeof system !== 'string') throw invalid('system_prompt must be a string');
  if (temperature !== undefined && !(typeof temperature === 'number' && temperature >= 0 && temperature <= 2)) {
    throw invalid('temperature must be a number from 0 to 2');
  }
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && (maxTokens as number) > 0 && (maxTokens as number) <= MAX_TOKENS)) {
    throw invalid(`max_tokens must be a whole number from 1 to ${MAX_TOKENS}`);
  }
  return {
    ...(typeof system === 'string' ? { system } : {}),
    ...(temperature === undefined ? {} : { temperature: temperature as number }),
    ...(maxTokens === undefined ? {} : { maxTokens: maxTokens as number }),
    responseFormat: responseFormat(pick('response_format')),
  };
}

/**
 * "text", "json", or OpenAI's own shapes: {"type": "json_object"} and
 * {"type": "json_schema", "json_schema": {"name": …, "schema": {…}}}.
 */
function responseFormat(value: unknown): ResponseFormat {
  if (value === undefined || value === null || value === 'text') return { type: 'text' };
  if (value === 'json') return { type: 'json_object' };
  if (typeof value === 'object' && !Array.isArray(value)) {
    const format = value as Record<string, unknown>;
    if (format.type === 'text') return { type: 'text' };
    if (format.type === 'json_object') return { type: 'json_object' };
    const spec = format.json_schema as Record<string, unknown> | undefined;
    if (format.type === 'json_schema' && spec && typeof spec.schema === 'object' && spec.schema !== null && !Array.isArray(spec.schema)) {
      return { type: 'json_schema', name: typeof spec.name === 'string' ? spec.name : 'answer', schema: spec.schema as Record<string, unknown> };
    }
  }
  throw invalid('response_format must be "text", "json", {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name": …, "schema": {…}}}');
}

/**
 * What a JSON answer may hold: parsed on the event loop, it is bounded as other JSON parsed there is, and nested no
 * deeper than a provider's whole answer may be (src/providers/answers/structure.ts).
 */
export const JSON_ANSWER_LIMITS: JsonLimits = { ...EVENT_LOOP_JSON, depth: 32 };

/**
 * The JSON a model answered when asked for JSON; models that wrap it in a markdown code fence anyway are
 * forgiven the fence. Anything else that does not parse is the provider's failure (39001); JSON past
 * JSON_ANSWER_LIMITS is refused (54000) unparsed.
 */
export function parseJsonAnswer(text: string): unknown {
  try {
    return parseWithinLimits(unfenced(text), JSON_ANSWER_LIMITS, jsonAnswerTooLarge);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new ProviderError('the model was asked for JSON and answered something else', 'Ask for JSON in the prompt too, or use a json_schema response_format.');
  }
}

function jsonAnswerTooLarge(exceeded: string): PgError {
  return new PgError(SqlState.ProgramLimitExceeded, `the model's JSON answer has ${exceeded}, more than the proxy parses`, {
    hint: `Ask for a JSON answer of no more than ${jsonLimitsInWords(JSON_ANSWER_LIMITS)}: parsing more would hold up every session of the proxy.`,
  });
}

/** The text inside a markdown code fence that wraps the whole answer, or the answer when none does. */
export function unfenced(text: string): string {
  const fenced = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/i.exec(text);
  return fenced ? fenced[1]! : text;
}

/** The value a model config gives for a key that must be a probability, or the fallback. */
export function probability(config: Record<string, unknown>, key: string, fallback: number): number {
  const value = config[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw invalid(`${key} must be a number from 0 to 1`);
  return value;
}

function invalid(message: string): PgError {
  return new PgError('22023', `invalid model options: ${message}`);
}
