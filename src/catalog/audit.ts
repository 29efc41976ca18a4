// The audit log: one row per LLM call, correlated by request_id, written in the caller's transaction (so a call
// whose statement rolls back leaves no row, as with the extension). pg_llm.audit_enabled = off skips it,
// pg_llm.audit_sample_rate keeps that share of calls, and pg_llm.redact_sensitive masks secrets in its text.

import type { CallContext } from '../../functions/declaration.js';
import { maskSecretsIn } from './redaction.js';

export interface AuditEvent {
  eventType: string;
  instanceName: string | null;
  sessionId?: string | null;
  success: boolean;
  confidence: number | null;
  /** Token counts, latency, model name, cost and the like. */
  metadata: Record<string, unknown>;
}

export async function recordCall(context: CallContext, event: AuditEvent): Promise<void> {
  const settings = await context.settings();
  if (!settings.auditEnabled || Math.random() >= settings.auditSampleRate) return;
  const metadata = settings.redactSensitive ? maskSecretsIn(event.metadata) : event.metadata;
  await context.record(
    `INSERT INTO _pg_llm_catalog.pg_llm_audit_log (request_id, event_type, instance_name, session_id, success, confidence_score, metadata)
     VALUES ($1, $2, $3, $4, $5, $6, $7::pg_catalog.jsonb)`,
    [
      context.requestId,
      event.eventType,
      event.instanceName,
      event.sessionId ?? null,
      String(event.success),
      event.confidence === null ? null : String(event.confidence),
      JSON.stringify(metadata),
    ],
  );
}
