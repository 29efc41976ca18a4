// Feedback on answers and the read side of the audit and trace logs, per request_id. Row-level security (catalog
// level 0004) limits each role to its own rows; an admin role sees all.

import { MAX_READ_BYTES, measuredRead } from '../src/catalog/measured-read.js';
import { storedJsonOrNote } from '../src/catalog/stored-json.js';
import { mapWithTurns } from '../src/event-loop-turns.js';
import { PgError } from '../proxy/pg-error.js';
import { optionsObject } from './answer.js';
import { wholeNumberOption } from './call-options.js';
import { declareFunction, noModel, type CallContext } from './declaration.js';

const DEFAULT_AUDIT_LIMIT = 100;
/** PostgreSQL's integer range: a LIMIT beyond it is an error of the server's, not the caller's option. */
const MAX_ROWS = 2_147_483_647;

/**
 * A request belongs to the role whose call wrote its first row: the request_id is random and unknown until then.
 * Any role may write rows with any request_id under its own name, so rows of another role after the first are
 * forgeries, hidden from those who see every role's rows (an admin). Applies to the row aliased `a`.
 */
const EARLIER_ROW_OF_ANOTHER_ROLE = (table: string): string =>
  `SELECT 1 FROM ${table} first WHERE first.request_id OPERATOR(pg_catalog.=) a.request_id AND first.id OPERATOR(pg_catalog.<) a.id
     AND first.role_name OPERATOR(pg_catalog.<>) a.role_name`;

async function recordFeedback(context: CallContext, args: Record<string, unknown>): Promise<number> {
  if (args.request_id === null) throw new PgError('22004', 'request_id must not be null');
  if (args.rating === null) throw new PgError('22004', 'rating must not be null');
  const metadata = args.metadata ?? {};
  if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new PgError('22023', 'metadata must be a JSON object');
  const [row] = await context.query(
    `INSERT INTO _pg_llm_catalog.pg_llm_feedback (request_id, rating, feedback, metadata) VALUES ($1, $2, $3, $4::pg_catalog.jsonb) RETURNING id`,
    [String(args.request_id), String(args.rating), args.feedback === null ? null : String(args.feedback), JSON.stringify(metadata)],
  );
  return Number(row!.id);
}

/** Newest first; options: limit, event_type, instance_name, session_id, request_id, since (a timestamp). */
async function auditLog(context: CallContext, options: Record<string, unknown>) {
  const limit = wholeNumberOption(options, 'limit', DEFAULT_AUDIT_LIMIT, 0, MAX_ROWS);
  const filters = ['event_type', 'instance_name', 'session_id', 'request_id', 'since'] as const;
  const conditions: string[] = [];
  const parameters: Array<string | null> = [String(limit)];
  for (const filter of filters) {
    if (options[filter] === undefined) continue;
    if (typeof options[filter] !== 'string') throw new PgError('22023', `${filter} must be a string`);
    parameters.push(options[filter] as string);
    conditions.push(filter === 'since' ? `created_at OPERATOR(pg_catalog.>=) $${parameters.length}::pg_catalog.timestamptz` : `${filter}::pg_catalog.text OPERATOR(pg_catalog.=) $${parameters.length}`);
  }
  const rows = await measuredRead(
    context,
    {
      rows: `SELECT id, created_at, request_id, event_type, instance_name, session_id, success, confidence_score, metadata::pg_catalog.text AS metadata
               FROM _pg_llm_catalog.pg_llm_audit_log a
              WHERE ${[...conditions, `NOT EXISTS (${EARLIER_ROW_OF_ANOTHER_ROLE('_pg_llm_catalog.pg_llm_audit_log')})`].join(' AND ')}
              ORDER BY created_at DESC, id DESC LIMIT $1`,
      columns: ['request_id', 'event_type', 'instance_name', 'session_id', 'success', 'confidence_score', 'metadata'],
      measured: ['event_type', 'instance_name', 'session_id', 'metadata'],
      order: 'created_at DESC, id DESC',
    },
    parameters,
    {
      message: `the audit rows found are larger than the proxy reads (${MAX_READ_BYTES} bytes, their text and metadata, 1 kB counted for each)`,
      hint: 'Ask for fewer (the limit option) or narrower ones (event_type, instance_name, session_id, request_id, since).',
    },
  );
  return mapWithTurns(rows, (row) => ({
    ...row,
    success: row.success === 't',
    confidence_score: row.confidence_score === null ? null : Number(row.confidence_score),
    metadata: storedJsonOrNote(row.metadata ?? '{}', `the metadata of an audit row of request ${row.request_id}`),
  }));
}

async function trace(context: CallContext, requestId: string): Promise<Record<string, unknown>> {
  const rows = await measuredRead(
    context,
    {
      rows: `SELECT id, pg_catalog.jsonb_build_object('step', step, 'detail', detail, 'created_at', created_at, 'role_name', role_name)::pg_catalog.text AS event
               FROM _pg_llm_catalog.pg_llm_trace_log a
              WHERE request_id OPERATOR(pg_catalog.=) $1 AND NOT EXISTS (${EARLIER_ROW_OF_ANOTHER_ROLE('_pg_llm_catalog.pg_llm_trace_log')})`,
      columns: ['event'],
      measured: ['event'],
      order: 'id',
    },
    [requestId],
    {
      message: `the trace of request ${requestId} is larger than the proxy reads (${MAX_READ_BYTES} bytes as JSON text, 1 kB counted for each event)`,
      hint: 'Read its events with a SELECT of your own from _pg_llm_catalog.pg_llm_trace_log.',
    },
  );
  return { request_id: requestId, events: await mapWithTurns(rows, (row) => storedJsonOrNote(row.event!, `an event of the trace of request ${requestId}`)) };
}

export const observabilityFunctions = [
  declareFunction({
    name: 'pg_llm_record_feedback',
    arguments: [
      { name: 'request_id', type: 'uuid' },
      { name: 'rating', type: 'integer' },
      { name: 'feedback', type: 'text' },
      { name: 'metadata', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" },
    ],
    result: { kind: 'scalar', type: 'bigint' },
    strict: false,
    description: 'Stores a rating (and comment) of the answer with this request_id; returns the feedback id.',
    models: noModel,
    run: (args, context) => recordFeedback(context, args),
  }),
  declareFunction({
    name: 'pg_llm_get_audit_log',
    arguments: [{ name: 'options', type: 'jsonb', default: "'{}'::pg_catalog.jsonb" }],
    result: {
      kind: 'table',
      columns: [
        { name: 'request_id', type: 'uuid' },
        { name: 'event_type', type: 'text' },
        { name: 'instance_name', type: 'text' },
        { name: 'session_id', type: 'text' },
        { name: 'success', type: 'boolean' },
        { name: 'confidence_score', type: 'double precision' },
        { name: 'metadata', type: 'jsonb' },
      ],
    },
    strict: true,
    description: "The caller's audit rows, newest first; options: limit (100), event_type, instance_name, session_id, request_id, since.",
    models: noModel,
    run: (args, context) => auditLog(context, optionsObject(args.options)),
  }),
  declareFunction({
    name: 'pg_llm_get_trace',
    arguments: [{ name: 'request_id', type: 'uuid' }],
    result: { kind: 'scalar', type: 'jsonb' },
    strict: true,
    description: "A request's trace: {request_id, events: [{step, detail, created_at, role_name}]} (written when pg_llm.trace_enabled is on).",
    models: noModel,
    run: (args, context) => trace(context, String(args.request_id)),
  }),
];
