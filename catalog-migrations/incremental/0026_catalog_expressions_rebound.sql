-- An earlier install ran with the installer's search_path (review28), where an operator another role had put in a
-- schema it may create in (public, on PostgreSQL 14 and databases upgraded from it) won over pg_catalog's wherever
-- pg_catalog's needed an implicit cast, and stayed bound into the expression that used it: the llm.queue view's
-- oid = regclass, which then ran as every role reading the queue, and the vectorizer name check's name ~ unknown,
-- which ran as every role creating a vectorizer. The install runs with search_path pg_catalog, pg_temp now: made
-- again here, both bind to pg_catalog's operators. The install's last step (foreign-objects.ts) refuses a catalog
-- that still uses another role's function or operator.

ALTER TABLE _pg_llm_catalog.pg_llm_vectorizers
  DROP CONSTRAINT pg_llm_vectorizers_name_check,
  ADD CONSTRAINT pg_llm_vectorizers_name_check CHECK (name ~ '^[a-z][a-z_0-9]*$');

-- As in 0025.
CREATE OR REPLACE VIEW llm.queue WITH (security_barrier) AS
  SELECT id,
         coalesce((SELECT n.nspname::text COLLATE pg_catalog."default" FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.oid = q.table_oid AND c.relowner = q.table_owner), q.table_schema) AS table_schema,
         coalesce((SELECT c.relname::text COLLATE pg_catalog."default" FROM pg_catalog.pg_class c WHERE c.oid = q.table_oid AND c.relowner = q.table_owner), q.table_name) AS table_name,
         trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance,
         status, attempts, max_attempts, last_error, run_after, worker, lease_until, created_at, started_at, processed_at,
         row_xmin, deleted, batch_id, table_oid, table_owner, batch_tag
    FROM _pg_llm_catalog.pg_llm_queue q
   WHERE (SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_catalog.pg_class c WHERE c.oid = '_pg_llm_catalog.pg_llm_queue'::pg_catalog.regclass)
      OR (SELECT _pg_llm_catalog.is_admin())
      OR pg_catalog.pg_has_role(current_user, q.table_owner, 'USAGE')
  WITH CASCADED CHECK OPTION;
