-- A worker claims only the jobs of its login role's tables, but the indexes it found due jobs by held every role's:
-- a claim read every due job of every role and kept its own, so another role's backlog of 300,000 jobs made each of
-- alice's claims take 100-290 ms (review35). The due jobs are now indexed by the role they are queued for first.
DROP INDEX IF EXISTS _pg_llm_catalog.pg_llm_queue_ready;
CREATE INDEX pg_llm_queue_ready ON _pg_llm_catalog.pg_llm_queue (table_owner, run_after, id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS pg_llm_queue_owner_leased ON _pg_llm_catalog.pg_llm_queue (table_owner, lease_until) WHERE status = 'processing';
