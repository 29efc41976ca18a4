// pgai's Ollama functions (its sql/idempotent/002-ollama.sql): an embedding, a generation and a chat answered with
// Ollama's own JSON, and the host's models and those it has loaded, on the host given, else the session's ai.ollama_host, else the proxy's
// OLLAMA_HOST, else localhost:11434.

import { MAX_LISTED, scalars } from '../../src/providers/pgai/apis.js';
import type { PgaiSettings } from '../../src/providers/pgai/index.js';
import type { ApiRequest } from '../../src/providers/provider.js';
import { declareFunction, type CallContext, type FunctionDeclaration, type ResultRow } from '../declaration.js';
import { nullable, serverUrl, VERBOSE } from './arguments.js';
import { endpoint } from './endpoint.js';
import { askApi, embedText, given, jsonArray, required } from './requests.js';

const SCHEMA = 'ai';
const DEFAULT_PORT = 11434;

/** What the lists of models are read of: each model's fields, its details flattened into its row. */
const MODELS: ApiRequest['reads'] = {
  fields: {
    models: {
      first: MAX_LISTED,
      items: {
        fields: {
          ...scalars('name', 'model', 'size', 'digest', 'modified_at', 'expires_at', 'size_vram').fields,
          details: { fields: { ...scalars('parent_model', 'format', 'family', 'parameter_size', 'quantization_level').fields, families: { first: 100, items: 'scalar' } } },
        },
      },
    },
  },
};

async function settings(context: CallContext, args: Record<string, unknown>, model: string, embedding?: Record<string, unknown>): Promise<PgaiSettings> {
  const { baseUrl } = await endpoint(context, 'ollama', args, args.host);
  return { api: 'ollama', model, baseUrl: baseUrl === undefined ? undefined : hostUrl(baseUrl), apiKey: undefined, ...(embedding ? { embedding } : {}) };
}

/** A host as Ollama's client reads one: without a scheme, http on Ollama's port unless one is given. */
export function hostUrl(host: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) return host;
  return /:\d+(\/.*)?$/.test(host) ? `http://${host}` : `http://${host}:${DEFAULT_PORT}`;
}

/** bytea arrives as PostgreSQL's hex text (\x…); Ollama takes images as base64. */
function base64Images(images: unknown): string[] | undefined {
  if (!Array.isArray(images)) return undefined;
  return images.map((image) => Buffer.from(String(image).replace(/^\\x/, ''), 'hex').toString('base64'));
}

export const ollamaFunctions: FunctionDeclaration[] = [
  declareFunction({
    schema: SCHEMA,
    name: 'ollama_embed',
    arguments: [
      { name: 'model', type: 'text' },
      { name: 'input_text', type: 'text' },
      serverUrl('host'),
      nullable('keep_alive', 'text'),
      nullable('embedding_options', 'jsonb'),
      VERBOSE,
    ],
    result: { kind: 'scalar', type: 'vector' },
    strict: false,
    description: "Ollama's embedding of a text (pgai). NULL for a NULL text.",
    async run(args, context) {
      const model = required<string>(args, 'model');
      const options = given(args, { options: 'embedding_options', keep_alive: 'keep_alive' });
      return embedText(context, () => settings(context, args, model, options), 'ai.ollama_embed', args.input_text);
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'ollama_generate',
    arguments: [
      { name: 'model', type: 'text' },
      { name: 'prompt', type: 'text' },
      serverUrl('host'),
      nullable('images', 'bytea[]'),
      nullable('keep_alive', 'text'),
      nullable('embedding_options', 'jsonb'),
      nullable('system_prompt', 'text'),
      nullable('template', 'text'),
      nullable('context', 'integer[]'),
      VERBOSE,
    ],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: "Ollama's completion of a prompt: Ollama's answer as it gives it (pgai).",
    async run(args, context) {
      const model = required<string>(args, 'model');
      const images = base64Images(args.images);
      const body = {
        model,
        prompt: args.prompt,
        stream: false,
        ...given(args, { keep_alive: 'keep_alive', options: 'embedding_options', system: 'system_prompt', template: 'template', context: 'context' }),
        ...(images ? { images } : {}),
      };
      return askApi(context, await settings(context, args, model), 'ai.ollama_generate', { kind: 'chat', path: '/api/generate', body, reads: 'whole' });
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'ollama_chat_complete',
    arguments: [
      { name: 'model', type: 'text' },
      { name: 'messages', type: 'jsonb' },
      serverUrl('host'),
      nullable('keep_alive', 'text'),
      nullable('chat_options', 'jsonb'),
      nullable('tools', 'jsonb'),
      nullable('response_format', 'jsonb'),
      VERBOSE,
    ],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: "Ollama's answer to the messages: Ollama's chat response as it gives it (pgai).",
    async run(args, context) {
      const model = required<string>(args, 'model');
      const body = {
        model,
        messages: jsonArray(args, 'messages'),
        stream: false,
        ...given(args, { keep_alive: 'keep_alive', options: 'chat_options', tools: 'tools', format: 'response_format' }),
      };
      return askApi(context, await settings(context, args, model), 'ai.ollama_chat_complete', { kind: 'chat', path: '/api/chat', body, reads: 'whole' });
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'ollama_list_models',
    arguments: [serverUrl('host'), VERBOSE],
    result: {
      kind: 'table',
      columns: [
        { name: 'name', type: 'text' },
        { name: 'model', type: 'text' },
        { name: 'size', type: 'bigint' },
        { name: 'digest', type: 'text' },
        { name: 'family', type: 'text' },
        { name: 'format', type: 'text' },
        { name: 'families', type: 'jsonb' },
        { name: 'parent_model', type: 'text' },
        { name: 'parameter_size', type: 'text' },
        { name: 'quantization_level', type: 'text' },
        { name: 'modified_at', type: 'timestamp with time zone' },
      ],
    },
    strict: false,
    description: 'The models the Ollama host has (pgai).',
    run: (args, context) => models(context, args, '/api/tags', 'ai.ollama_list_models'),
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'ollama_ps',
    arguments: [serverUrl('host'), VERBOSE],
    result: {
      kind: 'table',
      columns: [
        { name: 'name', type: 'text' },
        { name: 'model', type: 'text' },
        { name: 'size', type: 'bigint' },
        { name: 'digest', type: 'text' },
        { name: 'parent_model', type: 'text' },
        { name: 'format', type: 'text' },
        { name: 'family', type: 'text' },
        { name: 'families', type: 'jsonb' },
        { name: 'parameter_size', type: 'text' },
        { name: 'quantization_level', type: 'text' },
        { name: 'expires_at', type: 'timestamp with time zone' },
        { name: 'size_vram', type: 'bigint' },
      ],
    },
    strict: false,
    description: 'The models the Ollama host has loaded (pgai).',
    run: (args, context) => models(context, args, '/api/ps', 'ai.ollama_ps'),
  }),
];

/** The models of a list (the host's, or those loaded), each with its details flattened into the row. */
async function models(context: CallContext, args: Record<string, unknown>, path: string, eventType: string): Promise<ResultRow[]> {
  const answer = (await askApi(context, await settings(context, args, 'models'), eventType, { kind: 'list', method: 'GET', path, reads: MODELS })) as { models?: Array<Record<string, any>> };
  return (answer.models ?? []).map(({ details, ...model }) => ({ ...model, ...details }));
}
