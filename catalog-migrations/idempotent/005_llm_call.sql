-- postgres-llm's public API (seed 004): the llm.call trigger function. Re-applied on every install, so it always
-- matches the worker of this version (llm.queue, the view of its jobs, is in incremental/0005_llm_queue.sql).
--
--   CREATE TRIGGER t AFTER INSERT OR UPDATE ON tbl FOR EACH ROW
--     EXECUTE FUNCTION llm.call('prompt with {column} placeholders', 'target_column' [, 'target_column' …]
--                               [, 'model=INSTANCE'] [, 'max_attempts=N']);
--
-- The write records a job and returns at once; the proxy's worker (--worker) runs it. An UPDATE records a job only
-- when a column the prompt reads changed, which is also why writing the answer back never records another one.
--
-- Two halves, so that nothing of the user's runs with the installer's rights: llm.call runs as the writing role and
-- does everything that touches the row (to_jsonb runs the casts of the row's types, which may be anyone's code);
-- _pg_llm_catalog.enqueue_llm_job runs as the catalog's owner, sees only built-in types, and writes the queue. Each
-- job is bound to the (sub)transaction that wrote its row (row_xmin, see incremental/0009_llm_queue_binding.sql): the
-- worker spends a model call only on a row whose version that transaction wrote. Neither function changes a job
-- another transaction queued, so no caller can get a job of a row it did not write skipped.

CREATE SCHEMA IF NOT EXISTS llm;
GRANT USAGE ON SCHEMA llm TO PUBLIC;

CREATE OR REPLACE FUNCTION _pg_llm_catalog.llm_call_usage() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT 'EXECUTE FUNCTION llm.call(''prompt with {column} placeholders'', ''target_column'' [, ''target_column'' …] [, ''model=INSTANCE''] [, ''max_attempts=N''])'
$$;

-- The rules of an llm.call trigger's arguments against its table, in one place: llm.call checks them at each fire,
-- and enqueue_llm_job reads them again from pg_trigger rather than believe its caller. Reads only the catalogs.
CREATE OR REPLACE FUNCTION _pg_llm_catalog.llm_call_arguments(
    relation oid, trigger_name name, arguments text[],
    OUT template text, OUT targets text[], OUT model text, OUT max_attempts integer,
    OUT in_order text[], OUT placeholders text[], OUT key_columns text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  relation_name text;
  columns text[];
  argument text;
  col text;
BEGIN
  SELECT format('%I.%I', n.nspname, c.relname) INTO relation_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = relation;
  SELECT array_agg(a.attname::text) INTO columns FROM pg_attribute a WHERE a.attrelid = relation AND a.attnum > 0 AND NOT a.attisdropped;
  -- TG_ARGV counts from 0, and is NULL without arguments.
  arguments := ARRAY(SELECT unnest(arguments));
  template := arguments[1];
  targets := '{}';
  max_attempts := 3;

  IF cardinality(arguments) < 2 OR coalesce(template, '') = '' THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('trigger %I on %s: llm.call needs a prompt and at least one target column', trigger_name, relation_name),
      HINT = _pg_llm_catalog.llm_call_usage();
  END IF;
  FOREACH argument IN ARRAY arguments[2:] LOOP
    IF argument LIKE 'model=%' THEN
      model := nullif(substr(argument, 7), '');
    ELSIF argument LIKE 'max_attempts=%' THEN
      max_attempts := CASE WHEN substr(argument, 14) ~ '^\s*[0-9]{1,6}\s*$' THEN substr(argument, 14)::integer END;
      IF coalesce(max_attempts, 0) < 1 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
          MESSAGE = format('trigger %I on %s: %L is not a valid max_attempts: a whole number of at least 1', trigger_name, relation_name, argument);
      END IF;
    ELSE
      targets := targets || argument;
    END IF;
  END LOOP;
  IF cardinality(targets) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('trigger %I on %s: llm.call names no target column', trigger_name, relation_name), HINT = _pg_llm_catalog.llm_call_usage();
  END IF;
  FOREACH col IN ARRAY targets LOOP
    IF col <> ALL (columns) THEN
      RAISE EXCEPTION USING ERRCODE = '42703',
        MESSAGE = format('trigger %I on %s: target column %I does not exist', trigger_name, relation_name, col);
    END IF;
  END LOOP;

  SELECT array_agg(m.match[1] ORDER BY m.n) INTO in_order FROM regexp_matches(template, '\{(\w+)\}', 'g') WITH ORDINALITY AS m(match, n);
  placeholders := ARRAY(SELECT DISTINCT p FROM unnest(in_order) AS p);
  FOREACH col IN ARRAY placeholders LOOP
    IF col <> ALL (columns) THEN
      RAISE EXCEPTION USING ERRCODE = '42703',
        MESSAGE = format('trigger %I on %s: the prompt''s placeholder {%s} names no column of the table', trigger_name, relation_name, col),
        HINT = 'Placeholders are column names in braces, spelled as the columns are (case matters).';
    END IF;
  END LOOP;
  IF targets && placeholders THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('trigger %I on %s: column %s is both read by the prompt and written with the answer', trigger_name, relation_name,
                       (SELECT string_agg(quote_ident(t), ', ') FROM unnest(targets) AS t WHERE t = ANY (placeholders))),
      HINT = 'Each answer would change the prompt and queue the job again. Read from one column and write to another.';
  END IF;

  SELECT array_agg(a.attname::text ORDER BY k.n) INTO key_columns
    FROM pg_index i
   CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
   WHERE i.indrelid = relation AND i.indisprimary;
  IF key_columns IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '55000',
      MESSAGE = format('table %s has no primary key: llm.call (trigger %I) writes each answer back by primary key', relation_name, trigger_name),
      HINT = format('ALTER TABLE %s ADD PRIMARY KEY (…)', relation_name);
  END IF;
  IF targets && key_columns THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('trigger %I on %s: a target column is part of the primary key', trigger_name, relation_name),
      HINT = 'The answer must not change which row it belongs to. Write it to another column.';
  END IF;
END
$$;

-- The llm.call trigger a job belongs to, as pg_trigger has it, for the two SECURITY DEFINER functions below. They are
-- executable by PUBLIC (llm.call runs as the writing role), so this refuses, early and cheaply, what cannot be that
-- trigger firing: a call outside any trigger, a trigger that is not an enabled AFTER INSERT OR UPDATE … FOR EACH ROW
-- llm.call trigger, and a session that wrote no row of the table (PostgreSQL's counters of this transaction's writes;
-- another table's trigger gets past pg_trigger_depth, not past these). What binds a job to a real write is row_xmin,
-- which the worker checks; these refusals spare the queue the jobs of a table the caller cannot write.
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

-- SECURITY DEFINER: any role that may write the table may queue its job, without rights on the queue itself. It takes
-- nothing from its caller but which trigger and the row's values: the trigger must be an llm.call trigger that can
-- fire for a write (see llm_call_trigger), its arguments come from pg_trigger, the values must be exactly the key and
-- the placeholders, and it builds the prompt itself. The job is bound to the (sub)transaction running it (row_xmin):
-- called by the trigger, that is the one that wrote the row; called any other way, the worker finds that the row's
-- version is not this transaction's, and skips the job without a model call.
--
-- It never changes a job of another transaction: a caller that gets past llm_call_trigger (any role that may insert
-- one row of the table) could otherwise bind the pending job of a row it never wrote to its own transaction, and the
-- worker would skip it. So each write adds a job bound to itself, replacing only the one this same (sub)transaction
-- queued for the row before (at most one pending job per row, trigger and write); of a row written several times
-- before a worker came, the worker runs the job of the version the row has, and skips the others unasked.
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
COMMENT ON FUNCTION _pg_llm_catalog.enqueue_llm_job(oid, name, jsonb, jsonb) IS 'Queues the job of an llm.call trigger for a row''s key and prompt values; called by llm.call, which reads the row as the writing role.';

-- A write that leaves the prompt's columns as they were queues nothing, but it is a new version of the row, with a new
-- xmin: the job of the row still waiting would be skipped (an ORM saving every column in a savepoint of its own does
-- this between the insert and the worker). So such a write queues the same job again, bound to itself, while a job of
-- the row on these very values is waiting. The worker's own write-back finds none (the job it answers is no longer
-- waiting), so an answer queues nothing. Like enqueue_llm_job it changes no existing job; called any other way it can
-- only add a job bound to a transaction that did not write the row, which the worker skips. Whether it queued one
-- says whether a job on the values given is waiting, which a role may not otherwise read: so only a session that
-- updated a row of the table gets that far, as the trigger's own call always has (it fires for an UPDATE).
DROP FUNCTION IF EXISTS _pg_llm_catalog.rebind_llm_job(oid, name, jsonb);
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
COMMENT ON FUNCTION _pg_llm_catalog.rebind_llm_job(oid, name, jsonb, jsonb) IS 'Queues a waiting llm.call job again, bound to a write that did not change the prompt; called by llm.call.';

-- SECURITY INVOKER (the default): to_jsonb(NEW) runs the casts of the row's column types, which are their owners'
-- code, so it must run with the writing role's rights, never the installer's.
CREATE OR REPLACE FUNCTION llm.call() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  spec record;
  new_row jsonb;
  row_pk jsonb;
  prompt_values jsonb;
BEGIN
  IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
    RAISE EXCEPTION USING ERRCODE = '39P01',
      MESSAGE = format('llm.call must fire AFTER INSERT OR UPDATE … FOR EACH ROW; trigger %I on %I.%I fired %s %s FOR EACH %s',
                       TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_WHEN, TG_OP, TG_LEVEL),
      HINT = 'CREATE TRIGGER … AFTER INSERT OR UPDATE ON … FOR EACH ROW ' || _pg_llm_catalog.llm_call_usage();
  END IF;
  spec := _pg_llm_catalog.llm_call_arguments(TG_RELID, TG_NAME, TG_ARGV);
  new_row := to_jsonb(NEW);
  row_pk := (SELECT jsonb_object_agg(c, new_row -> c) FROM unnest(spec.key_columns) AS c);

  -- Only a change the prompt can see is worth a model call; the worker's own write-back changes none.
  prompt_values := (SELECT coalesce(jsonb_object_agg(p, new_row -> p), '{}'::jsonb) FROM unnest(spec.placeholders) AS p);
  IF TG_OP = 'UPDATE' AND NOT EXISTS (SELECT 1 FROM unnest(spec.placeholders) AS p WHERE to_jsonb(OLD) -> p IS DISTINCT FROM new_row -> p) THEN
    PERFORM _pg_llm_catalog.rebind_llm_job(TG_RELID, TG_NAME, row_pk, prompt_values);
  ELSE
    PERFORM _pg_llm_catalog.enqueue_llm_job(TG_RELID, TG_NAME, row_pk, prompt_values);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION llm.call() IS 'Trigger function: queues an LLM job for the row (prompt, target columns [, model=INSTANCE] [, max_attempts=N]); the pg_llm proxy''s worker writes the answer back.';
