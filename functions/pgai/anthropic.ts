// pgai's Anthropic function (its sql/idempotent/003-anthropic.sql): a message from the Messages API, answered with
// the API's message object, with pgai's arguments and defaults (max_tokens 1024).

import { declareFunction, type FunctionDeclaration } from '../declaration.js';
import { API_KEY, nullable, VERBOSE } from './arguments.js';
import { endpoint } from './endpoint.js';
import { askApi, given, jsonArray, milliseconds, required } from './requests.js';

export const anthropicFunctions: FunctionDeclaration[] = [
  declareFunction({
    schema: 'ai',
    name: 'anthropic_generate',
    arguments: [
      { name: 'model', type: 'text' },
      { name: 'messages', type: 'jsonb' },
      { name: 'max_tokens', type: 'integer', default: '1024' },
      ...API_KEY,
      nullable('base_url', 'text'),
      nullable('timeout', 'double precision'),
      nullable('max_retries', 'integer'),
      nullable('system_prompt', 'text'),
      nullable('user_id', 'text'),
      nullable('stop_sequences', 'text[]'),
      nullable('temperature', 'double precision'),
      nullable('tool_choice', 'jsonb'),
      nullable('tools', 'jsonb'),
      nullable('top_k', 'integer'),
      nullable('top_p', 'double precision'),
      VERBOSE,
    ],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: false,
    description: "Anthropic's answer to the messages: the Messages API's message object (pgai).",
    async run(args, context) {
      const model = required<string>(args, 'model');
      const { baseUrl, apiKey } = await endpoint(context, 'anthropic', args, args.base_url);
      const timeoutMs = milliseconds(args.timeout);
      const settings = {
        api: 'anthropic' as const,
        model,
        baseUrl,
        apiKey,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(typeof args.max_retries === 'number' ? { maxRetries: args.max_retries } : {}),
      };
      const body = {
        model,
        messages: jsonArray(args, 'messages'),
        max_tokens: required<number>(args, 'max_tokens'),
        ...given(args, { system: 'system_prompt', stop_sequences: 'stop_sequences', temperature: 'temperature', tool_choice: 'tool_choice', tools: 'tools', top_k: 'top_k', top_p: 'top_p' }),
        ...(args.user_id === null ? {} : { metadata: { user_id: args.user_id } }),
      };
      return askApi(context, settings, 'ai.anthropic_generate', { kind: 'chat', path: '/v1/messages', body });
    },
  }),
];
