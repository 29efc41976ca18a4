// Reports (_pg_llm_catalog.pg_llm_reports): each generated report kept as it was returned, with the SQL it came from,
// in the caller's transaction (a report whose statement rolls back is not kept), recorded under the caller's role.

import type { CallContext } from '../../functions/declaration.js';

/** The new report's id. */
export async function saveReport(context: CallContext, instanceName: string, sql: string, report: Record<string, unknown>): Promise<number> {
  const [row] = await context.query(
    `INSERT INTO _pg_llm_catalog.pg_llm_reports (request_id, instance_name, sql, report) VALUES ($1, $2, $3, $4::pg_catalog.jsonb) RETURNING id`,
    [context.requestId, instanceName, sql, JSON.stringify(report)],
  );
  return Number(row!.id);
}
