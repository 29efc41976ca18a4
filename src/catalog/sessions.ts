// Conversation sessions in the catalog: their settings and state, and their messages in order. Every read and write
// runs in the caller's session with the caller's role, so row-level security decides whose sessions a role sees.

import type { CallContext } from '../../functions/declaration.js';
import type { ChatMessage } from '../providers/provider.js';
import { PgError } from '../../proxy/pg-error.js';
import { MAX_READ_BYTES, measuredRead } from './measured-read.js';
import { storedJson } from './stored-json.js';

const SESSIONS = '_pg_llm_catalog.pg_llm_sessions';
const MESSAGES = '_pg_llm_catalog.pg_llm_session_messages';

export async function createSession(context: CallContext, maxMessages: number): Promise<string> {
  const [row] = await context.query(`INSERT INTO ${SESSIONS} (max_messages) VALUES ($1) RETURNING session_id`, [String(positive('max_messages', maxMessages))]);
  return row!.session_id!;
}

/**
 * The last max_messages messages of a session, oldest first, with the session locked until the caller's transaction
 * ends, so two turns of one conversation do not interleave.
 */
export async function sessionHistory(context: CallContext, sessionId: string): Promise<ChatMessage[]> {
  const [session] = await context.query(`SELECT max_messages FROM ${SESSIONS} WHERE session_id OPERATOR(pg_catalog.=) $1 FOR UPDATE`, [sessionId]);
  if (!session) throw unknownSession(sessionId);
  const rows = await measuredRead(
    context,
    {
      rows: `SELECT id, role, content FROM ${MESSAGES} WHERE session_id OPERATOR(pg_catalog.=) $1 AND role OPERATOR(pg_catalog.=) ANY (ARRAY['user', 'assistant'])
              ORDER BY id DESC LIMIT $2`,
      columns: ['role', 'content'],
      measured: ['content'],
      order: 'id',
    },
    [sessionId, session.max_messages!],
    {
      message: `the history of session ${sessionId} is larger than a turn reads (${MAX_READ_BYTES} bytes)`,
      hint: 'Lower its max_messages (pg_llm_set_max_messages), or start a new session.',
    },
  );
  return rows.map((row) => ({ role: row.role as ChatMessage['role'], content: row.content! }));
}

/** Both turns of an exchange, and the session marked active. */
export async function recordExchange(context: CallContext, sessionId: string, prompt: string, answer: string): Promise<void> {
  await context.query(
    `WITH touched AS (UPDATE ${SESSIONS} SET last_active_time = pg_catalog.now() WHERE session_id OPERATOR(pg_catalog.=) $1)
     INSERT INTO ${MESSAGES} (session_id, request_id, role, content) VALUES ($1, $2, 'user', $3), ($1, $2, 'assistant', $4)`,
    [sessionId, context.requestId, prompt, answer],
  );
}

export async function setMaxMessages(context: CallContext, sessionId: string, maxMessages: number): Promise<void> {
  await updateSession(context, sessionId, 'max_messages = $2', String(positive('max_messages', maxMessages)));
}

export async function updateState(context: CallContext, sessionId: string, state: unknown): Promise<void> {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new PgError('22023', 'state must be a JSON object');
  await updateSession(context, sessionId, 'state = $2::pg_catalog.jsonb, last_active_time = pg_catalog.now()', JSON.stringify(state));
}

async function updateSession(context: CallContext, sessionId: string, assignments: string, value: string): Promise<void> {
  const rows = await context.query(`UPDATE ${SESSIONS} SET ${assignments} WHERE session_id OPERATOR(pg_catalog.=) $1 RETURNING 1 AS updated`, [sessionId, value]);
  if (rows.length === 0) throw unknownSession(sessionId);
}

export async function getSession(context: CallContext, sessionId: string): Promise<Record<string, unknown>> {
  const [row] = await measuredRead(
    context,
    {
      rows: `SELECT pg_catalog.jsonb_build_object('session_id', s.session_id, 'max_messages', s.max_messages, 'state', s.state,
                    'message_count', (SELECT pg_catalog.count(*) FROM ${MESSAGES} m WHERE m.session_id OPERATOR(pg_catalog.=) s.session_id),
                    'created_at', s.created_at, 'last_active_time', s.last_active_time)::pg_catalog.text AS session
               FROM ${SESSIONS} s WHERE s.session_id OPERATOR(pg_catalog.=) $1`,
      columns: ['session'],
      measured: ['session'],
    },
    [sessionId],
    {
      message: `session ${sessionId} is larger than the proxy reads (${MAX_READ_BYTES} bytes as JSON text, its state included)`,
      hint: `Replace its state with a smaller one (pg_llm_update_session_state), or read it with a SELECT of your own from ${SESSIONS}.`,
    },
  );
  if (!row) throw unknownSession(sessionId);
  return storedJson(row.session!, `session ${sessionId}`) as Record<string, unknown>;
}

export async function listSessions(context: CallContext): Promise<Array<Record<string, unknown>>> {
  const rows = await context.query(
    `SELECT s.session_id, (SELECT pg_catalog.count(*) FROM ${MESSAGES} m WHERE m.session_id OPERATOR(pg_catalog.=) s.session_id) AS message_count,
            s.max_messages, s.last_active_time
       FROM ${SESSIONS} s ORDER BY s.last_active_time DESC, s.session_id`,
  );
  return rows.map((row) => ({ ...row, message_count: Number(row.message_count), max_messages: Number(row.max_messages) }));
}

export async function sessionMessages(context: CallContext, sessionId: string): Promise<Array<Record<string, unknown>>> {
  const [session] = await context.query(`SELECT 1 AS found FROM ${SESSIONS} WHERE session_id OPERATOR(pg_catalog.=) $1`, [sessionId]);
  if (!session) throw unknownSession(sessionId);
  const rows = await measuredRead(
    context,
    {
      rows: `SELECT id, request_id, role, content, created_at FROM ${MESSAGES} WHERE session_id OPERATOR(pg_catalog.=) $1`,
      columns: ['id', 'request_id', 'role', 'content', 'created_at'],
      measured: ['content'],
      order: 'id',
    },
    [sessionId],
    {
      message: `the messages of session ${sessionId} are larger than the proxy reads (${MAX_READ_BYTES} bytes, 1 kB counted for each)`,
      hint: `Read them with a SELECT of your own from ${MESSAGES}, which the proxy passes on as they come, or delete the session (pg_llm_delete_session).`,
    },
  );
  return rows.map((row) => ({ ...row, id: Number(row.id) }));
}

/** Sessions are deleted by marking them (incremental/0018_no_table_locks.sql), their messages with them. */
export async function deleteSession(context: CallContext, sessionId: string): Promise<boolean> {
  return (await context.query(`UPDATE ${SESSIONS} SET deleted = true WHERE session_id OPERATOR(pg_catalog.=) $1 RETURNING 1 AS deleted`, [sessionId])).length > 0;
}

/** Deletes the sessions (the caller may delete) idle for longer than the timeout. */
export async function cleanupSessions(context: CallContext, timeoutSeconds: number): Promise<void> {
  if (!(Number.isInteger(timeoutSeconds) && timeoutSeconds >= 0)) throw new PgError('22023', 'timeout_seconds must not be negative');
  await context.query(`UPDATE ${SESSIONS} SET deleted = true WHERE last_active_time OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))`, [String(timeoutSeconds)]);
}

function positive(name: string, value: number): number {
  if (!(Number.isInteger(value) && value > 0)) throw new PgError('22023', `${name} must be a positive whole number`);
  return value;
}

function unknownSession(sessionId: string): PgError {
  return new PgError('42704', `session "${sessionId}" does not exist`, { hint: 'Create one with pg_llm_create_session().' });
}
