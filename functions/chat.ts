// The chat family of pg_llm v1.1: model registration and single-turn chat, plain, JSON and streamed.

import { recordCall } from '../src/catalog/audit.js';
import { loadModel, removeModel, saveModel } from '../src/catalog/models.js';
import { providerFor } from '../src/providers/index.js';
import { chatOptions, parseJsonAnswer } from '../src/providers/options.js';
import type { ChatOptions, ChatResult } from '../src/providers/provider.js';
import { PgError } from '../proxy/pg-error.js';
import { allRows, declareFunction, type CallContext, type ResultRow } from './declaration.js';

const STREAM_COLUMNS = [
  { name: 'seq_no', type: 'integer' },
  { name: 'chunk', type: 'text' },
  { name: 'is_final', type: 'boolean' },
  { name: 'model_name', type: 'text' },
  { name: 'confidence_score', type: 'double precision' },
  { name: 'request_id', type: 'uuid' },
];

interface Answer {
  result: ChatResult;
  latencyMs: number;
}

async function chat(context: CallContext, instanceName: string, prompt: string, callOptions?: unknown): Promise<Answer & { options: ChatOptions }> {
  const model = await loadModel(context, instanceName);
  const options = chatOptions(model.config, optionsObject(callOptions));
  const provider = providerFor(instanceName, model.config, model.apiKey);
  const started = performance.now();
  const result = await provider.chat({ prompt, options, signal: context.signal });
  const answer = { result, latencyMs: Math.round(performance.now() - started) };
  await audit(context, 'chat', instanceName, answer);
  return { ...answer, options };
}

function audit(context: CallContext, eventType: string, instanceName: string, { result, latencyMs }: Answer): Promise<void> {
  return recordCall(context, {
    eventType,
    instanceName,
    success: true,
    confidence: result.confidence,
    metadata: { model_name: result.model, latency_ms: latencyMs, confidence_source: result.confidenceSource, ...(result.cached ? { cached: true } : {}), ...usage(result) },
  });
}

function usage(result: ChatResult): Record<string, number> {
  const { promptTokens, completionTokens } = result.usage;
  const counts: Record<string, number> = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (result.costUsd !== undefined) counts.cost_usd = result.costUsd;
  return counts;
}

/** The options jsonb argument: an object, or absent. */
function optionsObject(options: unknown): Record<string, unknown> {
  if (options === null || options === undefined) return {};
  if (typeof options !== 'object' || Array.isArray(options)) throw new PgError('22023', 'options must be a JSON object');
  return options as Record<string, unknown>;
}

function parseConfig(text: unknown): Record<string, unknown> {
  if (text === null || text === undefined || text === '') return {};
  let config: unknown;
  try {
    config = JSON.parse(String(text));
  } catch (error) {
    throw new PgError('22P02', `invalid input syntax for type json: ${(error as Error).message}`, {
      detail: 'The config argument of pg_llm_add_model must be a JSON object.',
    });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new PgError('22023', 'the config argument of pg_llm_add_model must be a JSON object');
  }
  return config as Record<string, unknown>;
}

/** One row per chunk as the provider sends it (confidence unknown yet), then a final row with the confidence. */
async function* streamChat(args: Record<string, unknown>, context: CallContext): AsyncIterable<ResultRow> {
  const instanceName = String(args.instance_name);
  const model = await loadModel(context, instanceName);
  const options = chatOptions(model.config, optionsObject(args.options));
  const provider = providerFor(instanceName, model.config, model.apiKey);
  const modelName = String(model.config.model_name ?? model.modelType);
  const started = performance.now();
  let seqNo = 0;
  for await (const event of provider.stream({ prompt: String(args.prompt), options, signal: context.signal })) {
    const row = { seq_no: ++seqNo, model_name: modelName, request_id: context.requestId };
    if (event.kind === 'chunk') {
      yield { ...row, chunk: event.text, is_final: false, confidence_score: null };
    } else {
      await audit(context, 'chat_stream', instanceName, { result: event.result, latencyMs: Math.round(performance.now() - started) });
      yield { ...row, chunk: '', is_final: true, confidence_score: event.result.confidence };
    }
  }
}

export const chatFunctions = [
  declareFunction({
    name: 'pg_llm_add_model',
    arguments: [
      { name: 'local_model', type: 'boolean' },
      { name: 'model_type', type: 'text' },
      { name: 'instance_name', type: 'text' },
      { name: 'api_key', type: 'text' },
      { name: 'config', type: 'text' },
    ],
    result: { kind: 'scalar', type: 'boolean' },
    strict: false,
    description: 'Registers (or replaces) a model instance; the API key and secret-bearing config are stored encrypted.',
    async run(args, context) {
      if (typeof args.instance_name !== 'string' || args.instance_name === '') {
        throw new PgError('22004', 'instance_name must not be null or empty');
      }
      const config = parseConfig(args.config);
      if (args.model_type !== null && args.model_type !== undefined) config.provider ??= args.model_type;
      providerFor(args.instance_name, config, typeof args.api_key === 'string' ? args.api_key : undefined);
      await saveModel(context, {
        local: args.local_model === true,
        modelType: String(args.model_type ?? config.provider),
        instanceName: args.instance_name,
        apiKey: typeof args.api_key === 'string' && args.api_key !== '' ? args.api_key : null,
        config,
      });
      return true;
    },
  }),
  declareFunction({
    name: 'pg_llm_remove_model',
    arguments: [{ name: 'instance_name', type: 'text' }],
    result: { kind: 'scalar', type: 'boolean' },
    strict: true,
    description: 'Removes a model instance; true when it existed.',
    run: (args, context) => removeModel(context, String(args.instance_name)),
  }),
  declareFunction({
    name: 'pg_llm_chat',
    arguments: [
      { name: 'instance_name', type: 'text' },
      { name: 'prompt', type: 'text' },
    ],
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: "The model's answer to a prompt.",
    async run(args, context) {
      return (await chat(context, String(args.instance_name), String(args.prompt))).result.text;
    },
  }),
  declareFunction({
    name: 'pg_llm_chat_json',
    arguments: [
      { name: 'instance_name', type: 'text' },
      { name: 'prompt', type: 'text' },
      { name: 'options', type: 'jsonb', default: "'{}'::jsonb" },
    ],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: true,
    description: 'The answer with model_name, confidence_score, fallback_used, request_id and token usage.',
    async run(args, context) {
      const instanceName = String(args.instance_name);
      const { result, latencyMs, options } = await chat(context, instanceName, String(args.prompt), args.options);
      return {
        response: result.text,
        ...(options.responseFormat.type === 'text' ? {} : { response_json: parseJsonAnswer(result.text) }),
        instance_name: instanceName,
        model_name: result.model,
        confidence_score: result.confidence,
        confidence_source: result.confidenceSource,
        cached: result.cached === true,
        fallback_used: false,
        request_id: context.requestId,
        latency_ms: latencyMs,
        usage: usage(result),
      };
    },
  }),
  declareFunction({
    name: 'pg_llm_chat_stream',
    arguments: [
      { name: 'instance_name', type: 'text' },
      { name: 'prompt', type: 'text' },
      { name: 'options', type: 'jsonb', default: "'{}'::jsonb" },
    ],
    result: { kind: 'table', columns: STREAM_COLUMNS },
    strict: true,
    description: 'The answer as it streams from the model: one row per chunk, then a final row.',
    run: (args, context) => allRows(streamChat(args, context)),
    stream: streamChat,
  }),
];
