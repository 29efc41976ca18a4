// The chat family of pg_llm v1.1: model registration and single-turn chat, plain, JSON and streamed.

import { declareFunction } from './declaration.js';

const STREAM_COLUMNS = [
  { name: 'seq_no', type: 'integer' },
  { name: 'chunk', type: 'text' },
  { name: 'is_final', type: 'boolean' },
  { name: 'model_name', type: 'text' },
  { name: 'confidence_score', type: 'double precision' },
  { name: 'request_id', type: 'uuid' },
];

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
  }),
  declareFunction({
    name: 'pg_llm_remove_model',
    arguments: [{ name: 'instance_name', type: 'text' }],
    result: { kind: 'scalar', type: 'boolean' },
    strict: true,
    description: 'Removes a model instance; true when it existed.',
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
  }),
];
