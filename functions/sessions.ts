// pg_llm's conversation sessions: a multi-turn chat sends the session's recent history (at most max_messages
// messages) with the prompt and stores both turns; the streaming variant stores the whole answer once it has
// streamed. Session rows belong to the role that created them.

import { cleanupSessions, createSession, deleteSession, getSession, listSessions, recordExchange, sessionHistory, sessionMessages, setMaxMessages, updateState } from '../src/catalog/sessions.js';
import { answerJson, ask, audit, optionsObject, routed, STREAM_COLUMNS, streamAnswer } from './answer.js';
import { allRows, declareFunction, noModel, type CallContext, type ResultRow } from './declaration.js';

async function multiTurnChat(context: CallContext, instanceName: string, sessionId: string, prompt: string, options: unknown) {
  const question = { prompt, history: await sessionHistory(context, sessionId), options: optionsObject(options) };
  const answer = await routed(context, await ask(context, instanceName, question), question);
  await recordExchange(context, sessionId, prompt, answer.result.text);
  await audit(context, 'multi_turn_chat', answer, sessionId);
  return answer;
}

async function* multiTurnStream(args: Record<string, unknown>, context: CallContext): AsyncIterable<ResultRow> {
  const sessionId = String(args.session_id);
  const prompt = String(args.prompt);
  const question = { prompt, history: await sessionHistory(context, sessionId), options: optionsObject(args.options) };
  yield* streamAnswer(context, String(args.instance_name), question, 'multi_turn_chat_stream', (text) => recordExchange(context, sessionId, prompt, text), sessionId);
}

const SESSION_ID = { name: 'session_id', type: 'text' };

export const sessionFunctions = [
  declareFunction({
    name: 'pg_llm_create_session',
    arguments: [{ name: 'max_messages', type: 'integer', default: '10' }],
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: 'Starts a conversation session; returns its id. max_messages bounds the history sent with each turn.',
    models: noModel,
    run: (args, context) => createSession(context, Number(args.max_messages)),
  }),
  declareFunction({
    name: 'pg_llm_multi_turn_chat',
    arguments: [{ name: 'instance_name', type: 'text' }, SESSION_ID, { name: 'prompt', type: 'text' }],
    result: { kind: 'scalar', type: 'text' },
    strict: true,
    description: "The model's answer to a prompt, given the session's recent history; both turns are stored.",
    run: async (args, context) => (await multiTurnChat(context, String(args.instance_name), String(args.session_id), String(args.prompt), {})).result.text,
  }),
  declareFunction({
    name: 'pg_llm_multi_turn_chat_json',
    arguments: [{ name: 'instance_name', type: 'text' }, SESSION_ID, { name: 'prompt', type: 'text' }, { name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" }],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: true,
    description: 'pg_llm_multi_turn_chat with the answer as pg_llm_chat_json gives it, plus session_id.',
    async run(args, context) {
      const answer = await multiTurnChat(context, String(args.instance_name), String(args.session_id), String(args.prompt), args.options);
      return { ...answerJson(context, answer), session_id: args.session_id };
    },
  }),
  declareFunction({
    name: 'pg_llm_multi_turn_chat_stream',
    arguments: [{ name: 'instance_name', type: 'text' }, SESSION_ID, { name: 'prompt', type: 'text' }, { name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" }],
    result: { kind: 'table', columns: STREAM_COLUMNS },
    strict: true,
    description: 'A multi-turn answer as it streams; the whole answer is stored in the session when it is complete.',
    run: (args, context) => allRows(multiTurnStream(args, context)),
    stream: multiTurnStream,
  }),
  declareFunction({
    name: 'pg_llm_set_max_messages',
    arguments: [SESSION_ID, { name: 'max_messages', type: 'integer' }],
    result: { kind: 'scalar', type: 'void' },
    strict: true,
    description: 'Changes how many earlier messages each turn of the session sends.',
    models: noModel,
    run: (args, context) => setMaxMessages(context, String(args.session_id), Number(args.max_messages)),
  }),
  declareFunction({
    name: 'pg_llm_get_sessions',
    arguments: [],
    result: {
      kind: 'table',
      columns: [SESSION_ID, { name: 'message_count', type: 'integer' }, { name: 'max_messages', type: 'integer' }, { name: 'last_active_time', type: 'timestamp with time zone' }],
    },
    strict: false,
    description: "The caller's sessions, most recently active first.",
    models: noModel,
    run: (_args, context) => listSessions(context),
  }),
  declareFunction({
    name: 'pg_llm_get_session',
    arguments: [SESSION_ID],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: true,
    description: 'A session: max_messages, state, message_count, created_at, last_active_time.',
    models: noModel,
    run: (args, context) => getSession(context, String(args.session_id)),
  }),
  declareFunction({
    name: 'pg_llm_get_session_messages',
    arguments: [SESSION_ID],
    result: {
      kind: 'table',
      columns: [{ name: 'id', type: 'bigint' }, { name: 'request_id', type: 'uuid' }, { name: 'role', type: 'text' }, { name: 'content', type: 'text' }, { name: 'created_at', type: 'timestamp with time zone' }],
    },
    strict: true,
    description: "A session's messages, oldest first.",
    models: noModel,
    run: (args, context) => sessionMessages(context, String(args.session_id)),
  }),
  declareFunction({
    name: 'pg_llm_update_session_state',
    arguments: [SESSION_ID, { name: 'state', type: 'jsonb' }],
    result: { kind: 'scalar', type: 'void' },
    strict: true,
    description: "Replaces the session's application state (a JSON object).",
    models: noModel,
    run: (args, context) => updateState(context, String(args.session_id), args.state),
  }),
  declareFunction({
    name: 'pg_llm_delete_session',
    arguments: [SESSION_ID],
    result: { kind: 'scalar', type: 'boolean' },
    strict: true,
    description: 'Deletes a session and its messages; true when it existed.',
    models: noModel,
    run: (args, context) => deleteSession(context, String(args.session_id)),
  }),
  declareFunction({
    name: 'pg_llm_cleanup_sessions',
    arguments: [{ name: 'timeout_seconds', type: 'integer' }],
    result: { kind: 'scalar', type: 'void' },
    strict: true,
    description: 'Deletes the sessions idle for longer than timeout_seconds.',
    models: noModel,
    run: (args, context) => cleanupSessions(context, Number(args.timeout_seconds)),
  }),
];
