-- How the stubs and the proxy talk within one session. The proxy runs a statement that calls LLM functions in
-- passes. In a 'collect' pass each stub writes the arguments of a call it has no result for to a session temp
-- table, which the proxy reads before the pass's savepoint is rolled back, and returns NULL; the proxy computes
-- those calls and stores their results in another temp table; in the 'final' pass each stub returns its result.
-- Arguments never travel in a NOTICE: the server logs those (log_min_messages), and arguments carry API keys.
-- Outside the proxy the phase is unset and a stub fails with a hint. Re-applied on every install, so it always
-- matches this version. Each runs with search_path pinned to pg_catalog: the proxy calls them in the caller's session,
-- and functions, operators or types of the caller's own put first in its search_path must not stand in for
-- PostgreSQL's (and see the execution number, the call's key or the error the proxy reports).

-- The session's tables are the catalog owner's, made by make_session_tables (SECURITY DEFINER) in the session's own
-- temporary schema, every role allowed to read and write their rows: code of another role that a statement runs
-- (a view's, a policy's) has the session's rights, and in tables of the session's own it could add a trigger, a rule,
-- a policy, a default or an index that runs its code, or make the table a view whose rows it chooses; then the calls
-- a collect pass reads would be its own, with the session's keys (review L1). Rows it writes into them are cleared
-- by the proxy before a statement's first pass (passes.ts). A table of that name not the owner's (made by this
-- session before the catalog made them so, or by such code) is dropped first, as the session may.
CREATE OR REPLACE FUNCTION _pg_llm_catalog.prepare_session() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  made record;
BEGIN
  FOR made IN
    SELECT c.relname, c.relkind FROM pg_class c
     WHERE c.relnamespace = pg_my_temp_schema()
       AND c.relname IN ('pg_llm_call_results', 'pg_llm_collected_calls', 'pg_llm_aggregate_inputs', 'pg_llm_aggregate_groups')
       AND c.relowner <> (SELECT nspowner FROM pg_namespace WHERE nspname = '_pg_llm_catalog')
  LOOP
    EXECUTE format('DROP %s pg_temp.%I CASCADE', CASE made.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, made.relname);
  END LOOP;
  PERFORM _pg_llm_catalog.make_session_tables();
END
$$;

CREATE OR REPLACE FUNCTION _pg_llm_catalog.make_session_tables() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF to_regclass('pg_temp.pg_llm_call_results') IS NULL THEN
    CREATE TEMP TABLE pg_llm_call_results (
      execution  bigint NOT NULL,
      call_key   text NOT NULL,
      value      jsonb,
      PRIMARY KEY (execution, call_key)
    ) ON COMMIT DELETE ROWS;
    GRANT SELECT, INSERT, DELETE ON pg_temp.pg_llm_call_results TO PUBLIC;
  END IF;
  -- occurrences: how many times the statement's rows made the call, for pg_llm_estimate.
  IF to_regclass('pg_temp.pg_llm_collected_calls') IS NULL THEN
    CREATE TEMP TABLE pg_llm_collected_calls (
      execution      bigint NOT NULL,
      call_key       text NOT NULL,
      function_name  text NOT NULL,
      arguments      jsonb NOT NULL,
      occurrences    bigint NOT NULL DEFAULT 1,
      PRIMARY KEY (execution, call_key)
    ) ON COMMIT DELETE ROWS;
    GRANT SELECT, INSERT, UPDATE, DELETE ON pg_temp.pg_llm_collected_calls TO PUBLIC;
  END IF;
  -- The values an aggregate's group collects (src/catalog/stubs.ts), row by row, until its final function hands
  -- them to the proxy and deletes them.
  IF to_regclass('pg_temp.pg_llm_aggregate_groups') IS NULL THEN
    CREATE TEMP SEQUENCE pg_llm_aggregate_groups;
    GRANT USAGE, SELECT, UPDATE ON SEQUENCE pg_temp.pg_llm_aggregate_groups TO PUBLIC;
  END IF;
  IF to_regclass('pg_temp.pg_llm_aggregate_inputs') IS NULL THEN
    CREATE TEMP TABLE pg_llm_aggregate_inputs (
      group_id  bigint NOT NULL,
      position  bigint GENERATED ALWAYS AS IDENTITY,
      value     jsonb,
      PRIMARY KEY (group_id, position)
    ) ON COMMIT DELETE ROWS;
    GRANT SELECT, INSERT, DELETE ON pg_temp.pg_llm_aggregate_inputs TO PUBLIC;
  END IF;
END
$$;

-- Outside the proxy (from a view, a function, a direct connection) the phase is unset: the call fails with a hint.
CREATE OR REPLACE FUNCTION _pg_llm_catalog.require_proxy(function_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  phase text := current_setting('pg_llm.phase', true);
  -- An overload's name carries its argument types already (ai.openai_embed(text, text[])).
  called text := function_name || CASE WHEN strpos(function_name, '(') > 0 THEN '' ELSE '()' END;
BEGIN
  IF phase IS NULL OR phase NOT IN ('collect', 'final') THEN
    RAISE EXCEPTION USING ERRCODE = '0A000',
      MESSAGE = called || ' runs in pg_llm proxy and cannot run inside the database',
      HINT = 'Connect to the pg_llm proxy port instead of the database port. The proxy takes over statements that call an LLM function in their own text: a call only in a view, function or trigger, or on a direct or replication connection (which the proxy relays untouched), cannot reach it.';
  END IF;
END
$$;

-- In a collect pass a call with no result yet returns NULL, or, once a pass has failed on such a NULL (a NOT NULL
-- column, a CHECK), the stub's `placeholder`: a harmless value of its type, so the pass gets through every row.
CREATE OR REPLACE FUNCTION _pg_llm_catalog.call_result(function_name text, arguments jsonb, placeholder jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  phase text := current_setting('pg_llm.phase', true);
  key text := md5(function_name || ':' || arguments::text);
  -- An overload's name carries its argument types already (ai.openai_embed(text, text[])).
  called text := function_name || CASE WHEN strpos(function_name, '(') > 0 THEN '' ELSE '()' END;
  found_value jsonb;
BEGIN
  PERFORM _pg_llm_catalog.require_proxy(function_name);
  SELECT r.value INTO found_value FROM pg_temp.pg_llm_call_results r
   WHERE r.execution = current_setting('pg_llm.execution')::bigint AND r.call_key = key;
  IF FOUND THEN
    RETURN found_value;
  END IF;
  IF phase = 'collect' THEN
    -- A pass that fails takes these rows with it; the NOTICE (once a pass, and without values) tells the proxy
    -- that it had found calls all the same.
    IF NOT EXISTS (SELECT FROM pg_temp.pg_llm_collected_calls c WHERE c.execution = current_setting('pg_llm.execution')::bigint) THEN
      RAISE NOTICE USING ERRCODE = 'LM001', MESSAGE = 'pg_llm proxy: calls collected';
    END IF;
    INSERT INTO pg_temp.pg_llm_collected_calls AS c (execution, call_key, function_name, arguments)
    VALUES (current_setting('pg_llm.execution')::bigint, key, function_name, arguments)
    ON CONFLICT (execution, call_key) DO UPDATE SET occurrences = c.occurrences + 1;
    RETURN CASE WHEN current_setting('pg_llm.placeholders', true) = 'typed' THEN placeholder END;
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'LM002',
    MESSAGE = called || ' was called with arguments the proxy did not see while collecting the statement''s calls',
    HINT = 'The statement does not give the same rows each time it runs (random(), volatile functions, LIMIT without ORDER BY a unique key). Make it deterministic, or materialize its input first.';
END
$$;

-- Puts the caller's transaction in the failed state with the error the proxy reports, so the client and the
-- server agree on it.
CREATE OR REPLACE FUNCTION _pg_llm_catalog.raise_error(sqlstate text, message text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = sqlstate, MESSAGE = message;
END
$$;
