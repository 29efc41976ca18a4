-- What pgai's users query of their vectorizers, installed with the ai extension (after its functions, which
-- vectorizer_status calls) and dropped with it (ai-drop.sql). The rows are in _pg_llm_catalog (incremental/
-- 0013_vectorizers.sql); the views are the catalog owner's, so they show each role only what the tables' row
-- security would: the vectorizers of the roles it has the privileges of (security_barrier: a function in a query over
-- a view sees no row its filter hides).

CREATE OR REPLACE VIEW ai.vectorizer WITH (security_barrier) AS
  SELECT v.id, v.source_schema, v.source_table, v.source_pk, v.trigger_name, v.queue_schema, v.queue_table, v.config,
         v.disabled, v.queue_failed_table, v.name
    FROM _pg_llm_catalog.pg_llm_vectorizers v
   WHERE pg_catalog.pg_has_role(current_user, v.owner, 'USAGE') OR (SELECT _pg_llm_catalog.is_admin());
COMMENT ON VIEW ai.vectorizer IS 'The vectorizers of the tables you own (pgai''s ai.vectorizer).';

CREATE OR REPLACE VIEW ai.vectorizer_errors WITH (security_barrier) AS
  SELECT e.id, e.message, e.details, e.recorded, v.name
    FROM _pg_llm_catalog.pg_llm_vectorizer_errors e
    JOIN _pg_llm_catalog.pg_llm_vectorizers v ON v.id = e.id
   WHERE pg_catalog.pg_has_role(current_user, v.owner, 'USAGE') OR (SELECT _pg_llm_catalog.is_admin());
COMMENT ON VIEW ai.vectorizer_errors IS 'What went wrong processing your vectorizers'' queues, most recent last (pgai''s ai.vectorizer_errors).';

CREATE OR REPLACE VIEW ai.vectorizer_status AS
  SELECT v.id, v.name,
         pg_catalog.format('%I.%I', v.source_schema, v.source_table) AS source_table,
         CASE WHEN v.config -> 'destination' ->> 'implementation' = 'table'
              THEN pg_catalog.format('%I.%I', v.config -> 'destination' ->> 'target_schema', v.config -> 'destination' ->> 'target_table') END AS target_table,
         CASE WHEN v.config -> 'destination' ->> 'implementation' = 'table'
              THEN pg_catalog.format('%I.%I', v.config -> 'destination' ->> 'view_schema', v.config -> 'destination' ->> 'view_name') END AS "view",
         CASE WHEN v.config -> 'destination' ->> 'implementation' = 'column'
              THEN pg_catalog.format('%I', v.config -> 'destination' ->> 'embedding_column') ELSE 'embedding' END AS embedding_column,
         CASE WHEN pg_catalog.has_table_privilege(current_user, pg_catalog.to_regclass(pg_catalog.format('%I.%I', v.queue_schema, v.queue_table)), 'SELECT')
              THEN ai.vectorizer_queue_pending(v.id) END AS pending_items,
         v.disabled
    FROM ai.vectorizer v;
COMMENT ON VIEW ai.vectorizer_status IS 'Each of your vectorizers: its tables and the rows waiting in its queue (pgai''s ai.vectorizer_status).';

GRANT SELECT ON ai.vectorizer, ai.vectorizer_errors, ai.vectorizer_status TO PUBLIC;
