-- llm.call jobs answered through a provider's batch API (a model instance whose config has "batch": true,
-- src/worker/batch-jobs.ts): once submitted, a job waits as 'batched' with the provider's batch id until the batch
-- has ended, and holds no lease meanwhile (a batch may take the provider a day); then a worker takes it up again
-- and writes its answer back, or records its failure, as for any job.

ALTER TABLE _pg_llm_catalog.pg_llm_queue DROP CONSTRAINT pg_llm_queue_status_check;
ALTER TABLE _pg_llm_catalog.pg_llm_queue ADD CONSTRAINT pg_llm_queue_status_check
  CHECK (status IN ('pending', 'processing', 'batched', 'done', 'error', 'skipped'));
ALTER TABLE _pg_llm_catalog.pg_llm_queue ADD COLUMN batch_id text;
CREATE INDEX pg_llm_queue_batched ON _pg_llm_catalog.pg_llm_queue (batch_id) WHERE status = 'batched';

CREATE OR REPLACE VIEW llm.queue WITH (security_barrier) AS
  SELECT id, table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance,
         status, attempts, max_attempts, last_error, run_after, worker, lease_until, created_at, started_at, processed_at,
         row_xmin, deleted, batch_id
    FROM _pg_llm_catalog.pg_llm_queue q
   WHERE (SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_catalog.pg_class c WHERE c.oid = '_pg_llm_catalog.pg_llm_queue'::pg_catalog.regclass)
      OR (SELECT _pg_llm_catalog.is_admin())
      OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = q.table_schema AND c.relname = q.table_name AND pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE'))
  WITH CASCADED CHECK OPTION;
COMMENT ON VIEW llm.queue IS 'Jobs of the llm.call triggers of the tables you own: pending, processing, batched (waiting for a provider''s batch, see batch_id), done, skipped (row deleted or changed before its answer was written) or error (see last_error).';

-- The worker writes batch_id: the roles granted UPDATE of the columns the worker writes (0018) get it too.
DO $$
DECLARE
  granted record;
BEGIN
  FOR granted IN
    SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END AS grantee
      FROM pg_catalog.pg_attribute att, pg_catalog.aclexplode(att.attacl) a
     WHERE att.attrelid = 'llm.queue'::pg_catalog.regclass AND att.attname = 'status' AND a.privilege_type = 'UPDATE'
  LOOP
    EXECUTE pg_catalog.format('GRANT UPDATE (batch_id) ON llm.queue TO %s', granted.grantee);
  END LOOP;
END
$$;
