-- is_admin() (a function with a SET clause, so never inlined) was called for every row a policy or view filter
-- looked at that the caller does not own: reading a catalog table of many roles' rows, or the worker claiming jobs
-- from llm.queue, paid a function call with a search_path change per row. Written as a scalar subquery, it runs
-- once per statement (an InitPlan). Same rules as before, policy by policy.

DO $$
DECLARE
  owned text;
BEGIN
  FOREACH owned IN ARRAY ARRAY['pg_llm_sessions', 'pg_llm_session_messages', 'pg_llm_audit_log', 'pg_llm_trace_log',
      'pg_llm_reports', 'pg_llm_knowledge_documents', 'pg_llm_knowledge_chunks', 'pg_llm_feedback', 'pg_llm_queries',
      'pg_llm_vectors'] LOOP
    EXECUTE format('ALTER POLICY own_rows ON _pg_llm_catalog.%I USING (role_name = current_user OR (SELECT _pg_llm_catalog.is_admin()))', owned);
  END LOOP;
END
$$;

ALTER POLICY change_own_models ON _pg_llm_catalog.pg_llm_models
    USING (created_by = current_user OR (SELECT _pg_llm_catalog.is_admin()))
    WITH CHECK ((created_by = current_user AND _pg_llm_catalog.may_register()) OR (SELECT _pg_llm_catalog.is_admin()));
ALTER POLICY remove_own_models ON _pg_llm_catalog.pg_llm_models USING (created_by = current_user OR (SELECT _pg_llm_catalog.is_admin()));
ALTER POLICY own_vectorizers ON _pg_llm_catalog.pg_llm_vectorizers
  USING (pg_catalog.pg_has_role(current_user, owner, 'USAGE') OR (SELECT _pg_llm_catalog.is_admin()));

-- The queue's owner test, too, runs once: it names no column of the row.
CREATE OR REPLACE VIEW llm.queue WITH (security_barrier) AS
  SELECT id, table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance,
         status, attempts, max_attempts, last_error, run_after, worker, lease_until, created_at, started_at, processed_at,
         row_xmin
    FROM _pg_llm_catalog.pg_llm_queue q
   WHERE (SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_catalog.pg_class c WHERE c.oid = '_pg_llm_catalog.pg_llm_queue'::pg_catalog.regclass)
      OR (SELECT _pg_llm_catalog.is_admin())
      OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = q.table_schema AND c.relname = q.table_name AND pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE'))
  WITH CASCADED CHECK OPTION;
