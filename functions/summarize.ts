// llm_summarize, the aggregate: one summary of a group's texts. A group that fits the model's context window is
// summarized in one request; a larger one map-reduce style: its texts packed in order into chunks that fit, each
// chunk summarized (a few at once), and the partial summaries combined the same way, level after level, until one
// request takes them all. The group's values reach the call as one array (catalog/stubs.ts collects them), at most
// the answer budget in bytes; the engine runs the calls of a statement's groups concurrently like any other calls.

import { PgError } from '../proxy/pg-error.js';
import { chatRequest } from '../src/cost/estimate.js';
import { ANSWER_TOKENS } from '../src/cost/worst-case.js';
import type { CallContext, ModelRequest } from './declaration.js';
import { DEFAULT_INSTANCE } from './default-model.js';
import { chatOptions } from '../src/providers/options.js';
import { askOperator, auditOperator, operatorModel } from './operator-model.js';

/** The context window assumed of a model whose config names none (`context_window`, in tokens): small enough for any. */
export const DEFAULT_CONTEXT_TOKENS = 8192;
/** Tokens kept for the answer when the model's config has no max_tokens. */
const DEFAULT_ANSWER_TOKENS = 1024;
/** Tokens of the instructions around the texts, with room to spare. */
const INSTRUCTION_TOKENS = 256;
/** About four characters a token: the providers' rule of thumb (src/providers/tokens.ts). */
const CHARACTERS_PER_TOKEN = 4;
/** Chunks of one group summarized at once; the statement's groups run concurrently besides. */
const CHUNKS_AT_ONCE = 4;
/** Levels of combining: each must shrink what the level before gave, so a few suffice for the answer budget. */
const MAX_LEVELS = 8;
const SEPARATOR = '\n\n---\n\n';

const SYSTEM = 'You write summaries. Answer with the summary only, in the language of the texts, without a preamble.';

export async function summarize(args: Record<string, unknown>, context: CallContext): Promise<string | null> {
  const texts = textsOf(args);
  if (texts.length === 0) return null;
  const model = await operatorModel(context, args.model);
  const room = chunkCharacters(model.config);
  let parts = texts;
  let requests = 0;
  let before = Number.POSITIVE_INFINITY;
  for (let level = 1; ; level++) {
    const chunks = packed(parts, room);
    if (chunks.length === 1) {
      const answer = await askOperator(context, model, { system: SYSTEM, prompt: prompt(level, chunks, 0), format: { type: 'text' } });
      await auditOperator(context, 'llm_summarize', model, answer, { texts: texts.length, requests: requests + 1, levels: level });
      return answer.result.text;
    }
    if (level === MAX_LEVELS || chunks.length >= before) {
      throw new PgError('54000', `llm_summarize: the summaries of the group's parts do not get shorter than ${chunks.length} model contexts`, {
        hint: "Set the model's max_tokens lower, or its context_window higher if the model has more, or group the rows more finely.",
      });
    }
    const summaries = await eachAtMost(CHUNKS_AT_ONCE, chunks, (_, i) => askOperator(context, model, { system: SYSTEM, prompt: prompt(level, chunks, i), format: { type: 'text' } }));
    requests += chunks.length;
    before = chunks.length;
    parts = summaries.map((answer) => answer.result.text);
  }
}

/**
 * The requests summarize would make of the group, for an estimate (src/cost/estimate.ts): those of the first level
 * exactly, those that combine as if each summary took the answer's whole allowance.
 */
export async function summaryRequests(args: Record<string, unknown>, context: CallContext): Promise<ModelRequest[]> {
  const texts = textsOf(args);
  if (texts.length === 0) return [];
  const model = await operatorModel(context, args.model);
  const room = chunkCharacters(model.config);
  const options = { ...chatOptions(model.config), system: SYSTEM, responseFormat: { type: 'text' as const } };
  const summary = 'x'.repeat((options.maxTokens ?? ANSWER_TOKENS) * CHARACTERS_PER_TOKEN);
  const requests: ModelRequest[] = [];
  let parts = texts;
  for (let level = 1; level <= MAX_LEVELS; level++) {
    const chunks = packed(parts, room);
    requests.push(...chunks.map((_, i) => chatRequest(model.instanceName ?? DEFAULT_INSTANCE, model.config, options, [prompt(level, chunks, i)])));
    if (chunks.length === 1) break;
    parts = chunks.map(() => summary);
  }
  return requests;
}

function textsOf(args: Record<string, unknown>): string[] {
  return (Array.isArray(args.texts) ? args.texts : []).filter((text): text is string => typeof text === 'string' && text !== '');
}

/** The request of a level's chunk: all there is of the group, or a part of it. */
function prompt(level: number, chunks: string[], index: number): string {
  if (chunks.length > 1) return `Summarize these texts, part ${index + 1} of ${chunks.length} of a larger set:\n\n${chunks[index]}`;
  return level === 1 ? `Summarize these texts:\n\n${chunks[0]}` : `Combine these summaries of the parts of a larger set of texts into one summary:\n\n${chunks[0]}`;
}

/** The characters of texts one request may carry: the context window less the answer and the instructions. */
function chunkCharacters(config: Record<string, unknown>): number {
  const window = config.context_window ?? DEFAULT_CONTEXT_TOKENS;
  const answer = chatOptions(config).maxTokens ?? DEFAULT_ANSWER_TOKENS;
  if (!Number.isInteger(window) || (window as number) <= 0) throw new PgError('22023', 'invalid model options: context_window must be a whole number of tokens');
  const room = (window as number) - answer - INSTRUCTION_TOKENS;
  if (room < INSTRUCTION_TOKENS) {
    throw new PgError('22023', `llm_summarize: a context_window of ${String(window)} tokens leaves no room for texts beside max_tokens ${String(answer)}`, {
      hint: `Give the model a context_window of at least ${answer + 2 * INSTRUCTION_TOKENS} tokens, or a lower max_tokens.`,
    });
  }
  return room * CHARACTERS_PER_TOKEN;
}

/** The texts in order, packed into chunks of at most `room` characters; a longer text is cut, after a space where it can. */
function packed(texts: string[], room: number): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let length = 0;
  const add = (piece: string): void => {
    if (length > 0 && length + SEPARATOR.length + piece.length > room) {
      chunks.push(current.join(SEPARATOR));
      current = [];
      length = 0;
    }
    current.push(piece);
    length += (length > 0 ? SEPARATOR.length : 0) + piece.length;
  };
  for (const text of texts) for (const piece of pieces(text, room)) add(piece);
  if (current.length > 0) chunks.push(current.join(SEPARATOR));
  return chunks;
}

function pieces(text: string, room: number): string[] {
  const found: string[] = [];
  let start = 0;
  while (text.length - start > room) {
    let end = start + room;
    const space = text.lastIndexOf(' ', end);
    if (space > start + room / 2) end = space + 1;
    // Not between the two halves of a character outside the Basic Multilingual Plane.
    else if (/[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
    found.push(text.slice(start, end));
    start = end;
  }
  found.push(text.slice(start));
  return found;
}

/**
 * Each item's answer in order, at most `limit` asked at once. The first failure stops the rest from starting, and
 * is thrown once those asked have settled: none outlives the call.
 */
async function eachAtMost<T>(limit: number, items: string[], ask: (item: string, index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const index = next++;
      try {
        results[index] = await ask(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}
