-- An llm.call job was matched to its table by schema and table name, and a job outlives its table's name: once alice
-- renamed or dropped her table, whoever created a table of that name (any role that may create in the schema) read
-- the job's prompt, its row's values, in llm.queue, could delete or reset it, and her worker could run it. A job is
-- now bound to its table's oid and to the role that owned the table when the job was queued (the writer chooses
-- neither: enqueue_llm_job reads them from pg_class). A renamed table's jobs follow it; the owner is compared too, as
-- an oid can be taken again by another table once its table is dropped.
--
-- The view shows a job to the roles with the privileges of that owner (and, as before, to the queue's owner, admins
-- and superusers), whatever became of the table since: they are the prompts of rows of a table that role owned. The
-- owner's worker runs a job only while the table of that oid is still owned by that role, its login role (src/worker/
-- job-row.ts); a job whose table has been dropped or given to another owner is skipped unasked, saying why, and
-- deleted with the other skipped jobs. table_schema and table_name show where the table is now, or where it was when
-- the job was queued once it is no longer the job's.

ALTER TABLE _pg_llm_catalog.pg_llm_queue ADD COLUMN table_oid oid, ADD COLUMN table_owner oid;
COMMENT ON COLUMN _pg_llm_catalog.pg_llm_queue.table_oid IS 'The table the job was queued for (pg_class.oid); table_schema and table_name are its names then.';
COMMENT ON COLUMN _pg_llm_catalog.pg_llm_queue.table_owner IS 'The role that owned the table when the job was queued (pg_roles.oid): the job is that role''s.';

-- The jobs queued before: bound to the table that has their name now, if it has their llm.call trigger (a table made
-- under the name since, without one, is not taken for the job's). The others are unreachable: no role's view shows
-- them, no worker runs them. Finished ones go (they were to be deleted after --worker-keep-done); the others end in
-- 'error', saying why, for the queue's owner or an admin to read and delete.
UPDATE _pg_llm_catalog.pg_llm_queue q SET table_oid = c.oid, table_owner = c.relowner
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = q.table_schema AND c.relname = q.table_name
   AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                WHERE t.tgrelid = c.oid AND t.tgname = q.trigger_name AND t.tgfoid = pg_catalog.to_regprocedure('llm.call()'));
DELETE FROM _pg_llm_catalog.pg_llm_queue WHERE table_oid IS NULL AND status IN ('done', 'skipped');
UPDATE _pg_llm_catalog.pg_llm_queue
   SET status = 'error', lease_until = NULL, processed_at = pg_catalog.now(),
       last_error = pg_catalog.concat_ws('; ', last_error, pg_catalog.format(
         'when jobs were bound to their tables, no table %I.%I had its llm.call trigger %I: the job''s table was renamed or dropped, so no worker runs it',
         table_schema, table_name, trigger_name))
 WHERE table_oid IS NULL;

-- enqueue_llm_job and rebind_llm_job find a row's waiting jobs by its table's oid.
DROP INDEX _pg_llm_catalog.pg_llm_queue_row;
CREATE INDEX pg_llm_queue_row ON _pg_llm_catalog.pg_llm_queue (table_oid, trigger_name, row_pk) WHERE status = 'pending';

-- pg_has_role on the job's owner, a column of the row: a function call per row, as the name lookup it replaces was a
-- subquery per row. A role that no longer exists is a member of none (table_owner NULL: of no job at all).
CREATE OR REPLACE VIEW llm.queue WITH (security_barrier) AS
  SELECT id,
         -- The names as text of the database's collation, as the columns were (a name is of collation C).
         coalesce((SELECT n.nspname::text COLLATE pg_catalog."default" FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.oid = q.table_oid AND c.relowner = q.table_owner), q.table_schema) AS table_schema,
         coalesce((SELECT c.relname::text COLLATE pg_catalog."default" FROM pg_catalog.pg_class c WHERE c.oid = q.table_oid AND c.relowner = q.table_owner), q.table_name) AS table_name,
         trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance,
         status, attempts, max_attempts, last_error, run_after, worker, lease_until, created_at, started_at, processed_at,
         row_xmin, deleted, batch_id, table_oid, table_owner
    FROM _pg_llm_catalog.pg_llm_queue q
   WHERE (SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_catalog.pg_class c WHERE c.oid = '_pg_llm_catalog.pg_llm_queue'::pg_catalog.regclass)
      OR (SELECT _pg_llm_catalog.is_admin())
      OR pg_catalog.pg_has_role(current_user, q.table_owner, 'USAGE')
  WITH CASCADED CHECK OPTION;
COMMENT ON VIEW llm.queue IS 'Jobs of the llm.call triggers of the tables you owned when their rows were written: pending, processing, batched (waiting for a provider''s batch, see batch_id), done, skipped (row deleted or changed before its answer was written, or table dropped or given away) or error (see last_error).';
