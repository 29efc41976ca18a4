// The trace log: the intermediate decisions of one request (candidates and their scores, the threshold applied, a
// fallback taken, the SQL generated…), one row per step, correlated by request_id. Written only when
// pg_llm.trace_enabled is on, in the caller's transaction; secrets masked when pg_llm.redact_sensitive is on.

import type { CallContext } from '../../functions/declaration.js';
import { maskSecretsIn } from './redaction.js';

export async function recordStep(context: CallContext, step: string, detail: Record<string, unknown>): Promise<void> {
  const settings = await context.settings();
  if (!settings.traceEnabled) return;
  await context.record(`INSERT INTO _pg_llm_catalog.pg_llm_trace_log (request_id, step, detail) VALUES ($1, $2, $3::pg_catalog.jsonb)`, [
    context.requestId,
    step,
    JSON.stringify(settings.redactSensitive ? maskSecretsIn(detail) : detail),
  ]);
}
