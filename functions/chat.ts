// The chat family of pg_llm v1.1: model registration and single-turn chat, plain, JSON and streamed.

import { removeModel, saveModel } from '../src/catalog/models.js';
import { parsedArgumentJson } from '../src/intercept/argument-limits.js';
import { providerFor } from '../src/providers/index.js';
import { PgError } from '../proxy/pg-error.js';
import { answerJson, ask, audit, chatRequests, optionsObject, routed, STREAM_COLUMNS, streamAnswer, type Answer, type Question } from './answer.js';
import { allRows, declareFunction, noModel, type CallContext, type ResultRow } from './declaration.js';
import { refuseUnnamedServer } from './named-server.js';

/** A model's answer, routed to its fallback when it is not sure enough, audited. */
async function chat(context: CallContext, instanceName: string, question: Question): Promise<Answer> {
  const answer = await routed(context, await ask(context, instanceName, question), question);
  await audit(context, 'chat', answer);
  return answer;
}

function streamChat(args: Record<string, unknown>, context: CallContext): AsyncIterable<ResultRow> {
  return streamAnswer(context, String(args.instance_name), { prompt: String(args.prompt), options: optionsObject(args.options) }, 'chat_stream');
}

function parseConfig(text: unknown): Record<string, unknown> {
  if (text === null || text === undefined || text === '') return {};
  let config: unknown;
  try {
    config = parsedArgumentJson(String(text), 'pg_llm_add_model');
  } catch (error) {
    if (error instanceof PgError) throw error;
    // The JSON parser's words quote the text around the fault, which may be a key.
    throw new PgError('22P02', 'invalid input syntax for type json', {
      detail: 'The config argument of pg_llm_add_model must be a JSON object.',
    });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new PgError('22023', 'the config argument of pg_llm_add_model must be a JSON object');
  }
  return config as Record<string, unknown>;
}

export const chatFunctions = [
  declareFunction({
    name: 'pg_llm_add_model',
    arguments: [
      { name: 'local_model', type: 'boolean' },
      { name: 'model_type', type: 'text' },
      { name: 'instance_name', type: 'text' },
      { name: 'api_key', type: 'text', secret: 'key' },
      { name: 'config', type: 'text', secret: 'config' },
    ],
    result: { kind: 'scalar', type: 'boolean' },
    strict: false,
    description: 'Registers (or replaces) a model instance; the API key and secret-bearing config are stored encrypted.',
    models: noModel,
    async run(args, context) {
      if (typeof args.instance_name !== 'string' || args.instance_name === '') {
        throw new PgError('22004', 'instance_name must not be null or empty');
      }
      const config = parseConfig(args.config);
      if (args.model_type !== null && args.model_type !== undefined) config.provider ??= args.model_type;
      providerFor(args.instance_name, config, typeof args.api_key === 'string' ? args.api_key : undefined);
      // Its secrets go to its server at each call.
      refuseUnnamedServer(context, config.base_url ?? config.endpoint ?? config.api_endpoint, 'model', false, "this model's server", "Write the server's URL in your statement's config");
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
    models: noModel,
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
    readsModel: 'instance_name',
    models: (args, context) => chatRequests(context, String(args.instance_name), { prompt: String(args.prompt), options: {} }),
    async run(args, context) {
      return (await chat(context, String(args.instance_name), { prompt: String(args.prompt), options: {} })).result.text;
    },
  }),
  declareFunction({
    name: 'pg_llm_chat_json',
    arguments: [
      { name: 'instance_name', type: 'text' },
      { name: 'prompt', type: 'text' },
      { name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" },
    ],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: true,
    description: 'The answer with model_name, confidence_score, fallback_used, request_id and token usage.',
    readsModel: 'instance_name',
    models: (args, context) => chatRequests(context, String(args.instance_name), { prompt: String(args.prompt), options: optionsObject(args.options) }),
    async run(args, context) {
      const answer = await chat(context, String(args.instance_name), { prompt: String(args.prompt), options: optionsObject(args.options) });
      return answerJson(context, answer);
    },
  }),
  declareFunction({
    name: 'pg_llm_chat_stream',
    arguments: [
      { name: 'instance_name', type: 'text' },
      { name: 'prompt', type: 'text' },
      { name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" },
    ],
    result: { kind: 'table', columns: STREAM_COLUMNS },
    strict: true,
    description: 'The answer as it streams from the model: one row per chunk, then a final row.',
    models: (args, context) => chatRequests(context, String(args.instance_name), { prompt: String(args.prompt), options: optionsObject(args.options) }),
    run: (args, context) => allRows(streamChat(args, context)),
    stream: streamChat,
  }),
];
