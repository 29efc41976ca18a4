// pgai's Anthropic functions (its sql/idempotent/003-anthropic.sql): a message from the Messages API, answered with
// the API's message object, with pgai's arguments and defaults (max_tokens 1024), and the models the key may use.

import { listOf } from '../../src/providers/pgai/apis.js';
import type { PgaiSettings } from '../../src/providers/pgai/index.js';
import type { ApiRequest } from '../../src/providers/provider.js';
import { declareFunction, type CallContext, type FunctionDeclaration, type ResultRow } from '../declaration.js';
import { API_KEY, nullable, serverUrl, VERBOSE } from './arguments.js';
import { endpoint } from './endpoint.js';
import { askApi, given, jsonArray, milliseconds, required } from './requests.js';

/** Pages of the model list followed at most: far more models than Anthropic has. */
const MAX_PAGES = 20;

const MODEL_PAGE: ApiRequest['reads'] = { fields: { data: listOf('id', 'display_name', 'created_at'), has_more: 'scalar', last_id: 'scalar' } };

async function settings(context: CallContext, args: Record<string, unknown>, model: string): Promise<PgaiSettings> {
  const { baseUrl, apiKey } = await endpoint(context, 'anthropic', args, args.base_url);
  const timeoutMs = milliseconds(args.timeout);
  return {
    api: 'anthropic',
    model,
    baseUrl,
    apiKey,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(typeof args.max_retries === 'number' ? { maxRetries: args.max_retries } : {}),
  };
}

interface ModelPage {
  data?: Array<{ id?: unknown; display_name?: unknown; created_at?: unknown }>;
  has_more?: boolean;
  last_id?: string;
}

export const anthropicFunctions: FunctionDeclaration[] = [
  declareFunction({
    schema: 'ai',
    name: 'anthropic_generate',
    arguments: [
      { name: 'model', type: 'text' },
      { name: 'messages', type: 'jsonb' },
      { name: 'max_tokens', type: 'integer', default: '1024' },
      ...API_KEY,
      serverUrl('base_url'),
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
      const body = {
        model,
        messages: jsonArray(args, 'messages'),
        max_tokens: required<number>(args, 'max_tokens'),
        ...given(args, { system: 'system_prompt', stop_sequences: 'stop_sequences', temperature: 'temperature', tool_choice: 'tool_choice', tools: 'tools', top_k: 'top_k', top_p: 'top_p' }),
        ...(args.user_id === null ? {} : { metadata: { user_id: args.user_id } }),
      };
      return askApi(context, await settings(context, args, model), 'ai.anthropic_generate', { kind: 'chat', path: '/v1/messages', body, reads: 'whole' });
    },
  }),
  declareFunction({
    schema: 'ai',
    name: 'anthropic_list_models',
    arguments: [...API_KEY, serverUrl('base_url'), VERBOSE],
    result: {
      kind: 'table',
      columns: [
        { name: 'id', type: 'text' },
        { name: 'name', type: 'text' },
        { name: 'created', type: 'timestamp with time zone' },
      ],
    },
    strict: false,
    description: 'The models Anthropic serves the key (pgai).',
    async run(args, context) {
      const models = await settings(context, args, 'models');
      const rows: ResultRow[] = [];
      let after: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const path = `/v1/models?limit=1000${after === undefined ? '' : `&after_id=${encodeURIComponent(after)}`}`;
        const answer = (await askApi(context, models, 'ai.anthropic_list_models', { kind: 'list', method: 'GET', path, reads: MODEL_PAGE })) as ModelPage;
        for (const model of answer.data ?? []) rows.push({ id: model.id, name: model.display_name, created: model.created_at });
        if (!answer.has_more || !answer.last_id) break;
        after = answer.last_id;
      }
      return rows;
    },
  }),
];
