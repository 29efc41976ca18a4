-- The functions earlier versions queued llm.call jobs through, which an upgrade left in place. Until llm.call wrote the
-- queue itself (04befa7), it ran as the writing role and handed each row to enqueue_llm_job and rebind_llm_job:
-- SECURITY DEFINER, executable by PUBLIC. The idempotent level that replaced llm.call dropped them, but later left
-- those DROPs out, so a catalog installed by such a version and upgraded past that kept them: a role that may insert
-- one row of a table could queue that row's job from a trigger of its own, whatever the table's trigger's WHEN or
-- UPDATE OF said, and the owner's worker ran it on the owner's model and wrote the answer into the row (review33).
-- Every signature they and their helpers had goes, once; nothing the catalog defines now calls any of them.

DROP FUNCTION IF EXISTS _pg_llm_catalog.enqueue_llm_job(oid, name, jsonb, jsonb);
DROP FUNCTION IF EXISTS _pg_llm_catalog.rebind_llm_job(oid, name, jsonb, jsonb);
DROP FUNCTION IF EXISTS _pg_llm_catalog.rebind_llm_job(oid, name, jsonb);
DROP FUNCTION IF EXISTS _pg_llm_catalog.queue_llm_job(oid, name, name, name, text[], jsonb, jsonb);
DROP FUNCTION IF EXISTS _pg_llm_catalog.llm_call_trigger(oid, name);
DROP FUNCTION IF EXISTS _pg_llm_catalog.llm_call_trigger(oid, name, name, text);
DROP FUNCTION IF EXISTS _pg_llm_catalog.row_values_query(oid, text[]);
