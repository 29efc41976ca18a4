-- Each role sees (and may change, where it was granted to) only the jobs of the tables it owns, or whose owner it has
-- the privileges of; the queue's owner, its members, admins and superusers see every job. The worker serves the
-- tables its login role owns, connected as that role (one --worker URL per owner), and never SET ROLEs: an owner's
-- code (a trigger, a policy, an operator of a column's type) that runs while the worker reads or writes a row could
-- RESET ROLE to the session's login role. So a worker's role is granted rights on this view, and the prompts of other
-- owners' tables (their rows' values) stay out of its reach.
-- security_barrier: a function in a query over the view sees no row the filter hides; CHECK OPTION: an update cannot
-- move a job to a table of another owner.

CREATE OR REPLACE VIEW llm.queue WITH (security_barrier) AS
  SELECT id, table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance,
         status, attempts, max_attempts, last_error, run_after, worker, lease_until, created_at, started_at, processed_at,
         row_xmin
    FROM _pg_llm_catalog.pg_llm_queue q
   WHERE pg_catalog.pg_has_role(current_user, (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = '_pg_llm_catalog.pg_llm_queue'::pg_catalog.regclass), 'MEMBER')
      OR _pg_llm_catalog.is_admin()
      OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = q.table_schema AND c.relname = q.table_name AND pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE'))
  WITH CASCADED CHECK OPTION;
COMMENT ON VIEW llm.queue IS 'Jobs of the llm.call triggers of the tables you own: pending, processing, done, skipped (row deleted or changed before its answer was written) or error (see last_error).';
