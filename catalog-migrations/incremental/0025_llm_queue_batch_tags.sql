-- An llm.call job's batch_id was a column its table's owner may UPDATE (0020 granted it with the worker's columns),
-- and the worker read the batch it named with the key of the job's model, matching the results to jobs by custom_id:
-- the job's id, which a job of another database's queue has too. A job naming another database's batch was written
-- the answer that batch held for the job of its id; in one database, any batch could be read with another role's
-- model key. A batch now carries a random tag, as a vectorizer's does (0023): in OpenAI's metadata, and at the head of
-- each custom_id of Anthropic's, whose batches keep no metadata. It is kept with the batch's jobs (batch_tag), and a
-- batch that does not carry its jobs' tag fails them, its results unused (src/worker/batch-jobs.ts).
--
-- The worker writes a job's batch connected as the job's owner, so nothing can let the worker write it and not the
-- owner. No role may UPDATE batch_id or batch_tag: batch_llm_jobs writes them, for jobs whose version the calling
-- transaction has just written through llm.queue (whose rules say whose jobs they are), marking them 'batched'. An
-- owner may still name any batch for its own jobs that way, but not the tag of a batch submitted for another's jobs,
-- which only those who see that batch's jobs read.
--
-- A row is read by the worker: batch_id and batch_tag are capped at what the worker ever writes.

ALTER TABLE _pg_llm_catalog.pg_llm_queue ADD COLUMN batch_tag text;
COMMENT ON COLUMN _pg_llm_catalog.pg_llm_queue.batch_tag IS 'The random tag the job''s batch (batch_id) carries: a batch is read only for the jobs that name its tag.';

-- The jobs waiting for a batch submitted before: their batches carry no tag, and any of them may have been named by
-- hand. They are asked again, their attempt not counted; the answers of those batches are not read.
UPDATE _pg_llm_catalog.pg_llm_queue
   SET status = 'pending', batch_id = NULL, attempts = GREATEST(attempts - 1, 0), run_after = pg_catalog.now(),
       last_error = pg_catalog.concat_ws('; ', last_error,
         'its batch was submitted before batches carried a tag, so its answer is not read: the job is asked again')
 WHERE status = 'batched';
UPDATE _pg_llm_catalog.pg_llm_queue SET batch_id = NULL WHERE octet_length(batch_id) > 256;
ALTER TABLE _pg_llm_catalog.pg_llm_queue ADD CONSTRAINT pg_llm_queue_batch_sizes
  CHECK (octet_length(batch_id) <= 256 AND octet_length(batch_tag) <= 64);

-- The roles granted the batch_id the worker wrote (0020) no longer write it.
DO $$
DECLARE
  grantees text := (SELECT pg_catalog.string_agg(DISTINCT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, ', ')
                      FROM pg_catalog.pg_attribute att CROSS JOIN LATERAL pg_catalog.aclexplode(att.attacl) a
                     WHERE att.attrelid = 'llm.queue'::pg_catalog.regclass AND att.attname = 'batch_id' AND a.privilege_type = 'UPDATE');
BEGIN
  IF grantees IS NOT NULL THEN
    EXECUTE 'REVOKE UPDATE (batch_id) ON llm.queue FROM ' || grantees;
  END IF;
END
$$;

-- SECURITY DEFINER, executable by PUBLIC: the worker calls it as the jobs' owner, in the transaction in which it marked
-- them 'batched' through llm.queue. A row version this transaction wrote is one of a job the caller may change (its
-- owner's, an admin's): only llm.queue's UPDATE leaves a job 'batched', and no function of the catalog writes a job of
-- another role for its caller but enqueue_llm_job, whose jobs are 'pending'. A version written in a subtransaction
-- has the subtransaction's id, and is not taken.
CREATE FUNCTION _pg_llm_catalog.batch_llm_jobs(ids bigint[], batch_id text, batch_tag text) RETURNS SETOF bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  UPDATE _pg_llm_catalog.pg_llm_queue q SET batch_id = batch_llm_jobs.batch_id, batch_tag = batch_llm_jobs.batch_tag
   WHERE q.id = ANY (batch_llm_jobs.ids) AND q.status = 'batched'
     AND q.xmin = pg_catalog.xid(pg_catalog.pg_current_xact_id_if_assigned())
  RETURNING q.id
$$;
COMMENT ON FUNCTION _pg_llm_catalog.batch_llm_jobs(bigint[], text, text) IS 'Records the provider''s batch, and its tag, of llm.call jobs this transaction has just marked batched through llm.queue; called by the worker.';

-- As in 0024, with batch_tag: the worker reads it there, of its owner's jobs.
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
