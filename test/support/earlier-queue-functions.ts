// Catalog functions as an earlier version left them in the databases it installed, for tests of what an upgrade does
// with them. Verbatim from catalog-migrations/idempotent/005_llm_call.sql as it was before llm.call wrote the queue
// itself (the version before commit 04befa7): llm.call ran as the writing role and queued through enqueue_llm_job and
// rebind_llm_job, SECURITY DEFINER functions every role may execute.

/** llm_call_trigger, enqueue_llm_job and rebind_llm_job of that version. */
export const EARLIER_QUEUE_FUNCTIONS = String.raw`
CREATE OR REPLACE FUNCTION _pg_llm_catalog.llm_call_trigger(relation oid, trigger_name name,
    OUT job_schema name, OUT job_table name, OUT arguments text[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  stored bytea;
  stored_count integer;
  ends integer;
BEGIN
  IF pg_trigger_depth() = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'llm.call jobs are queued only by the llm.call trigger, for the row it fires for',
      HINT = 'Write the row (INSERT, or UPDATE a column the prompt reads) to queue its job.';
  END IF;
  -- tgtype: FOR EACH ROW (1), neither BEFORE (2) nor INSTEAD OF (64), on INSERT (4) or UPDATE (16).
  SELECT n.nspname, c.relname, t.tgargs, t.tgnargs INTO job_schema, job_table, stored, stored_count
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE t.tgrelid = relation AND t.tgname = trigger_name AND t.tgfoid = 'llm.call()'::regprocedure
     AND t.tgenabled <> 'D' AND t.tgtype & 67 = 1 AND t.tgtype & 20 <> 0;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('%s has no enabled llm.call trigger %I that fires AFTER INSERT OR UPDATE … FOR EACH ROW: only such a trigger queues jobs',
                       relation::regclass, trigger_name);
  END IF;
  IF current_setting('track_counts')::boolean
     AND pg_stat_get_xact_tuples_inserted(relation) + pg_stat_get_xact_tuples_updated(relation) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('this session wrote no row of %s: only its llm.call trigger %I, firing for a row written, queues its jobs',
                       relation::regclass, trigger_name);
  END IF;
  -- pg_trigger keeps the arguments as one string each, ended by a zero byte, in the database's encoding.
  arguments := '{}';
  FOR i IN 1 .. stored_count LOOP
    ends := position('\x00'::bytea IN stored);
    arguments := arguments || convert_from(substring(stored FROM 1 FOR ends - 1), getdatabaseencoding());
    stored := substring(stored FROM ends + 1);
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION _pg_llm_catalog.enqueue_llm_job(relation oid, trigger_name name, row_pk jsonb, prompt_values jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  found_trigger record;
  spec record;
  parts text[];
  resolved text;
  job_id bigint;
  bound xid;
BEGIN
  found_trigger := _pg_llm_catalog.llm_call_trigger(relation, trigger_name);
  spec := _pg_llm_catalog.llm_call_arguments(relation, trigger_name, found_trigger.arguments);

  IF jsonb_typeof(row_pk) IS DISTINCT FROM 'object' OR jsonb_typeof(prompt_values) IS DISTINCT FROM 'object'
     OR ARRAY(SELECT k FROM jsonb_object_keys(row_pk) AS k ORDER BY k) <> ARRAY(SELECT k FROM unnest(spec.key_columns) AS k ORDER BY k)
     OR ARRAY(SELECT k FROM jsonb_object_keys(prompt_values) AS k ORDER BY k) <> ARRAY(SELECT k FROM unnest(spec.placeholders) AS k ORDER BY k) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('trigger %I on %s: a job needs the row''s primary key (%s) and the values of the prompt''s placeholders (%s), as JSON objects with exactly those keys',
                       trigger_name, format('%I.%I', found_trigger.job_schema, found_trigger.job_table), array_to_string(spec.key_columns, ', '), array_to_string(spec.placeholders, ', '));
  END IF;

  -- One pass over the template, so that a value holding "{column}" is not resolved in its turn.
  parts := regexp_split_to_array(spec.template, '\{\w+\}');
  resolved := parts[1];
  FOR i IN 1 .. coalesce(cardinality(spec.in_order), 0) LOOP
    resolved := resolved || coalesce(prompt_values ->> spec.in_order[i], '') || parts[i + 1];
  END LOOP;

  -- The job is its table's, by oid, and its table's owner's (incremental/0024_llm_queue_table_oids.sql): no later
  -- table of the same name, nor its owner, sees it. The trigger's lock on the table keeps its owner as it is.
  INSERT INTO _pg_llm_catalog.pg_llm_queue
         (table_schema, table_name, table_oid, table_owner, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance, max_attempts)
  VALUES (found_trigger.job_schema, found_trigger.job_table, relation, (SELECT c.relowner FROM pg_class c WHERE c.oid = relation),
          trigger_name, row_pk, prompt_values, resolved, spec.targets, spec.model, spec.max_attempts)
  RETURNING id INTO job_id;
  -- The job's row version was just written by this (sub)transaction, so its xmin is this transaction's id.
  UPDATE _pg_llm_catalog.pg_llm_queue q SET row_xmin = q.xmin WHERE q.id = job_id RETURNING q.row_xmin INTO bound;
  -- This (sub)transaction's own earlier job for the row (it wrote the row twice): no other transaction has this id.
  DELETE FROM _pg_llm_catalog.pg_llm_queue q
   WHERE q.status = 'pending' AND q.table_oid = relation
     AND q.trigger_name = enqueue_llm_job.trigger_name AND q.row_pk = enqueue_llm_job.row_pk AND q.row_xmin = bound AND q.id <> job_id;
  -- Identical notifications of one transaction are delivered once: a bulk insert wakes the worker once.
  PERFORM pg_notify('pg_llm_queue', '');
END
$$;

CREATE OR REPLACE FUNCTION _pg_llm_catalog.rebind_llm_job(relation oid, trigger_name name, row_pk jsonb, prompt_values jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM _pg_llm_catalog.llm_call_trigger(relation, trigger_name);
  IF current_setting('track_counts')::boolean AND pg_stat_get_xact_tuples_updated(relation) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('this session updated no row of %s: only its llm.call trigger %I, firing for an update, queues a job again',
                       relation::regclass, trigger_name);
  END IF;
  -- A job of the table's present owner: one queued under an owner the table had before is not that owner's to renew.
  IF EXISTS (SELECT 1 FROM _pg_llm_catalog.pg_llm_queue q
              WHERE q.status = 'pending' AND q.table_oid = relation
                AND q.table_owner = (SELECT c.relowner FROM pg_class c WHERE c.oid = relation)
                AND q.trigger_name = rebind_llm_job.trigger_name AND q.row_pk = rebind_llm_job.row_pk
                AND q.prompt_values = rebind_llm_job.prompt_values) THEN
    PERFORM _pg_llm_catalog.enqueue_llm_job(relation, trigger_name, row_pk, prompt_values);
  END IF;
END
$$;
`;
