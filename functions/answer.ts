// One answer from a model instance, the way every chat-family function gets it: the call's options over the
// model's config, pg_llm's confidence routing (below the effective threshold, the model's fallback_instance, or
// pg_llm.default_local_fallback, answers instead), the trace of that decision and the audit row. A fallback is a name
// the caller did not write: it answers only if registered by whoever wrote it (models.ts, Reference).

import { recordCall } from '../src/catalog/audit.js';
import { loadModel, type Reference } from '../src/catalog/models.js';
import { recordStep } from '../src/catalog/trace.js';
import { providerFor } from '../src/providers/index.js';
import { chatOptions, parseJsonAnswer, probability } from '../src/providers/options.js';
import type { ChatMessage, ChatOptions, ChatResult } from '../src/providers/provider.js';
import { PgError } from '../proxy/pg-error.js';
import { chatRequest } from '../src/cost/estimate.js';
import type { CallContext, ModelRequest, ResultRow } from './declaration.js';
import { grounded, type KnowledgeUsed } from './rag.js';

export interface Question {
  prompt: string;
  history?: ChatMessage[];
  /** The call's options jsonb. */
  options: Record<string, unknown>;
}

export interface Answer {
  /** The instance that answered: the one asked, or its fallback. */
  instanceName: string;
  /** The role that registered it. */
  owner: string;
  result: ChatResult;
  latencyMs: number;
  chat: ChatOptions;
  threshold: number;
  fallbackUsed: boolean;
  /** The model config's fallback_instance. */
  fallbackInstance: string | undefined;
  /** The prompt as sent: the question's, or with the knowledge enable_rag found before it. */
  prompt: string;
  knowledge: KnowledgeUsed[];
}

/** The model's answer, without routing; with enable_rag, given the knowledge most like the prompt. */
export async function ask(context: CallContext, instanceName: string, question: Question, reference?: Reference): Promise<Answer> {
  const model = await loadModel(context, instanceName, reference);
  const chat = chatOptions(model.config, question.options);
  const { prompt, knowledge } = await grounded(context, question.prompt, question.options);
  const started = performance.now();
  const result = await providerFor(instanceName, model.config, model.apiKey).chat({ prompt, history: question.history, options: chat, signal: context.signal, asker: await context.asker() });
  const fallbackInstance = typeof model.config.fallback_instance === 'string' ? model.config.fallback_instance : undefined;
  return {
    instanceName,
    owner: model.owner,
    result,
    latencyMs: Math.round(performance.now() - started),
    chat,
    threshold: await threshold(context, question.options, model.config),
    fallbackUsed: false,
    fallbackInstance,
    prompt,
    knowledge,
  };
}

/**
 * What asking would ask of the instance: one request of the prompt, its system prompt before it; the knowledge
 * enable_rag adds, and a fallback's answer, are known only once asked.
 */
export async function chatRequests(context: CallContext, instanceName: string, question: Question): Promise<ModelRequest[]> {
  const model = await loadModel(context, instanceName);
  return [chatRequest(instanceName, model.config, chatOptions(model.config, question.options), [question.prompt])];
}

/** The winning answer, or its fallback's when its confidence is below the threshold and a fallback is named. */
export async function routed(context: CallContext, chosen: Answer, question: Question): Promise<Answer> {
  const fallback = chosen.fallbackInstance ?? (await context.settings()).defaultLocalFallback;
  // The setting may be the database's or the proxy's default, not the caller's (PostgreSQL does not say which).
  const reference: Reference =
    chosen.fallbackInstance === undefined
      ? { role: null, source: 'pg_llm.default_local_fallback' }
      : { role: chosen.owner, source: `model instance "${chosen.instanceName}"'s fallback_instance` };
  const below = chosen.result.confidence < chosen.threshold;
  const useFallback = below && fallback !== undefined && fallback !== chosen.instanceName;
  await recordStep(context, 'routing', {
    instance_name: chosen.instanceName,
    confidence_score: chosen.result.confidence,
    confidence_source: chosen.result.confidenceSource,
    threshold: chosen.threshold,
    decision: useFallback ? 'fallback' : below ? 'below threshold, no fallback named' : 'accepted',
    ...(useFallback ? { fallback_instance: fallback } : {}),
  });
  if (!useFallback) return chosen;
  // The fallback gets the prompt as the chosen model got it, knowledge included, without searching again.
  const answer = await ask(context, fallback, { ...question, prompt: chosen.prompt, options: { ...question.options, enable_rag: false } }, reference);
  return { ...answer, threshold: chosen.threshold, fallbackUsed: true, knowledge: chosen.knowledge };
}

/** Options first, then the model's config, then pg_llm.default_confidence_threshold. */
async function threshold(context: CallContext, options: Record<string, unknown>, config: Record<string, unknown>): Promise<number> {
  if (options.confidence_threshold !== undefined) return probability(options, 'confidence_threshold', 0);
  if (config.confidence_threshold !== undefined) return probability(config, 'confidence_threshold', 0);
  return (await context.settings()).defaultConfidenceThreshold;
}

/** The columns of the streaming functions' rows. */
export const STREAM_COLUMNS = [
  { name: 'seq_no', type: 'integer' },
  { name: 'chunk', type: 'text' },
  { name: 'is_final', type: 'boolean' },
  { name: 'model_name', type: 'text' },
  { name: 'confidence_score', type: 'double precision' },
  { name: 'request_id', type: 'uuid' },
];

/**
 * One row per chunk as the provider sends it (confidence unknown yet), then a final row with the confidence. No
 * fallback: the chunks are the client's before the confidence is known. `finished` runs once the whole answer is in.
 */
export async function* streamAnswer(
  context: CallContext,
  instanceName: string,
  question: Question,
  eventType: string,
  finished?: (text: string) => Promise<void>,
  sessionId?: string,
): AsyncIterable<ResultRow> {
  const model = await loadModel(context, instanceName);
  const chat = chatOptions(model.config, question.options);
  const provider = providerFor(instanceName, model.config, model.apiKey);
  const modelName = String(model.config.model_name ?? model.modelType);
  const { prompt } = await grounded(context, question.prompt, question.options);
  const started = performance.now();
  let seqNo = 0;
  for await (const event of provider.stream({ prompt, history: question.history, options: chat, signal: context.signal, asker: await context.asker() })) {
    const row = { seq_no: ++seqNo, model_name: modelName, request_id: context.requestId };
    if (event.kind === 'chunk') {
      yield { ...row, chunk: event.text, is_final: false, confidence_score: null };
    } else {
      await finished?.(event.result.text);
      await audit(context, eventType, { instanceName, result: event.result, latencyMs: Math.round(performance.now() - started), fallbackUsed: false }, sessionId);
      yield { ...row, chunk: '', is_final: true, confidence_score: event.result.confidence };
    }
  }
}

type Audited = Pick<Answer, 'instanceName' | 'result' | 'latencyMs' | 'fallbackUsed'>;

export function audit(context: CallContext, eventType: string, answer: Audited, sessionId?: string): Promise<void> {
  return recordCall(context, {
    eventType,
    instanceName: answer.instanceName,
    sessionId: sessionId ?? null,
    success: true,
    confidence: answer.result.confidence,
    metadata: {
      model_name: answer.result.model,
      latency_ms: answer.latencyMs,
      confidence_source: answer.result.confidenceSource,
      ...(answer.fallbackUsed ? { fallback_used: true } : {}),
      ...(answer.result.cached ? { cached: true } : {}),
      ...usage(answer.result),
    },
  });
}

export function usage(result: ChatResult): Record<string, number> {
  const { promptTokens, completionTokens } = result.usage;
  const counts: Record<string, number> = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (result.costUsd !== undefined) counts.cost_usd = result.costUsd;
  return counts;
}

/** pg_llm_chat_json's answer: the text (and parsed JSON when JSON was asked for), who answered, how sure, what it cost. */
export function answerJson(context: CallContext, answer: Answer): Record<string, unknown> {
  const { result } = answer;
  return {
    response: result.text,
    ...(answer.chat.responseFormat.type === 'text' ? {} : { response_json: parseJsonAnswer(result.text) }),
    instance_name: answer.instanceName,
    model_name: result.model,
    confidence_score: result.confidence,
    confidence_source: result.confidenceSource,
    confidence_threshold: answer.threshold,
    fallback_used: answer.fallbackUsed,
    cached: result.cached === true,
    request_id: context.requestId,
    latency_ms: answer.latencyMs,
    usage: usage(result),
    ...(answer.knowledge.length > 0 ? { knowledge: answer.knowledge } : {}),
  };
}

/** The options jsonb argument: an object, or absent. */
export function optionsObject(options: unknown): Record<string, unknown> {
  if (options === null || options === undefined) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw new PgError('22023', 'options must be a JSON object');
  return options as Record<string, unknown>;
}

/** A text argument a function without STRICT cannot do without. */
export function requiredText(value: unknown, name: string): string {
  if (value === null || value === undefined) throw new PgError('22004', `${name} must not be null`);
  return String(value);
}
