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
-- llm.call is the only way into the queue: it runs as the catalog's owner, and PostgreSQL runs it only as the trigger
-- it is, for a row written (see llm.call below). Each job is bound to the (sub)transaction that wrote its row (row_xmin,
-- see incremental/0009_llm_queue_binding.sql): the worker spends a model call only on the job of the version the row
-- has now.

CREATE SCHEMA IF NOT EXISTS llm;
GRANT USAGE ON SCHEMA llm TO PUBLIC;

CREATE OR REPLACE FUNCTION _pg_llm_catalog.llm_call_usage() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT 'EXECUTE FUNCTION llm.call(''prompt with {column} placeholders'', ''target_column'' [, ''target_column'' …] [, ''model=INSTANCE''] [, ''max_attempts=N''])'
$$;

-- The rules of an llm.call trigger's arguments against its table, checked at each fire, and values_query, the query
-- that reads the values its jobs need from the row $1 (each through job_value). Reads only the catalogs.
DROP FUNCTION IF EXISTS _pg_llm_catalog.llm_call_arguments(oid, name, text[]);
CREATE FUNCTION _pg_llm_catalog.llm_call_arguments(
    relation oid, trigger_name name, arguments text[],
    OUT template text, OUT targets text[], OUT model text, OUT max_attempts integer,
    OUT in_order text[], OUT placeholders text[], OUT key_columns text[], OUT values_query text)
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
  values_query := 'SELECT pg_catalog.jsonb_object_agg(v.name, v.value) FROM (VALUES '
    || (SELECT string_agg(format('(%L, _pg_llm_catalog.job_value(($1).%I))', c, c), ', ') FROM unnest(key_columns || placeholders) AS c)
    || ') AS v(name, value)';
END
$$;

-- Whether to_jsonb of a value of the type runs built-in code only, decided by what no transaction can change under
-- another's snapshot. For a type that is not built in (an oid from 16384, FirstNormalObjectId, on), to_jsonb uses the
-- type's cast to json if it has one (jsonb.c, jsonb_categorize_type), its owner's code; it looks through domains and
-- into arrays' elements first, and a domain's base type and an array's element type never change. A composite that is
-- not built in is never trusted: ALTER TYPE … ADD ATTRIBUTE gives it a field of any type without locking the tables
-- that use it, so a snapshot older than that would not see the field. A type the snapshot does not see is not trusted.
CREATE OR REPLACE FUNCTION _pg_llm_catalog.to_jsonb_is_builtin(of_type oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE reached(type) AS (
    SELECT of_type
    UNION
    SELECT inside.type
      FROM reached r JOIN pg_type t ON t.oid = r.type
     CROSS JOIN LATERAL (SELECT t.typbasetype WHERE t.typtype = 'd'
                         UNION ALL SELECT t.typelem WHERE t.typtype <> 'd' AND t.typelem <> 0 AND t.typlen = -1) AS inside(type)
     WHERE r.type >= 16384
  )
  SELECT bool_and(coalesce(r.type < 16384 OR t.typtype = 'd' OR (t.typelem <> 0 AND t.typlen = -1), false))
    FROM reached r LEFT JOIN pg_type t ON t.oid = r.type
$$;

-- A value of the row as llm.call puts it in a job, with built-in code only (llm.call runs as the catalog's owner): as
-- to_jsonb gives it where that runs built-in code only, judged by the value's own type (pg_typeof, which is what
-- to_jsonb looks at, however old the snapshot that read the table's definition); otherwise as its type's text output
-- (an output function is C, which only a superuser can add), which jsonb_populate_record, in the worker's check,
-- takes back. PL/pgSQL, whose plans a session keeps (a SQL function's are made again for each query calling it, and
-- llm.call's is new at each row), and no SET clause, which would cost each call: every name is qualified instead.
CREATE OR REPLACE FUNCTION _pg_llm_catalog.job_value(value anyelement) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF pg_catalog.num_nulls(value) OPERATOR(pg_catalog.=) 1 THEN
    RETURN NULL;
  ELSIF pg_catalog.pg_typeof(value)::pg_catalog.oid OPERATOR(pg_catalog.<) 16384
        OR _pg_llm_catalog.to_jsonb_is_builtin(pg_catalog.pg_typeof(value)) THEN
    RETURN pg_catalog.to_jsonb(value);
  ELSE
    RETURN pg_catalog.to_jsonb(pg_catalog.format('%s', value));
  END IF;
END
$$;

-- SECURITY DEFINER, so that a role needs no rights on the queue to have its table's jobs queued, and no other way into
-- the queue is open to it: PostgreSQL runs a trigger function only as a trigger, with TG_RELID the table whose trigger
-- fired, for a row written, once the trigger's WHEN and UPDATE OF passed. So every job is one its table's own
-- llm.call trigger queued for a write it fired for. Running as the catalog's owner, it runs none of the user's code:
-- it reads the catalogs, and the row's values with built-in code only (job_value), and its search_path is pinned.
CREATE OR REPLACE FUNCTION llm.call() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  spec record;
  owner oid;
  -- TG_NAME as text of the default collation, as the queue's trigger_name: the index on (table_oid, trigger_name,
  -- row_pk) then finds a row's jobs alone, where TG_NAME (a name, of collation "C") would have every waiting job of
  -- the table read, for each row of a bulk insert.
  job_trigger text := TG_NAME;
  new_row jsonb;
  old_row jsonb;
  job_pk jsonb;
  job_values jsonb;
  parts text[];
  resolved text;
  job_id bigint;
  bound xid;
BEGIN
  IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
    RAISE EXCEPTION USING ERRCODE = '39P01',
      MESSAGE = format('llm.call must fire AFTER INSERT OR UPDATE … FOR EACH ROW; trigger %I on %I.%I fired %s %s FOR EACH %s',
                       TG_NAME, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_WHEN, TG_OP, TG_LEVEL),
      HINT = 'CREATE TRIGGER … AFTER INSERT OR UPDATE ON … FOR EACH ROW ' || _pg_llm_catalog.llm_call_usage();
  END IF;
  spec := _pg_llm_catalog.llm_call_arguments(TG_RELID, TG_NAME, TG_ARGV);
  EXECUTE spec.values_query INTO new_row USING NEW;
  IF TG_OP = 'UPDATE' THEN EXECUTE spec.values_query INTO old_row USING OLD; END IF;
  job_pk := (SELECT jsonb_object_agg(c, new_row -> c) FROM unnest(spec.key_columns) AS c);
  job_values := (SELECT coalesce(jsonb_object_agg(p, new_row -> p), '{}'::jsonb) FROM unnest(spec.placeholders) AS p);
  -- The job is its table's, by oid, and its table's owner's (incremental/0024_llm_queue_table_oids.sql): no later
  -- table of the same name, nor its owner, sees it. The trigger's lock on the table keeps its owner as it is.
  SELECT c.relowner INTO owner FROM pg_class c WHERE c.oid = TG_RELID;

  -- Only a change the prompt can see is worth a model call; the worker's own write-back changes none. But such a
  -- write is a new version of the row, with a new xmin: the job of the row still waiting would be skipped (an ORM
  -- saving every column in a savepoint of its own does this between the insert and the worker). So it queues that
  -- job again, bound to itself, while a job of the row on these very values waits. The worker's own write-back finds
  -- none (the job it answers is no longer waiting), so an answer queues nothing.
  IF TG_OP = 'UPDATE' AND NOT EXISTS (SELECT 1 FROM unnest(spec.placeholders) AS p WHERE old_row -> p IS DISTINCT FROM new_row -> p)
     AND NOT EXISTS (SELECT 1 FROM _pg_llm_catalog.pg_llm_queue q
                      WHERE q.status = 'pending' AND q.table_oid = TG_RELID AND q.table_owner = owner
                        AND q.trigger_name = job_trigger AND q.row_pk = job_pk AND q.prompt_values = job_values) THEN
    RETURN NULL;
  END IF;

  -- One pass over the template, so that a value holding "{column}" is not resolved in its turn.
  parts := regexp_split_to_array(spec.template, '\{\w+\}');
  resolved := parts[1];
  FOR i IN 1 .. coalesce(cardinality(spec.in_order), 0) LOOP
    resolved := resolved || coalesce(job_values ->> spec.in_order[i], '') || parts[i + 1];
  END LOOP;

  INSERT INTO _pg_llm_catalog.pg_llm_queue
         (table_schema, table_name, table_oid, table_owner, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance, max_attempts)
  VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_RELID, owner, job_trigger, job_pk, job_values, resolved, spec.targets, spec.model, spec.max_attempts)
  RETURNING id INTO job_id;
  -- The job is bound to the (sub)transaction that wrote the row: this one, which just wrote the job's row too, so
  -- the job row's xmin is its id (incremental/0009_llm_queue_binding.sql). Each write of a row queues a job of its
  -- own; of a row written several times before a worker came, the worker runs the job of the version the row has,
  -- and skips the others unasked. This (sub)transaction's own earlier job for the row (it wrote the row twice) goes.
  UPDATE _pg_llm_catalog.pg_llm_queue q SET row_xmin = q.xmin WHERE q.id = job_id RETURNING q.row_xmin INTO bound;
  DELETE FROM _pg_llm_catalog.pg_llm_queue q
   WHERE q.status = 'pending' AND q.table_oid = TG_RELID AND q.trigger_name = job_trigger AND q.row_pk = job_pk
     AND q.row_xmin = bound AND q.id <> job_id;
  -- Identical notifications of one transaction are delivered once: a bulk insert wakes the worker once.
  PERFORM pg_notify('pg_llm_queue', '');
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION llm.call() IS 'Trigger function: queues an LLM job for the row (prompt, target columns [, model=INSTANCE] [, max_attempts=N]); the pg_llm proxy''s worker writes the answer back.';
