// pgai's OpenAI functions (its sql/idempotent/001-openai.sql): embeddings of a text, of texts and of tokens,
// chat completions answered with OpenAI's response object, the simple chat, moderation, the model list and the
// client_config builder, with pgai's arguments, defaults and results. verbose is accepted and has nothing to add: /metrics and the audit rows
// time every request.

import { credentialsIn } from '../../src/crypto/config-secrets.js';
import { parsedArgumentJson } from '../../src/intercept/argument-limits.js';
import { vectorOf } from '../../src/providers/embedding-vectors.js';
import { listOf, scalars } from '../../src/providers/pgai/apis.js';
import type { PgaiSettings } from '../../src/providers/pgai/index.js';
import type { ApiRequest } from '../../src/providers/provider.js';
import type { CallContext, FunctionDeclaration } from '../declaration.js';
import { declareFunction } from '../declaration.js';
import { API_KEY, nullable, openAiTail, requestParts, secretConfig, serverUrl, VERBOSE } from './arguments.js';
import { endpoint } from './endpoint.js';
import { askApi, embedText, embedTexts, given, INDEXED_EMBEDDINGS, jsonArray, jsonObject, milliseconds, required, stringMap, timestamp } from './requests.js';

const SCHEMA = 'ai';

/** What openai_chat_complete_simple reads of an answer. */
const FIRST_CONTENT: ApiRequest['reads'] = { fields: { choices: { first: 1, items: { fields: { message: scalars('content') } } } } };
/** What openai_embed of tokens reads of an answer: the one vector asked for (a second fails the answer: vector-tally.ts). */
const FIRST_EMBEDDING: ApiRequest['reads'] = { fields: { data: { first: 2, items: { fields: { index: 'scalar', embedding: 'vector' } } } } };

const embeddingArguments = (input: { name: string; type: string }) => [
  { name: 'model', type: 'text' },
  input,
  ...API_KEY,
  nullable('dimensions', 'integer'),
  nullable('openai_user', 'text'),
  ...openAiTail(true),
];

/** The call's server, key, headers and query: client_config (pgai's openai_client_config) under extra_headers and extra_query. */
async function settings(context: CallContext, args: Record<string, unknown>, model: string, embedding?: Record<string, unknown>): Promise<PgaiSettings> {
  const client = jsonObject(args.client_config, 'client_config');
  const { baseUrl, apiKey } = await endpoint(context, 'openai', args, client.base_url);
  const headers = {
    ...stringMap(client.default_headers, 'client_config.default_headers'),
    ...(typeof client.organization === 'string' ? { 'openai-organization': client.organization } : {}),
    ...(typeof client.project === 'string' ? { 'openai-project': client.project } : {}),
    ...stringMap(args.extra_headers, 'extra_headers'),
  };
  const query = { ...stringMap(client.default_query, 'client_config.default_query'), ...stringMap(args.extra_query, 'extra_query') };
  const timeoutMs = milliseconds(client.timeout);
  const maxRetries = typeof client.max_retries === 'number' ? client.max_retries : undefined;
  return {
    api: 'openai',
    model,
    baseUrl,
    apiKey,
    headers,
    query,
    secrets: [...credentialsIn('extra_body', jsonObject(args.extra_body, 'extra_body')), ...credentialsIn('client_config', client)],
    ...(embedding ? { embedding } : {}),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(maxRetries === undefined ? {} : { maxRetries }),
  };
}

/** The fields of an embeddings request besides its input: dimensions, user, extra_body. */
function embeddingOptions(args: Record<string, unknown>): Record<string, unknown> {
  return { ...given(args, { dimensions: 'dimensions', user: 'openai_user' }), ...jsonObject(args.extra_body, 'extra_body') };
}

async function chatComplete(context: CallContext, args: Record<string, unknown>, reads: ApiRequest['reads']): Promise<unknown> {
  const model = required<string>(args, 'model');
  const messages = jsonArray(args, 'messages');
  const toolChoice = args.tool_choice;
  const body = {
    model,
    messages,
    stream: false,
    ...given(args, {
      frequency_penalty: 'frequency_penalty',
      logit_bias: 'logit_bias',
      logprobs: 'logprobs',
      top_logprobs: 'top_logprobs',
      max_tokens: 'max_tokens',
      max_completion_tokens: 'max_completion_tokens',
      n: 'n',
      presence_penalty: 'presence_penalty',
      response_format: 'response_format',
      seed: 'seed',
      stop: 'stop',
      temperature: 'temperature',
      top_p: 'top_p',
      tools: 'tools',
      user: 'openai_user',
    }),
    // pgai passes auto, none and required as they are, and anything else as the JSON it is written in.
    ...(typeof toolChoice === 'string' ? { tool_choice: ['auto', 'none', 'required'].includes(toolChoice) ? toolChoice : parsedArgumentJson(toolChoice, 'ai.openai_chat_complete') } : {}),
    ...jsonObject(args.extra_body, 'extra_body'),
  };
  return askApi(context, await settings(context, args, model), 'ai.openai_chat_complete', { kind: 'chat', path: '/chat/completions', body, reads });
}

export const openAiFunctions: FunctionDeclaration[] = [
  declareFunction({
    schema: SCHEMA,
    name: 'openai_embed',
    arguments: embeddingArguments({ name: 'input_text', type: 'text' }),
    result: { kind: 'scalar', type: 'vector' },
    strict: false,
    description: "OpenAI's embedding of a text (pgai). NULL for a NULL text.",
    async run(args, context) {
      const model = required<string>(args, 'model');
      return embedText(context, () => settings(context, args, model, embeddingOptions(args)), 'ai.openai_embed', args.input_text);
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'openai_embed',
    arguments: embeddingArguments({ name: 'input_texts', type: 'text[]' }),
    result: INDEXED_EMBEDDINGS,
    strict: false,
    description: "OpenAI's embeddings of texts, by their index from 0 (pgai).",
    async run(args, context) {
      const model = required<string>(args, 'model');
      return embedTexts(context, () => settings(context, args, model, embeddingOptions(args)), 'ai.openai_embed', args.input_texts);
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'openai_embed',
    arguments: embeddingArguments({ name: 'input_tokens', type: 'integer[]' }),
    result: { kind: 'scalar', type: 'vector' },
    strict: false,
    description: "OpenAI's embedding of a text given as its tokens (pgai).",
    async run(args, context) {
      const model = required<string>(args, 'model');
      const tokens = required<number[]>(args, 'input_tokens');
      const body = { input: tokens, model, encoding_format: 'float', ...embeddingOptions(args) };
      const answer = (await askApi(context, await settings(context, args, model), 'ai.openai_embed', { kind: 'embed', path: '/embeddings', body, reads: FIRST_EMBEDDING })) as { data?: Array<{ embedding?: unknown }> };
      return vectorOf(answer.data?.[0]?.embedding) ?? null;
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'openai_chat_complete',
    arguments: [
      { name: 'model', type: 'text' },
      { name: 'messages', type: 'jsonb' },
      ...API_KEY,
      nullable('frequency_penalty', 'double precision'),
      nullable('logit_bias', 'jsonb'),
      nullable('logprobs', 'boolean'),
      nullable('top_logprobs', 'integer'),
      nullable('max_tokens', 'integer'),
      nullable('max_completion_tokens', 'integer'),
      nullable('n', 'integer'),
      nullable('presence_penalty', 'double precision'),
      nullable('response_format', 'jsonb'),
      nullable('seed', 'integer'),
      nullable('stop', 'text'),
      nullable('temperature', 'double precision'),
      nullable('top_p', 'double precision'),
      nullable('tools', 'jsonb'),
      nullable('tool_choice', 'text'),
      nullable('openai_user', 'text'),
      ...openAiTail(true),
    ],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: "OpenAI's chat completion of the messages: OpenAI's response object (pgai).",
    run: (args, context) => chatComplete(context, args, 'whole'),
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'openai_chat_complete_simple',
    arguments: [{ name: 'message', type: 'text' }, ...API_KEY, VERBOSE, secretConfig('client_config')],
    result: { kind: 'scalar', type: 'text' },
    strict: false,
    description: "gpt-4o's answer to one message, as a helpful assistant (pgai).",
    async run(args, context) {
      const messages = [
        { role: 'system', content: 'you are a helpful assistant' },
        { role: 'user', content: args.message },
      ];
      const response = (await chatComplete(context, { ...args, model: 'gpt-4o', messages }, FIRST_CONTENT)) as { choices?: Array<{ message?: { content?: unknown } }> };
      const content = response.choices?.[0]?.message?.content;
      return content === undefined || content === null ? null : typeof content === 'string' ? content : JSON.stringify(content);
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'openai_moderate',
    arguments: [{ name: 'model', type: 'text' }, { name: 'input_text', type: 'text' }, ...API_KEY, ...openAiTail(true)],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: "OpenAI's moderation of a text: its response object (pgai).",
    async run(args, context) {
      const model = required<string>(args, 'model');
      const body = { input: args.input_text, model, ...jsonObject(args.extra_body, 'extra_body') };
      return askApi(context, await settings(context, args, model), 'ai.openai_moderate', { kind: 'moderate', path: '/moderations', body, reads: 'whole' });
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'openai_list_models',
    arguments: [...API_KEY, ...openAiTail(false)],
    result: {
      kind: 'table',
      columns: [
        { name: 'id', type: 'text' },
        { name: 'created', type: 'timestamp with time zone' },
        { name: 'owned_by', type: 'text' },
      ],
    },
    strict: false,
    description: 'The models OpenAI serves the key (pgai).',
    async run(args, context) {
      const answer = (await askApi(context, await settings(context, args, 'models'), 'ai.openai_list_models', { kind: 'list', method: 'GET', path: '/models', reads: { fields: { data: listOf('id', 'created', 'owned_by') } } })) as { data?: Array<Record<string, unknown>> };
      return (answer.data ?? []).map((model) => ({ id: model.id, created: timestamp(model.created), owned_by: model.owned_by }));
    },
  }),
  declareFunction({
    schema: SCHEMA,
    name: 'openai_client_config',
    arguments: [
      serverUrl('base_url'),
      nullable('timeout_seconds', 'double precision'),
      nullable('organization', 'text'),
      nullable('project', 'text'),
      nullable('max_retries', 'integer'),
      requestParts('default_headers'),
      requestParts('default_query'),
    ],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: 'A client_config for the OpenAI functions, of the settings given (pgai), its secrets held by the proxy.',
    run: async (args, context) =>
      context.literalSecrets.heldConfig(given(args, {
        base_url: 'base_url',
        timeout: 'timeout_seconds',
        organization: 'organization',
        project: 'project',
        max_retries: 'max_retries',
        default_headers: 'default_headers',
        default_query: 'default_query',
      })),
  }),
];
