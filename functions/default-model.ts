// The model of the functions that name no model instance (llm_ask, and pg_ai_query's generate_query and
// explain_query with their provider and api_key arguments), and one answer from it, as all of them ask.

import { recordCall } from '../src/catalog/audit.js';
import type { DefaultModel } from '../src/providers/default-provider.js';
import { providerFor } from '../src/providers/index.js';
import { chatOptions } from '../src/providers/options.js';
import type { ChatResult } from '../src/providers/provider.js';
import { usage } from './answer.js';
import { chatRequest } from '../src/cost/estimate.js';
import type { CallContext, ModelRequest } from './declaration.js';

/** The instance name the default models' requests are limited and reported under. */
export const DEFAULT_INSTANCE = 'default';

/** pg_ai_query's choice: 'auto' (or NULL) is the default model, another name that provider; api_key overrides the key. */
export function chosenModel(context: CallContext, apiKey: unknown, provider: unknown): DefaultModel {
  const name = typeof provider === 'string' ? provider.trim().toLowerCase() : '';
  const key = typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined;
  if (name === '' || name === 'auto') return key ? context.defaults.named(context.defaults.provider, key) : context.defaults.model();
  return context.defaults.named(name, key);
}

export interface DefaultAnswer {
  result: ChatResult;
  latencyMs: number;
}

/** The model's answer, the call's options (system_prompt…) over the model's config. */
export async function askModel(context: CallContext, model: DefaultModel, prompt: string, options: Record<string, unknown> = {}): Promise<DefaultAnswer> {
  const started = performance.now();
  const result = await providerFor(DEFAULT_INSTANCE, model.config, model.apiKey).chat({ prompt, options: chatOptions(model.config, options), signal: context.signal, asker: await context.asker() });
  return { result, latencyMs: Math.round(performance.now() - started) };
}

/** What askModel would ask of the model: one request of the prompt, with the system prompt before it. */
export function defaultModelRequests(model: DefaultModel, prompt: string, options: Record<string, unknown> = {}): ModelRequest[] {
  return [chatRequest(DEFAULT_INSTANCE, model.config, chatOptions(model.config, options), [prompt])];
}

/** The audit row of a call answered by a default model; `details` adds what the function did. */
export function auditDefault(context: CallContext, eventType: string, model: DefaultModel, answer: DefaultAnswer, details: Record<string, unknown> = {}): Promise<void> {
  return recordCall(context, {
    eventType,
    instanceName: null,
    success: true,
    confidence: answer.result.confidence,
    metadata: { provider: model.provider, model_name: answer.result.model, latency_ms: answer.latencyMs, confidence_source: answer.result.confidenceSource, ...usage(answer.result), ...details },
  });
}
