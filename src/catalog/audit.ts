// The audit log: one row per LLM call, correlated by request_id, written in the caller's transaction (so a call
// whose statement rolls back leaves no row, as with the extension). pg_llm.audit_enabled = off skips it.

import type { CallContext } from '../../functions/declaration.js';

export interface AuditEvent {
  eventType: string;
  instanceName: string | null;
  success: boolean;
  confidence: number | null;
  /** Never prompts' secrets: token counts, latency, model name and the like. */
  metadata: Record<string, unknown>;
}

export async function recordCall(context: CallContext, event: AuditEvent): Promise<void> {
  if (!(await context.settings()).auditEnabled) return;
  await context.query(
    `INSERT INTO _pg_llm_catalog.pg_llm_audit_log (request_id, event_type, instance_name, success, confidence_score, metadata)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
    [
      context.requestId,
      event.eventType,
      event.instanceName,
      String(event.success),
      event.confidence === null ? null : String(event.confidence),
      JSON.stringify(event.metadata),
    ],
  );
}
