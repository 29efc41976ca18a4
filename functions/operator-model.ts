// The model a semantic operator (llm_if, llm_classify, llm_extract, llm_rerank) asks: the instance its model
// argument names, else the one pg_llm.default_model names, else the proxy's default model (llm_ask's). Operators
// answer at temperature 0 unless the model's config says otherwise: the same question gets the same answer, and the
// response cache can serve it.

import { recordCall } from '../src/catalog/audit.js';
import { loadModel } from '../src/catalog/models.js';
import { providerFor } from '../src/providers/index.js';
import { chatOptions } from '../src/providers/options.js';
import type { ChatMessage, ChatResult, ResponseFormat } from '../src/providers/provider.js';
import { usage } from './answer.js';
import type { CallContext } from './declaration.js';
import { DEFAULT_INSTANCE } from './default-model.js';

export interface OperatorModel {
  /** The registered instance, or null for the proxy's default model. */
  instanceName: string | null;
  /** The adapter's name, for the audit row. */
  provider: string;
  config: Record<string, unknown>;
  apiKey: string | undefined;
}

export async function operatorModel(context: CallContext, named: unknown): Promise<OperatorModel> {
  const argument = typeof named === 'string' && named !== '' ? named : undefined;
  const instanceName = argument ?? (await context.settings()).defaultModel;
  if (instanceName === undefined) {
    const model = context.defaults.model();
    return { instanceName: null, provider: model.provider, config: model.config, apiKey: model.apiKey };
  }
  // The setting may be the database's or the proxy's default, not the caller's (PostgreSQL does not say which).
  const model = await loadModel(context, instanceName, argument === undefined ? { role: null, source: 'pg_llm.default_model' } : undefined);
  return { instanceName, provider: String(model.config.provider ?? model.modelType), config: model.config, apiKey: model.apiKey };
}

export interface OperatorAnswer {
  result: ChatResult;
  latencyMs: number;
}

/** One answer in the format asked for; `history` holds the turns before the prompt (a retry's first attempt). */
export async function askOperator(
  context: CallContext,
  model: OperatorModel,
  request: { system: string; prompt: string; history?: ChatMessage[]; format: ResponseFormat },
): Promise<OperatorAnswer> {
  const configured = chatOptions(model.config);
  const options = { ...configured, system: request.system, temperature: configured.temperature ?? 0, responseFormat: request.format };
  const started = performance.now();
  const provider = providerFor(model.instanceName ?? DEFAULT_INSTANCE, model.config, model.apiKey);
  const result = await provider.chat({ prompt: request.prompt, history: request.history, options, signal: context.signal, asker: await context.asker() });
  return { result, latencyMs: Math.round(performance.now() - started) };
}

/** The audit row of an operator's call: its answer, confidence (from logprobs where the provider gives them) and usage. */
export function auditOperator(context: CallContext, eventType: string, model: OperatorModel, answer: OperatorAnswer, details: Record<string, unknown>): Promise<void> {
  return recordCall(context, {
    eventType,
    instanceName: model.instanceName,
    success: true,
    confidence: answer.result.confidence,
    metadata: {
      provider: model.provider,
      model_name: answer.result.model,
      latency_ms: answer.latencyMs,
      confidence_source: answer.result.confidenceSource,
      ...(answer.result.cached ? { cached: true } : {}),
      ...usage(answer.result),
      ...details,
    },
  });
}
