-- Async enrichment by trigger (postgres-llm, seed 004): the llm.call trigger function records a job per written
-- row, and the proxy's worker runs it and writes the answer back into the row. The jobs live here, in the catalog;
-- llm.queue is the view that postgres-llm's users query, and the worker uses. llm.call is in idempotent/.

DO $$
BEGIN
  IF to_regclass('llm.queue') IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42P07',
      MESSAGE = 'llm.queue already exists: postgres-llm''s own queue seems to be installed in this database',
      HINT = 'Let its pg_cron job drain the queue, unschedule it (SELECT cron.unschedule(''llm-worker'')), DROP SCHEMA llm CASCADE, then install pg_llm: its llm.call takes the same arguments.';
  END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS llm;
GRANT USAGE ON SCHEMA llm TO PUBLIC;

CREATE TABLE _pg_llm_catalog.pg_llm_queue (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_schema    text NOT NULL,
    table_name      text NOT NULL,
    -- Two llm.call triggers on one table make two jobs per row, each collapsed on its own.
    trigger_name    text NOT NULL,
    -- The row's primary key, column by column, as to_jsonb gives it: {"id": 42} or {"tenant": "a", "n": 7}.
    row_pk          jsonb NOT NULL,
    -- The values of the columns the prompt reads: the write-back happens only while the row still has them.
    prompt_values   jsonb NOT NULL,
    -- The prompt with its {column} placeholders resolved from the row.
    prompt          text NOT NULL,
    target_columns  text[] NOT NULL,
    -- NULL: the proxy's default model.
    model_instance  text,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'done', 'error', 'skipped')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    last_error      text,
    -- Not before: a failed attempt waits here for its retry.
    run_after       timestamptz NOT NULL DEFAULT now(),
    -- The worker that holds (or last held) the job, and until when its lease runs: a worker that stops without
    -- finishing leaves the job to another once the lease has run out.
    worker          text,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    processed_at    timestamptz
);

CREATE INDEX pg_llm_queue_ready ON _pg_llm_catalog.pg_llm_queue (run_after, id) WHERE status = 'pending';
CREATE INDEX pg_llm_queue_leased ON _pg_llm_catalog.pg_llm_queue (lease_until) WHERE status = 'processing';
CREATE INDEX pg_llm_queue_row ON _pg_llm_catalog.pg_llm_queue (table_schema, table_name, trigger_name, row_pk) WHERE status = 'pending';
CREATE INDEX pg_llm_queue_finished ON _pg_llm_catalog.pg_llm_queue (processed_at) WHERE status IN ('done', 'skipped');

-- Only the catalog's owner sees the queue until it grants more (the prompts hold the rows' values); a worker's
-- role needs SELECT and UPDATE on it, and DELETE to clear finished jobs.
CREATE VIEW llm.queue AS
  SELECT id, table_schema, table_name, trigger_name, row_pk, prompt_values, prompt, target_columns, model_instance,
         status, attempts, max_attempts, last_error, run_after, worker, lease_until, created_at, started_at, processed_at
    FROM _pg_llm_catalog.pg_llm_queue;
COMMENT ON VIEW llm.queue IS 'Jobs of the llm.call triggers: pending, processing, done, skipped (row deleted or changed before its answer was written) or error (see last_error).';
