-- postgres-llm's public API (seed 004): the llm.call trigger function. Re-applied on every install, so it always
-- matches the worker of this version (llm.queue, the view of its jobs, is in incremental/0005_llm_queue.sql).
--
--   CREATE TRIGGER t AFTER INSERT OR UPDATE ON tbl FOR EACH ROW
--     EXECUTE FUNCTION llm.call('prompt with {column} placeholders', 'target_column' [, 'target_column' …]
--                               [, 'model=INSTANCE'] [, 'max_attempts=N']);
--
-- The write records a job and returns at once; the proxy's worker (--worker) runs it. An UPDATE records a job only
-- when a column the prompt reads changed, which is also why writing the answer back never records another one.

CREATE SCHEMA IF NOT EXISTS llm;
GRANT USAGE ON SCHEMA llm TO PUBLIC;

-- SECURITY DEFINER: any role that may write the table may queue its job, without rights on the queue itself. It
-- only ever reads the row it fires for and writes the queue.
CREATE OR REPLACE FUNCTION llm.call() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  template text := TG_ARGV[0];
  new_row jsonb := to_jsonb(NEW);
  relation text := format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME);
  usage text := 'EXECUTE FUNCTION llm.call(''prompt with {column} placeholders'', ''target_column'' [, ''target_column'' …] [, ''model=INSTANCE''] [, ''max_attempts=N''])';
  targets text[] := '{}';
  model text;
  attempts_allowed integer := 3;
  placeholders text[];
  in_order text[];
  parts text[];
  key_columns text[];
  row_key jsonb;
  read_values jsonb;
  resolved text;
  argument text;
  col text;
BEGIN
  IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
    RAISE EXCEPTION USING ERRCODE = '39P01',
      MESSAGE = format('llm.call must fire AFTER INSERT OR UPDATE … FOR EACH ROW; trigger %I on %s fired %s %s FOR EACH %s', TG_NAME, relation, TG_WHEN, TG_OP, TG_LEVEL),
      HINT = 'CREATE TRIGGER … AFTER INSERT OR UPDATE ON … FOR EACH ROW ' || usage;
  END IF;
  IF TG_NARGS < 2 OR coalesce(template, '') = '' THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('trigger %I on %s: llm.call needs a prompt and at least one target column', TG_NAME, relation), HINT = usage;
  END IF;
  FOR i IN 1 .. TG_NARGS - 1 LOOP
    argument := TG_ARGV[i];
    IF argument LIKE 'model=%' THEN
      model := nullif(substr(argument, 7), '');
    ELSIF argument LIKE 'max_attempts=%' THEN
      attempts_allowed := CASE WHEN substr(argument, 14) ~ '^\s*[0-9]{1,6}\s*$' THEN substr(argument, 14)::integer END;
      IF coalesce(attempts_allowed, 0) < 1 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
          MESSAGE = format('trigger %I on %s: %L is not a valid max_attempts: a whole number of at least 1', TG_NAME, relation, argument);
      END IF;
    ELSE
      targets := targets || argument;
    END IF;
  END LOOP;
  IF cardinality(targets) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('trigger %I on %s: llm.call names no target column', TG_NAME, relation), HINT = usage;
  END IF;
  FOREACH col IN ARRAY targets LOOP
    IF NOT new_row ? col THEN
      RAISE EXCEPTION USING ERRCODE = '42703',
        MESSAGE = format('trigger %I on %s: target column %I does not exist', TG_NAME, relation, col);
    END IF;
  END LOOP;

  SELECT array_agg(m.match[1] ORDER BY m.n) INTO in_order FROM regexp_matches(template, '\{(\w+)\}', 'g') WITH ORDINALITY AS m(match, n);
  placeholders := ARRAY(SELECT DISTINCT p FROM unnest(in_order) AS p);
  FOREACH col IN ARRAY placeholders LOOP
    IF NOT new_row ? col THEN
      RAISE EXCEPTION USING ERRCODE = '42703',
        MESSAGE = format('trigger %I on %s: the prompt''s placeholder {%s} names no column of the table', TG_NAME, relation, col),
        HINT = 'Placeholders are column names in braces, spelled as the columns are (case matters).';
    END IF;
  END LOOP;
  IF targets && placeholders THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('trigger %I on %s: column %s is both read by the prompt and written with the answer', TG_NAME, relation,
                       (SELECT string_agg(quote_ident(t), ', ') FROM unnest(targets) AS t WHERE t = ANY (placeholders))),
      HINT = 'Each answer would change the prompt and queue the job again. Read from one column and write to another.';
  END IF;

  SELECT array_agg(a.attname::text ORDER BY k.n) INTO key_columns
    FROM pg_index i
   CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
   WHERE i.indrelid = TG_RELID AND i.indisprimary;
  IF key_columns IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '55000',
      MESSAGE = format('table %s has no primary key: llm.call (trigger %I) writes each answer back by primary key', relation, TG_NAME),
      HINT = format('ALTER TABLE %s ADD PRIMARY KEY (…)', relation);
  END IF;
  IF targets && key_columns THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('trigger %I on %s: a target column is part of the primary key', TG_NAME, relation),
      HINT = 'The answer must not change which row it belongs to. Write it to another column.';
  END IF;

  -- Only a change the prompt can see is worth a model call; the worker's own write-back changes none.
  IF TG_OP = 'UPDATE' AND NOT EXISTS (SELECT 1 FROM unnest(placeholders) AS p WHERE to_jsonb(OLD) -> p IS DISTINCT FROM new_row -> p) THEN
    RETURN NULL;
  END IF;

  -- One pass over the template, so that a value holding "{column}" is not resolved in its turn.
  parts := regexp_split_to_array(template, '\{\w+\}');
  resolved := parts[1];
  FOR i IN 1 .. coalesce(cardinality(in_order), 0) LOOP
    resolved := resolved || coalesce(new_row ->> in_order[i], '') || parts[i + 1];
  END LOOP;
  SELECT coalesce(jsonb_object_agg(p, new_row -> p), '{}'::jsonb) INTO read_values FROM unnest(placeholders) AS p;
  SELECT jsonb_object_agg(c, new_row -> c) INTO row_key FROM unnest(key_columns) AS c;

  -- A job for this row that no worker has taken yet now runs on these values instead: rapid updates, one call.
  UPDATE _pg_llm_catalog.pg_llm_queue q
     SET prompt = resolved, prompt_values = read_values, target_columns = targets, model_instance = model,
         max_attempts = attempts_allowed, attempts = 0, last_error = NULL, run_after = now(), created_at = now()
   WHERE q.status = 'pending' AND q.table_schema = TG_TABLE_SCHEMA AND q.table_name = TG_TABLE_NAME
     AND q.trigger_name = TG_NAME AND q.row_pk = row_key;
  IF NOT FOUND THEN
    INSERT INTO _pg_llm_catalog.pg_llm_queue
           (table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance, max_attempts)
    VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_NAME, row_key, read_values, resolved, targets, model, attempts_allowed);
  END IF;
  -- Identical notifications of one transaction are delivered once: a bulk insert wakes the worker once.
  PERFORM pg_notify('pg_llm_queue', '');
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION llm.call() IS 'Trigger function: queues an LLM job for the row (prompt, target columns [, model=INSTANCE] [, max_attempts=N]); the pg_llm proxy''s worker writes the answer back.';
