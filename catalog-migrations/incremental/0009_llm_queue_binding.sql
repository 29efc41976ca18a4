-- Each llm.call job is bound to the write that queued it: row_xmin is the id of the (sub)transaction that wrote the
-- row version the job was queued for (AFTER ROW triggers run in the writing statement's own subtransaction, so the
-- queue row and the table row get the same xmin). The worker runs a job only while its row's xmin is still that id,
-- so a job queued by anyone else (a direct call of enqueue_llm_job, another table's trigger) costs no model call and
-- writes nothing. Jobs queued before this migration have none: the worker skips them, saying why.

ALTER TABLE _pg_llm_catalog.pg_llm_queue ADD COLUMN row_xmin xid;
COMMENT ON COLUMN _pg_llm_catalog.pg_llm_queue.row_xmin IS 'The transaction that wrote the row version this job was queued for: the job runs only while the row''s xmin is this.';

CREATE OR REPLACE VIEW llm.queue AS
  SELECT id, table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance,
         status, attempts, max_attempts, last_error, run_after, worker, lease_until, created_at, started_at, processed_at,
         row_xmin
    FROM _pg_llm_catalog.pg_llm_queue;
